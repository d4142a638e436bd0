"""Video engines: an image engine plus temporal consistency.

Each engine is called once per frame, in order, as
``engine(frame, previous_frame, previous_painted) -> painted`` with RGB uint8 arrays (H,W,3)
(``previous_*`` are None for the first frame painted), and knows nothing of files.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from .flow import flow_and_mask, warp

ImageEngine = Callable[[torch.Tensor], torch.Tensor]
"""``paint(image (B,3,H,W) float in [0,1]) -> (B,3,H,W) float in [0,1]``."""


def to_tensor(frame: np.ndarray) -> torch.Tensor:
    """RGB uint8 (H,W,3) -> float32 (1,3,H,W) in [0,1]."""
    return torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float() / 255


def to_frame(image: torch.Tensor) -> np.ndarray:
    """(1,3,H,W) float in [0,1] -> RGB uint8 (H,W,3)."""
    pixels = image.detach().float().cpu()[0].clamp(0, 1).permute(1, 2, 0)
    return (pixels * 255 + 0.5).to(torch.uint8).numpy()


class BlendingEngine:
    """A one-pass engine, each frame blended with the previous painted frame warped by the
    input's optical flow, where that flow is reliable.

    ``blend`` in [0,1): the share of the warped previous result kept at reliable pixels
    (0 paints each frame alone). The painted frame differs from the warped previous one by
    ``1 - blend`` times what painting alone gives, so flicker (the warping error, a squared
    distance) falls to about ``(1 - blend)^2`` of painting frame by frame; disoccluded pixels
    and motion boundaries take the fresh painting. A departure from Ruder et al. 2018 and
    Huang et al. 2017, who train the network with a temporal loss: blending needs no
    training, so it works with every trained style and every painting picture.
    """

    def __init__(self, paint: ImageEngine, *, blend: float = 0.6, flow: str = "dis"):
        if not 0 <= blend < 1:
            raise ValueError(f"blend must be in [0, 1), got {blend}")
        self.paint, self.blend, self.flow = paint, blend, flow

    def describe(self) -> str:
        """Where and how its painter (one of ``fast.make_painter``'s) paints, for the user."""
        return self.paint.describe()

    def __call__(self, frame: np.ndarray, previous_frame: np.ndarray | None,
                 previous_painted: np.ndarray | None) -> np.ndarray:
        painted = self.paint(to_tensor(frame)).float().cpu()
        if self.blend == 0 or previous_frame is None or previous_painted is None:
            return to_frame(painted)
        flow, mask = flow_and_mask(frame, previous_frame, self.flow)
        warped = warp(to_tensor(previous_painted), flow)
        keep = torch.from_numpy(mask)[None, None] * self.blend
        return to_frame(painted * (1 - keep) + warped * keep)


class RuderEngine:
    """The optimiser with Ruder, Dosovitskiy & Brox (2016)'s short-term consistency: each
    frame after the first starts from the previous result warped by the flow, and a temporal
    loss of weight ``temporal_weight`` (0: warped start only) pulls it towards that image
    where the flow is reliable (forward-backward consistency, :func:`reliable_mask`).

    styles: what :func:`painterly.pipeline.stylize` takes; config: its StyleConfig (its size
    is set to each frame's long edge). extractor: a feature network instead of VGG19 (tests).
    callback: the optimiser's per-step Progress reports. The long-term and multi-pass
    variants of the paper are not implemented.
    """

    def __init__(self, styles, config, *, temporal_weight: float = 50.0, flow: str = "dis",
                 extractor=None, callback=None, warm_start: bool = True):
        if not temporal_weight >= 0:
            raise ValueError(f"temporal weight must be >= 0, got {temporal_weight}")
        self.styles, self.config, self.flow = styles, config, flow
        self.temporal_weight, self.extractor, self.callback = temporal_weight, extractor, callback
        self.warm_start = warm_start

    def describe(self) -> str:
        """Where and how the optimiser runs, for the user."""
        from ..devices import resolve_runtime

        return resolve_runtime(self.config.device, self.config.precision).describe()

    def __call__(self, frame: np.ndarray, previous_frame: np.ndarray | None,
                 previous_painted: np.ndarray | None) -> np.ndarray:
        from ..image_io import pil_to_tensor
        from ..optimize import Temporal
        from ..pipeline import stylize

        config = self.config.replace(size=max(frame.shape[:2]))
        start = temporal = None
        if self.warm_start and previous_frame is not None and previous_painted is not None:
            flow, mask = flow_and_mask(frame, previous_frame, self.flow)
            start = warp(to_tensor(previous_painted), flow).clamp(0, 1)
            if self.temporal_weight > 0:
                temporal = Temporal(start, torch.from_numpy(mask)[None, None], self.temporal_weight)
        result = stylize(to_tensor(frame), self.styles, config, callback=self.callback,
                         extractor=self.extractor, start=start, temporal=temporal)
        return to_frame(pil_to_tensor(result))


@dataclass(frozen=True)
class EngineRecipe:
    """A video engine given by its options, built on its first frame where it runs (this
    process, a worker process, a Ray task) and cached there: it pickles as these few fields,
    never as a network. Call it as the engine it builds.

    kind: ``fast`` (:class:`BlendingEngine` over :func:`painterly.fast.make_painter`) or
    ``optimize`` (:class:`RuderEngine`, one scale of ``iterations`` steps per frame);
    styles: ``NAME|FOLDER|PICTURE[:WEIGHT]`` values as ``painterly video --style`` takes them.
    """

    kind: Literal["fast", "optimize"]
    styles: tuple[str, ...]
    strength: float = 1.0
    blend: float = 0.6
    temporal_weight: float = 100.0
    iterations: int = 30
    flow: str = "dis"
    device: str = "auto"
    precision: str = "auto"

    def build(self):
        """The engine; ValueError or ImageError (one line) for a style that cannot be used."""
        return _built(self)

    def __call__(self, frame: np.ndarray, previous_frame: np.ndarray | None,
                 previous_painted: np.ndarray | None) -> np.ndarray:
        return _built(self)(frame, previous_frame, previous_painted)


@functools.lru_cache(maxsize=2)
def _built(recipe: EngineRecipe):
    from ..devices import resolve_runtime

    if recipe.kind == "fast":
        from ..fast import make_painter

        runtime = resolve_runtime(recipe.device, recipe.precision)
        painter = make_painter(recipe.styles, strength=recipe.strength, runtime=runtime, video=True)
        return BlendingEngine(painter, blend=recipe.blend, flow=recipe.flow)
    from .. import image_io
    from ..config import StyleConfig
    from ..examples import input_image, parse_picture_spec

    pairs = [(input_image(path), weight) for path, weight in map(parse_picture_spec, recipe.styles)]
    for path, _ in pairs:
        image_io.check_image_file(path)
    config = StyleConfig(iterations=recipe.iterations, scales=1, device=recipe.device,
                         precision=recipe.precision)
    return RuderEngine(pairs, config, temporal_weight=recipe.temporal_weight, flow=recipe.flow)
