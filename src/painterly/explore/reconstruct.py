"""What a layer keeps of an image: reconstructions from white noise (Gatys et al. 2015, Fig. 1).

Content: an image is optimised from noise until one layer's responses match the photo's.
Shallow layers keep almost every pixel; deep layers keep the layout and the objects but not
the exact pixels, which is why deep layers carry "content".

Style: an image is optimised from noise until the Gram matrices of a growing set of layers
(relu1_1; relu1_1 and relu2_1; ... up to relu5_1) match the painting's. Matching more and
deeper layers reproduces the painting's texture at ever larger scales, while its layout is
lost: this is the "style representation".

Both use painterly's losses (relative errors, see ``losses.py``), L-BFGS as in the paper,
and no total-variation term unless asked for (the paper uses none).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..image_io import tensor_to_pil
from ..models.vgg import FeatureExtractor
from ..optimize import LossWeights, compute_targets, objective, optimize
from .activations import bundled_image, load_input
from .common import (ExploreCallback, ExploreResult, ImageLike, Reporter, check_layers,
                     check_positive, check_size, deepest, describe_input, network, rounded)
from .defaults import (PAPER_CONTENT_LAYERS, PAPER_STYLE_LAYERS, RECONSTRUCT_SIZE,
                       RECONSTRUCT_STEPS)
from .grid import render_grid

DEFAULT_CONTENT = "content/chelsea_cat.png"
DEFAULT_STYLE = "style/starry_night.jpg"
DEFAULT_SIZE, DEFAULT_STEPS = RECONSTRUCT_SIZE, RECONSTRUCT_STEPS
NOISE_STD = 0.02
"""Standard deviation of the start image's white noise around mid-grey. Implementations of
the paper (e.g. Johnson's neural-style) start from faint noise around the mean pixel too;
full-range noise leaves a high-frequency residue that a few hundred L-BFGS steps (and a
bf16 network) do not remove, hiding how exact shallow reconstructions are."""


def paper_name(layer: str) -> str:
    """Gatys et al.'s Caffe name for a painterly layer: ``relu4_2`` -> ``conv4_2``.

    Caffe's ReLU runs in place, so the paper's ``convB_I`` is the rectified response.
    Other names (pre-ReLU ``convB_I``, ``poolB``) have no paper name and come back as is.
    """
    return "conv" + layer[4:] if layer.startswith("relu") else layer


def layer_label(layer: str) -> str:
    """``relu4_2`` -> ``"relu4_2\\n(paper: conv4_2)"``; other names unchanged."""
    paper = paper_name(layer)
    return f"{layer}\n(paper: {paper})" if paper != layer else layer


def reconstruct_content(
    image: ImageLike | None = None,
    layers: Sequence[str] = PAPER_CONTENT_LAYERS,
    *,
    size: int = DEFAULT_SIZE,
    steps: int = DEFAULT_STEPS,
    tv_weight: float = 0.0,
    seed: int = 0,
    extractor: FeatureExtractor | None = None,
    device: str = "auto",
    precision: str = "auto",
    pooling: str = "avg",
    callback: ExploreCallback | None = None,
) -> ExploreResult:
    """The photo, then one reconstruction from white noise per layer, in a row.

    image: path, PIL image or (1,3,H,W) tensor in [0,1] (default: the bundled cat), resized
    to long edge ``size``. layers: each reconstructed on its own. steps: L-BFGS steps each.
    Per cell: layer and loss (the content loss left: relative squared error of the layer's
    responses, 0 = exact).
    """
    layers = check_layers(layers, extractor)
    _check_common(size, steps, tv_weight)
    photo = load_input(image if image is not None else bundled_image(DEFAULT_CONTENT), size)
    net, runtime = network(extractor, device, precision, pooling, deepest(layers, extractor))
    report = Reporter(callback, "content reconstruction", len(layers), steps)
    tiles, cells = [tensor_to_pil(photo)], [{"row": 0, "column": 0, "label": "input"}]
    for index, layer in enumerate(layers, start=1):
        report.stage, report.task = index, f"content {layer}"
        weights = LossWeights(content={layer: 1.0}, style={}, tv=tv_weight)
        result, loss = _reconstruct(net.truncated(layer), photo, photo, weights, runtime,
                                    photo.shape, steps, seed, report)
        tiles.append(tensor_to_pil(result))
        cells.append({"row": 0, "column": index, "label": layer, "paper_layer": paper_name(layer),
                      "loss": rounded(loss)})
    labels = ("input", *(layer_label(layer) for layer in layers))
    title = "Content reconstructions from white noise: one layer each"
    settings = {"image": describe_input(image, DEFAULT_CONTENT),
                **_settings(layers, size, steps, tv_weight, seed, pooling, runtime),
                "start": f"white noise, std {NOISE_STD} around mid-grey"}
    return _result("content", tiles, labels, title, cells, settings)


def reconstruct_style(
    image: ImageLike | None = None,
    layers: Sequence[str] = PAPER_STYLE_LAYERS,
    *,
    size: int = DEFAULT_SIZE,
    style_size: int | None = None,
    steps: int = DEFAULT_STEPS,
    tv_weight: float = 0.0,
    seed: int = 0,
    extractor: FeatureExtractor | None = None,
    device: str = "auto",
    precision: str = "auto",
    pooling: str = "avg",
    callback: ExploreCallback | None = None,
) -> ExploreResult:
    """The painting, then textures from white noise matching growing sets of ``layers``.

    image: path, PIL image or tensor (default: The Starry Night), resized to long edge
    ``size``; each texture is ``size`` x ``size``. Column k matches the Gram matrices of
    ``layers[:k]`` (equal weights). Per cell: layers and loss (style loss left).
    """
    layers = check_layers(layers, extractor)
    _check_common(size, steps, tv_weight)
    style_size = style_size or 2 * size
    check_size(style_size)
    painting = load_input(image if image is not None else bundled_image(DEFAULT_STYLE),
                          style_size)
    net, runtime = network(extractor, device, precision, pooling, deepest(layers, extractor))
    report = Reporter(callback, "style reconstruction", len(layers), steps)
    tiles, cells = [tensor_to_pil(painting)], [{"row": 0, "column": 0, "label": "input"}]
    for index in range(1, len(layers) + 1):
        chosen = layers[:index]
        report.stage, report.task = index, f"style up to {chosen[-1]}"
        weights = LossWeights(content={}, style={k: 1.0 / index for k in chosen}, tv=tv_weight)
        result, loss = _reconstruct(net.truncated(deepest(chosen, net)), painting, painting,
                                    weights, runtime, (1, 3, size, size), steps, seed, report)
        tiles.append(tensor_to_pil(result))
        cells.append({"row": 0, "column": index, "label": " + ".join(chosen),
                      "layers": list(chosen), "paper_layers": [paper_name(k) for k in chosen],
                      "loss": rounded(loss)})
    labels = ("input", *(_set_label(layers[:k]) for k in range(1, len(layers) + 1)))
    title = "Style (texture) reconstructions from white noise: growing sets of layers"
    settings = {"image": describe_input(image, DEFAULT_STYLE), "style_size": style_size,
                **_settings(layers, size, steps, tv_weight, seed, pooling, runtime),
                "start": "white noise, uniform in [0,1]"}
    return _result("style", tiles, labels, title, cells, settings)


def _set_label(layers: Sequence[str]) -> str:
    """``relu1_1`` / ``relu1_1 + relu2_1`` / ``relu1_1 ... relu3_1``, the paper's names below."""
    first, last = layers[0], layers[-1]
    if len(layers) == 1:
        return layer_label(first)
    joint = " + " if len(layers) == 2 else " ... "
    text = f"{first}{joint}{last}"
    if paper_name(first) != first and paper_name(last) != last:
        text += f"\n(paper: {paper_name(first)}{joint.strip()}{paper_name(last)[4:]})"
    return text


def _check_common(size: int, steps: int, tv_weight: float) -> None:
    check_size(size)
    check_positive(steps=steps)
    if not tv_weight >= 0:
        raise ValueError(f"tv_weight must be >= 0, got {tv_weight}")


def _reconstruct(net, content, style, weights: LossWeights, runtime, shape, steps: int,
                 seed: int, report: Reporter) -> tuple[torch.Tensor, float]:
    """L-BFGS from seeded white noise of ``shape``; returns (image (1,3,H,W), final loss)."""
    content, style = content.to(runtime.device), style.to(runtime.device)
    targets = compute_targets(net, content, [(style, 1.0)] if weights.style else [], weights,
                              runtime)
    generator = torch.Generator().manual_seed(seed)
    if weights.style:  # full-range white noise, as painterly's init="noise"
        start = torch.rand(shape, generator=generator).to(runtime.device)
    else:
        noise = torch.randn(shape, generator=generator) * NOISE_STD
        start = (0.5 + noise).clamp(0, 1).to(runtime.device)
    last: dict[str, float] = {}

    def on_step(step: int, losses: dict[str, float], _image: torch.Tensor) -> None:
        last.update(losses)
        report.step(step, losses)

    result = optimize(start, lambda x: objective(net, x, targets, weights, runtime),
                      steps=steps, optimizer="lbfgs", on_step=on_step)
    # Layer weights sum to one: the term is the (mean) relative error left.
    return result.cpu(), last["content" if weights.content else "style"]


def _settings(layers, size, steps, tv_weight, seed, pooling, runtime) -> dict:
    return {"layers": list(layers), "size": size, "steps": steps, "tv_weight": tv_weight,
            "seed": seed, "pooling": pooling, "optimizer": "lbfgs",
            "device": str(runtime.device), "dtype": str(runtime.dtype).split(".")[-1]}


def _result(kind, tiles, labels, title, cells, settings) -> ExploreResult:
    grid = render_grid(tiles, columns=len(tiles), column_labels=labels, title=title,
                       tile_size=_tile_size(tiles))
    return ExploreResult(kind, grid, tuple(tiles), title, (), tuple(labels), tuple(cells), settings)


def _tile_size(tiles) -> tuple[int, int]:
    """The reconstructions' size, so that the input tile is scaled to match them."""
    return tiles[-1].size
