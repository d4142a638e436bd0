"""Every default of a style-transfer run, in one place.

The CLI builds its options from :class:`StyleConfig`'s fields (see ``cli.py``), so the
help text and the library can never disagree about a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal, get_args

from .models.layers import LAYER_NAMES, check_layer_names

Optimizer = Literal["lbfgs", "adam"]
Pooling = Literal["avg", "max"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
InitKind = Literal["content", "noise", "style", "fast"]
WeightsFormat = Literal["auto", "caffe", "torchvision"]
PreserveColor = Literal["none", "luminance", "histogram"]

# Gatys et al. name layers after Caffe blobs, where ReLU runs in place: their "conv4_2" is the
# rectified response, which painterly calls relu4_2 (conv4_2 here is the response before ReLU).
DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@dataclass(frozen=True, kw_only=True)
class StyleConfig:
    """Parameters of one stylisation (Gatys, Ecker & Bethge 2015/2016).

    Weights follow the paper's objective ``alpha * L_content + beta * L_style + tv * L_tv``;
    the ratio ``style_weight / content_weight`` is the main artistic knob.
    """

    size: int = field(default=512, metadata={"help": "long edge of the output, in pixels"})
    style_size: int | None = field(
        default=None, metadata={"help": "long edge the painting is resized to (default: --size)"})
    style_scale: float = field(
        default=1.0, metadata={"help": "painting size relative to --style-size: < 1 finer strokes, > 1 coarser"})
    preserve_color: PreserveColor = field(
        default="none", metadata={"help": "keep the photo's colours: luminance (transfer brightness only) "
                                          "or histogram (recolour the painting first)"})
    content_layers: tuple[str, ...] = field(
        default=DEFAULT_CONTENT_LAYERS, metadata={"help": "layers whose responses keep the photo's content"})
    content_layer_weights: tuple[float, ...] | None = field(
        default=None, metadata={"help": "one weight per content layer (default: equal)"})
    style_layers: tuple[str, ...] = field(
        default=DEFAULT_STYLE_LAYERS, metadata={"help": "layers whose Gram matrices carry the style"})
    style_layer_weights: tuple[float, ...] | None = field(
        default=None, metadata={"help": "one weight per style layer (default: equal)"})
    content_weight: float = field(default=1.0, metadata={"help": "alpha: weight of the content loss"})
    style_weight: float = field(default=10.0, metadata={"help": "beta: weight of the style loss"})
    tv_weight: float = field(default=2.0, metadata={"help": "weight of the total-variation smoothness loss"})
    init: str = field(
        default="content", metadata={"help": "start image: content, noise, style, fast (the fast style trained on "
                                        "the painting, see `painterly styles`), or a file path"})
    optimizer: Optimizer = field(default="lbfgs", metadata={"help": "lbfgs (the paper's) or adam"})
    iterations: int = field(
        default=100, metadata={"help": "optimiser steps at the output size (coarser sizes get more)"})
    learning_rate: float = field(default=0.02, metadata={"help": "Adam step size (ignored by L-BFGS)"})
    scales: int = field(
        default=3, metadata={"help": "number of sizes, coarse to fine, ending at --size (1 = single scale)"})
    iterations_per_scale: tuple[int, ...] | None = field(
        default=None, metadata={"help": "steps at each scale, coarse to fine (default: derived from --iterations)"})
    pooling: Pooling = field(default="avg", metadata={"help": "VGG pooling; the paper used average pooling"})
    seed: int = field(default=0, metadata={"help": "random seed (noise init); same seed, same output on CPU"})
    precision: Precision = field(default="auto", metadata={"help": "network precision (auto: bf16 where the hardware has it); losses stay fp32"})
    device: str = field(default="auto", metadata={"help": "auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, mps"})
    compile: bool = field(
        default=False, metadata={"help": "torch.compile the objective: faster steps after 10-20 s of "
                                         "compiling per image size; pays off for long runs at one size"})
    weights: str | None = field(
        default=None, metadata={"help": "VGG19 weights file (default: the bundled original VGG19)"})
    weights_format: WeightsFormat = field(
        default="auto", metadata={"help": "input convention of a .pth weights file that cannot be identified"})
    tile_size: int | None = field(
        default=None, metadata={"help": "optimise scales larger than this in overlapping tiles of this "
                                        "many pixels (default: only if the image would not fit in memory; 0: never)"})
    tile_overlap: int = field(default=64, metadata={"help": "overlap of neighbouring tiles, in pixels"})
    max_memory: float | None = field(
        default=None, metadata={"help": "memory budget in GiB (default: what is available now); "
                                        "a run that will not fit is refused before it starts"})

    def __post_init__(self) -> None:
        _check_positive(self, "size", "iterations", "scales")
        if self.style_size is not None:
            _check_positive(self, "style_size")
        if self.size < 16:
            raise ValueError(f"size must be at least 16 pixels, got {self.size}")
        for name in ("content_weight", "style_weight", "tv_weight", "learning_rate"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.content_layers and not self.style_layers:
            raise ValueError("at least one content or style layer is needed")
        check_layer_names(self.content_layers + self.style_layers)
        _check_layer_weights(self.content_layers, self.content_layer_weights, "content")
        _check_layer_weights(self.style_layers, self.style_layer_weights, "style")
        _check_choice(self, "optimizer", Optimizer)
        _check_choice(self, "pooling", Pooling)
        _check_choice(self, "precision", Precision)
        _check_choice(self, "weights_format", WeightsFormat)
        if self.iterations_per_scale is not None:
            if len(self.iterations_per_scale) != self.scales:
                raise ValueError(
                    f"iterations_per_scale has {len(self.iterations_per_scale)} entries "
                    f"but scales is {self.scales}")
            if any(n < 0 for n in self.iterations_per_scale):
                raise ValueError("iterations_per_scale entries must be >= 0")
        _check_control(self)

    def replace(self, **changes) -> StyleConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain JSON-able dict of every field."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


def _check_positive(config: StyleConfig, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_choice(config: StyleConfig, name: str, literal) -> None:
    allowed = get_args(literal)
    if getattr(config, name) not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {getattr(config, name)!r}")


def _check_control(config: StyleConfig) -> None:
    """Colour preservation, style scale, tiling and the memory budget."""
    _check_choice(config, "preserve_color", PreserveColor)
    if not (isinstance(config.style_scale, (int, float)) and 0 < config.style_scale <= 16):
        raise ValueError(f"style_scale must be > 0 and <= 16, got {config.style_scale!r}")
    if not isinstance(config.tile_overlap, int) or config.tile_overlap < 0:
        raise ValueError(f"tile_overlap must be an integer >= 0, got {config.tile_overlap!r}")
    tile = config.tile_size
    if tile is not None and tile != 0 and (
            not isinstance(tile, int) or tile < 32 or tile <= 2 * config.tile_overlap):
        raise ValueError(f"tile_size must be 0 (never tile) or at least 32 and more than twice "
                         f"tile_overlap ({config.tile_overlap}), got {tile!r}")
    if config.max_memory is not None and not config.max_memory > 0:
        raise ValueError(f"max_memory must be > 0 GiB, got {config.max_memory!r}")


def _check_layer_weights(layers, weights, kind: str) -> None:
    if weights is None:
        return
    if len(weights) != len(layers):
        raise ValueError(f"{kind}_layer_weights has {len(weights)} values for {len(layers)} {kind} layers")
    if any(w < 0 for w in weights):
        raise ValueError(f"{kind}_layer_weights must be >= 0")


__all__ = ["StyleConfig", "DEFAULT_STYLE_LAYERS", "LAYER_NAMES"]
