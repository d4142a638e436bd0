"""Content against style: a grid of stylisations (Gatys et al. 2015, Fig. 3).

Rows match the style of growing sets of layers (up to relu1_1, relu2_1, ... relu5_1);
columns weight style against content from "mostly texture" to "mostly photo". Each cell
is one :func:`painterly.stylize` run from white noise at one scale.

How the columns map to the paper's ratios. Gatys et al. weight raw squared errors
(``alpha * L_content + beta * L_style``) and quote ``alpha/beta`` from 1e-5 (texture) to
1e-2 (photo). painterly divides every layer's loss by its target's mean square (see
``losses.py``), so the same numbers mean something else here and the paper's ratios do
not transfer. What does transfer is the structure: each column changes the ratio tenfold,
as in the paper, and the columns are anchored so that painterly's default (content weight
1, style weight 10, tuned to look like the paper's typical results) sits at the paper's
typical ``alpha/beta = 1e-3``. Columns are labelled with painterly's ``style_weight`` and
the paper's alpha/beta they stand for in spirit ("paper ratio ~1e-3"), not an exact
equivalent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..config import StyleConfig
from ..models.vgg import FeatureExtractor
from ..optimize import Clock
from ..pipeline import load_vgg19, stylize
from .activations import bundled_image, load_input
from .common import (ExploreCallback, ExploreProgress, ExploreResult, check_layers,
                     check_positive, check_size, describe_input, rounded)
from .defaults import PAPER_STYLE_LAYERS, TRADEOFF_STYLE_WEIGHTS
from .grid import render_grid
from .reconstruct import paper_name

DEFAULT_CONTENT = "content/chelsea_cat.png"
DEFAULT_STYLE = "style/composition_vii.jpg"
DEFAULT_STYLE_WEIGHTS = TRADEOFF_STYLE_WEIGHTS
PAINTERLY_DEFAULT_STYLE_WEIGHT, PAPER_TYPICAL_RATIO = 10.0, 1e-3
TV_WEIGHT = StyleConfig().tv_weight  # painterly's default smoothness term, as users get it


def paper_ratio(style_weight: float, content_weight: float = 1.0) -> float:
    """The paper's alpha/beta that a painterly weighting stands for (see the module docstring)."""
    painterly_ratio = content_weight / style_weight
    return PAPER_TYPICAL_RATIO * painterly_ratio * PAINTERLY_DEFAULT_STYLE_WEIGHT


def power_of_ten(value: float) -> str:
    """``0.001`` -> ``"1e-3"``; values that are not powers of ten keep two digits."""
    exponent = math.log10(value)
    return f"1e{round(exponent)}" if abs(exponent - round(exponent)) < 1e-9 else f"{value:.2g}"


def tradeoff_grid(
    content=None,
    style=None,
    *,
    style_weights: Sequence[float] = DEFAULT_STYLE_WEIGHTS,
    style_layers: Sequence[str] = PAPER_STYLE_LAYERS,
    content_layer: str = "relu4_2",
    size: int = 128,
    style_size: int | None = None,
    steps: int = 100,
    seed: int = 0,
    extractor: FeatureExtractor | None = None,
    device: str = "auto",
    precision: str = "auto",
    pooling: str = "avg",
    callback: ExploreCallback | None = None,
) -> ExploreResult:
    """Stylisations from white noise: row r matches ``style_layers[:r+1]``, column c uses
    ``style_weights[c]`` (content weight 1).

    content, style: paths, PIL images or tensors (defaults: the bundled cat and Kandinsky's
    Composition VII, as in the paper's Fig. 3). size: long edge of each cell; the painting
    is analysed at ``style_size`` (default ``2 * size``, so that deep layers see local
    pieces of it). steps: L-BFGS steps per cell. Per cell: style_layers, style_weight,
    paper_ratio, the last step's weighted terms (content, style = style_weight x mean
    relative Gram error, tv, total) and style_error (that relative error alone).
    """
    style_layers = check_layers(style_layers, extractor)
    check_layers([content_layer], extractor)
    check_size(size)
    check_positive(steps=steps)
    if not style_weights or any(not (w > 0 and math.isfinite(w)) for w in style_weights):
        raise ValueError(f"style weights must be finite numbers > 0, got {list(style_weights)}")
    photo = load_input(content if content is not None else bundled_image(DEFAULT_CONTENT), size)
    painting = load_input(style if style is not None else bundled_image(DEFAULT_STYLE),
                          style_size or 2 * size)
    style_size = style_size or 2 * size
    check_size(style_size)
    # stylize() copies the network onto the run's device and dtype for each cell.
    net = extractor if extractor is not None else load_vgg19(None, "auto", pooling)
    base = StyleConfig(size=size, style_size=style_size, content_layers=(content_layer,),
                       tv_weight=TV_WEIGHT, init="noise", iterations=steps, scales=1, seed=seed,
                       device=device, precision=precision, pooling=pooling)
    clock, tiles, cells = Clock(), [], []
    for row in range(len(style_layers)):
        for col, weight in enumerate(style_weights):
            config = base.replace(style_layers=tuple(style_layers[:row + 1]), style_weight=weight)
            stage = (row * len(style_weights) + col + 1, len(style_layers) * len(style_weights))
            image, cell = _cell(net, photo, painting, config, stage, clock, callback)
            tiles.append(image)
            cells.append({"row": row, "column": col, **cell})
    settings = dict(content=describe_input(content, DEFAULT_CONTENT),
                    style=describe_input(style, DEFAULT_STYLE), size=size, style_size=style_size,
                    steps=steps, seed=seed, pooling=pooling, content_weight=1.0,
                    init="noise", tv_weight=TV_WEIGHT)
    return _result(tiles, cells, style_layers, style_weights, content_layer, settings)


def _cell(net, photo, painting, config: StyleConfig, stage: tuple[int, int], clock,
          callback: ExploreCallback | None):
    """One stylisation; returns (PIL image, the cell's numbers)."""
    last, weight = config.style_layers[-1], config.style_weight
    losses: dict[str, float] = {}
    report = _Relay(callback, f"tradeoff up to {last}, style weight {weight:g}", *stage,
                    losses, clock)
    image = stylize(photo, painting, config, callback=report, extractor=net)
    cell = {"label": f"{last} / {weight:g}", "style_layers": list(config.style_layers),
            "style_weight": weight, "paper_ratio": paper_ratio(weight),
            **{k: rounded(v) for k, v in losses.items()},
            "style_error": rounded(losses["style"] / weight)}
    return image, cell


def _result(tiles, cells, style_layers, style_weights, content_layer, settings):
    rows = tuple(f"up to {layer}\n(paper: {paper_name(layer)})" for layer in style_layers)
    columns = tuple(f"style weight {w:g}\n(paper ratio ~{power_of_ten(paper_ratio(w))})"
                    for w in style_weights)
    title = (f"Content ({content_layer}) against style: "
             "rows add style layers, columns weight style less")
    grid = render_grid(tiles, columns=len(style_weights), row_labels=rows, column_labels=columns,
                       title=title)
    settings = {**settings, "style_layers": list(style_layers),
                "style_weights": list(style_weights), "content_layer": content_layer}
    return ExploreResult("tradeoff", grid, tuple(tiles), title, rows, columns, tuple(cells),
                         settings)


class _Relay:
    """stylize's Progress -> ExploreProgress for one cell; keeps the cell's latest losses."""

    def __init__(self, callback, task: str, stage: int, stages: int, losses: dict, clock):
        self.callback, self.task, self.stage, self.stages = callback, task, stage, stages
        self.losses, self.clock = losses, clock

    def __call__(self, progress) -> None:
        self.losses.clear()
        self.losses.update(progress.losses)
        if self.callback is not None:
            self.callback(ExploreProgress(self.task, self.stage, self.stages, progress.step,
                                          progress.steps, dict(progress.losses),
                                          self.clock()))
