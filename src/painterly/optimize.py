"""Optimising an image at one scale: targets, the objective, and the L-BFGS / Adam loop."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import torch
from PIL import Image

from . import losses
from .devices import Runtime
from .models.vgg import FeatureExtractor
from .models.winograd import use_winograd

Frozen = TypeVar("Frozen", bound=torch.nn.Module)


@dataclass(frozen=True)
class LossWeights:
    """Weight of every term: per-layer content and style weights already include alpha and beta.

    style_loss: the distance the style weights weigh (``losses.STYLE_LOSSES``).
    """

    content: Mapping[str, float]
    style: Mapping[str, float]
    tv: float
    style_loss: str = "gram"

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.content, *self.style]))


@dataclass(frozen=True)
class Targets:
    """What the image should match at one scale.

    content: {layer: (1,C,h,w)} responses to the photo.
    style: {layer: statistic} of the painting(s), blended by weight: (1,C,C) Gram matrices,
    or ``losses.MeanCov`` / ``losses.Samples`` for the other style losses.
    """

    content: Mapping[str, torch.Tensor]
    style: Mapping[str, losses.StyleStatistic]


@dataclass(frozen=True)
class Temporal:
    """Ruder et al. (2016)'s short-term temporal term for one video frame.

    target: (1,3,H,W) in [0,1], the previous frame's result warped onto this frame.
    mask: (1,1,H,W) in [0,1], 0 where the flow is unreliable (occlusions, motion boundaries).
    weight: the term's weight against content (1) and style.
    """

    target: torch.Tensor
    mask: torch.Tensor
    weight: float

    def resized(self, size: tuple[int, int]) -> Temporal:
        """The term at another (H, W): bilinear target and mask (a soft mask at coarse sizes)."""
        if tuple(self.target.shape[-2:]) == tuple(size):
            return self
        resize = lambda x: torch.nn.functional.interpolate(  # noqa: E731
            x, size=tuple(size), mode="bilinear", align_corners=False)
        return Temporal(resize(self.target), resize(self.mask), self.weight)

    def crop(self, box: tuple[int, int, int, int]) -> Temporal:
        """The part under a tile's box (top, left, bottom, right)."""
        top, left, bottom, right = box
        return Temporal(self.target[..., top:bottom, left:right],
                        self.mask[..., top:bottom, left:right], self.weight)


def with_temporal(loss_fn: Callable[[torch.Tensor], dict[str, torch.Tensor]],
                  temporal: Temporal | None) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
    """``loss_fn`` plus a weighted "temporal" term (``losses.temporal_loss``) in its total;
    ``loss_fn`` itself when ``temporal`` is None."""
    if temporal is None:
        return loss_fn

    def total(image: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = loss_fn(image)
        term = losses.temporal_loss(image, temporal.target.to(image.device),
                                    temporal.mask.to(image.device)) * temporal.weight
        return {**terms, "temporal": term, "total": terms["total"] + term}
    return total


@dataclass(frozen=True)
class Progress:
    """One optimiser step, as reported to a callback.

    scale/scales: 1-based index of the current size and how many there are.
    step/steps: 1-based step within this scale and the number of steps at this scale.
    losses: weighted terms (content, style, tv, total) as floats.
    elapsed: seconds since the run started. size: (width, height) of this scale.
    """

    scale: int
    scales: int
    step: int
    steps: int
    losses: dict[str, float]
    elapsed: float
    size: tuple[int, int]
    _image: torch.Tensor = field(repr=False)

    def preview(self) -> Image.Image:
        """The current image as an 8-bit RGB PIL image (a copy; cheap enough for every step)."""
        from .image_io import tensor_to_pil

        return tensor_to_pil(self._image)


Callback = Callable[[Progress], None]


def run_network(extractor: FeatureExtractor, image: torch.Tensor, layers, runtime: Runtime):
    """Responses of ``layers`` to image (B,3,H,W) in [0,1], in the runtime's precision.

    The extractor must already be in ``runtime.dtype`` and memory format (see
    ``prepare_extractor``); gradients flow back through the cast to the float32 image.
    """
    image = image.to(dtype=runtime.dtype, memory_format=runtime.memory_format)
    return extractor(image, layers)


def prepare_extractor(net: Frozen, runtime: Runtime) -> Frozen:
    """The extractor (or any frozen network: the universal decoders) on the runtime's device,
    in its dtype and memory format, its convolutions Winograd's where the runtime says so
    (changes ``net``: pass a copy)."""
    net = net.to(device=runtime.device, dtype=runtime.dtype, memory_format=runtime.memory_format)
    return use_winograd(net) if runtime.winograd else net


@torch.no_grad()
def compute_targets(
    extractor: FeatureExtractor,
    content: torch.Tensor,
    styles: Sequence[tuple[torch.Tensor, float]],
    weights: LossWeights,
    runtime: Runtime,
) -> Targets:
    """Responses to the photo and the paintings' blended style statistics (Gram matrices, or
    those of ``weights.style_loss``).

    content: (1,3,H,W) in [0,1]; styles: [((1,3,h,w) in [0,1], weight), ...], weights > 0.
    """
    content_feats = run_network(extractor, content, weights.content, runtime)
    per_layer: dict[str, list] = {}
    for image, _ in styles:
        feats = run_network(extractor, image, weights.style, runtime)
        for name, f in feats.items():
            per_layer.setdefault(name, []).append(losses.style_statistics(f, weights.style_loss))
    blended = {name: losses.blend_statistics(stats, [w for _, w in styles])
               for name, stats in per_layer.items()}
    return Targets({k: v.float() for k, v in content_feats.items()}, blended)


def projection_draws(seed: int) -> Callable[[Mapping[str, object]], dict[str, torch.Tensor]]:
    """A source of fresh random directions for the sliced style loss, one draw per step.

    The returned function maps {layer: statistic} to {layer: (C,C) directions} for the layers
    whose statistic is ``losses.Samples`` (empty for the other losses), drawing from one
    ``torch.Generator`` seeded with ``seed``: the same seed gives the same sequence.
    """
    generator = torch.Generator().manual_seed(seed)

    def draw(statistics: Mapping[str, object]) -> dict[str, torch.Tensor]:
        return {name: losses.random_projections(s.features.shape[-1], generator).to(s.features.device)
                for name, s in statistics.items() if isinstance(s, losses.Samples)}
    return draw


def objective(
    extractor: FeatureExtractor,
    image: torch.Tensor,
    targets: Targets,
    weights: LossWeights,
    runtime: Runtime,
    *,
    style_loss: Callable[[torch.Tensor, str], torch.Tensor] | None = None,
    projections: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Weighted loss terms for image (1,3,H,W): {"content", "style", "tv", "total"} scalars.

    style_loss(features, layer) replaces the plain style distance against
    ``targets.style[layer]`` (masks.py passes guided losses). projections: {layer: (C,K)}
    directions for sliced targets, fresh every step (see :func:`projection_draws`).
    """
    if style_loss is None:
        style_loss = lambda f, layer: losses.style_distance(  # noqa: E731
            f, targets.style[layer], projections=(projections or {}).get(layer))
    feats = run_network(extractor, image, weights.layers, runtime)
    zero = image.new_zeros(())
    content = zero
    if weights.content:
        content = losses.weighted_sum(
            {k: losses.content_loss(feats[k], targets.content[k]) for k in weights.content},
            weights.content)
    style = zero
    if weights.style:
        style = losses.weighted_sum({k: style_loss(feats[k], k) for k in weights.style},
                                    weights.style)
    tv = losses.total_variation(image) * weights.tv if weights.tv else zero
    return {"content": content, "style": style, "tv": tv, "total": content + style + tv}


def optimize(
    image: torch.Tensor,
    loss_fn: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    *,
    steps: int,
    optimizer: str = "lbfgs",
    learning_rate: float = 0.02,
    on_step: Callable[[int, dict[str, float], torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Minimise ``loss_fn(image)["total"]`` over the pixels for ``steps`` steps.

    image: (1,3,H,W) float32 start (not modified). Returns the final image clamped to [0,1].
    on_step(step, losses, image) runs after each step; it may raise to stop the run, and
    ``image`` is the live tensor (read it, do not keep it).
    """
    # L-BFGS flattens gradients with view(), which needs a contiguous tensor.
    pixels = image.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    opt = _make_optimizer(pixels, optimizer, learning_rate)
    last: dict[str, float] = {}

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        terms = loss_fn(pixels)
        terms["total"].backward()
        last.update({k: v.item() for k, v in terms.items()})
        return terms["total"]

    for step in range(1, steps + 1):
        opt.step(closure)
        if not math.isfinite(last["total"]):
            raise FloatingPointError(
                "the loss became NaN or infinite; lower the weights or try --precision fp32")
        if on_step is not None:
            on_step(step, dict(last), pixels.detach())
    return pixels.detach().clamp(0, 1)


def _make_optimizer(pixels: torch.Tensor, name: str, learning_rate: float) -> torch.optim.Optimizer:
    if name == "lbfgs":
        # One L-BFGS iteration per step() so progress is reported every step; the curvature
        # history persists across calls. Tolerances < 0: run every step the user asked for.
        return torch.optim.LBFGS(
            [pixels], lr=1.0, max_iter=1, history_size=50,
            tolerance_grad=-1.0, tolerance_change=-1.0)
    if name == "adam":
        return torch.optim.Adam([pixels], lr=learning_rate)
    raise ValueError(f"optimizer must be lbfgs or adam, got {name!r}")


class Clock:
    """Seconds since construction (monotonic)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start
