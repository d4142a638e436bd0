"""Every default of a style-transfer run, in one place.

The CLI builds its options from :class:`StyleConfig`'s fields (see ``cli.py``), so the
help text and the library can never disagree about a default.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Literal, get_args

from .models.layers import LAYER_NAMES

Optimizer = Literal["lbfgs", "adam"]
Pooling = Literal["avg", "max"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
InitKind = Literal["content", "noise", "style", "fast"]
WeightsFormat = Literal["auto", "caffe", "torchvision"]
PreserveColor = Literal["none", "luminance", "histogram"]
StyleLoss = Literal["gram", "meancov", "sliced"]
Padding = Literal["zeros", "reflect", "replicate"]

# Gatys et al. name layers after Caffe blobs, where ReLU runs in place: their "conv4_2" is the
# rectified response, which painterly calls relu4_2 (conv4_2 here is the response before ReLU).
DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

# Upper bounds, so that a typo (an extra zero or three) is refused at once instead of planning
# billions of pixels, tiles or steps before anything runs.
MIN_SIZE = 16
"""Smallest long edge: VGG19 halves the image four times before relu5_1."""
MAX_SIZE = 16384
"""Largest long edge of the output and the paintings: 16384 x 10923 px is 2 GiB per float32
image copy and a tiled run keeps about 16 of them (see tiling.optimize_tiled), well past print
sizes (1.4 m at 300 dpi)."""
MAX_SCALES = 16
"""Coarse sizes halve down to multiscale.MIN_LONG_EDGE: from MAX_SIZE that is 8 sizes, and
more scales are dropped; 16 leaves room without letting a schedule grow without bound."""
MAX_ITERATIONS = 100_000
"""Steps at one scale: about a day at 512 px on a CPU, and far past the few hundred steps after
which L-BFGS stops changing the picture."""
MAX_SEED = 2**63 - 1
"""torch.Generator.manual_seed takes a signed 64-bit seed."""
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:[0-9]{1,3})?")


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
    style_loss: StyleLoss = field(
        default="gram", metadata={"help": "how the painting's statistics are matched: gram (Gatys et al.), "
                                          "meancov (mean and covariance, Wasserstein-2) or sliced "
                                          "(sliced Wasserstein, Heitz et al. 2021; slower)"})
    content_weight: float = field(default=1.0, metadata={"help": "alpha: weight of the content loss"})
    style_weight: float = field(default=10.0, metadata={"help": "beta: weight of the style loss"})
    tv_weight: float = field(default=2.0, metadata={"help": "weight of the total-variation smoothness loss"})
    init: str = field(
        default="content", metadata={"help": "start image: content, noise, style, fast (the painting's fast style "
                                        "if one was trained, else universal style transfer), or a file path"})
    optimizer: Optimizer = field(default="lbfgs", metadata={"help": "lbfgs (the paper's) or adam"})
    iterations: int = field(
        default=40, metadata={"help": "optimiser steps at the output size (coarser sizes get more)"})
    learning_rate: float = field(default=0.02, metadata={"help": "Adam step size (ignored by L-BFGS)"})
    scales: int = field(
        default=3, metadata={"help": "number of sizes, coarse to fine, ending at --size (1 = single scale)"})
    iterations_per_scale: tuple[int, ...] | None = field(
        default=None, metadata={"help": "steps at each scale, coarse to fine (default: derived from --iterations)"})
    pooling: Pooling = field(default="avg", metadata={"help": "VGG pooling; the paper used average pooling"})
    padding: Padding = field(
        default="zeros", metadata={"help": "VGG19's convolution padding: zeros (as trained), reflect or "
                                          "replicate (no dark frame at the borders)"})
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
        check_int(self, "size", MIN_SIZE, MAX_SIZE)
        check_int(self, "style_size", MIN_SIZE, MAX_SIZE, optional=True)
        check_int(self, "iterations", 1, MAX_ITERATIONS)
        check_int(self, "scales", 1, MAX_SCALES)
        check_int(self, "seed", 0, MAX_SEED)
        for name in ("content_weight", "style_weight", "tv_weight", "learning_rate"):
            check_number(self, name)
        check_layers(self, "content_layers", allow_empty=True)
        check_layers(self, "style_layers", allow_empty=False)
        _check_layer_weights(self, "content")
        _check_layer_weights(self, "style")
        _check_objective(self)
        check_choice(self, "optimizer", Optimizer)
        check_choice(self, "pooling", Pooling)
        check_choice(self, "padding", Padding)
        check_choice(self, "style_loss", StyleLoss)
        check_choice(self, "precision", Precision)
        check_choice(self, "weights_format", WeightsFormat)
        _check_steps(self)
        _check_control(self)
        _check_run_settings(self)

    def replace(self, **changes) -> StyleConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain JSON-able dict of every field."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


# The checks below take any settings dataclass (TrainConfig uses them too) and a field name.

def _fail(name: str, allowed: str, value, error: type[Exception] = ValueError):
    """The one message shape: which setting, what is allowed, what was given."""
    raise error(f"{name} must be {allowed}, got {value!r}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_int(config: StyleConfig, name: str, low: int, high: int, *, optional: bool = False) -> None:
    value = getattr(config, name)
    if optional and value is None:
        return
    allowed = f"an integer from {low} to {high}" + (" (or None)" if optional else "")
    if not _is_int(value):
        _fail(name, allowed, value, TypeError)
    if not low <= value <= high:
        _fail(name, allowed, value)


def check_number(config: StyleConfig, name: str) -> None:
    """A finite number >= 0 (NaN and inf would silently drop or swamp a loss term)."""
    value = getattr(config, name)
    if not _is_number(value):
        _fail(name, "a finite number >= 0", value, TypeError)
    if not (math.isfinite(value) and value >= 0):
        _fail(name, "a finite number >= 0", value)


def check_choice(config: StyleConfig, name: str, literal) -> None:
    allowed = get_args(literal)
    value = getattr(config, name)
    if not isinstance(value, str) or value not in allowed:
        _fail(name, f"one of {', '.join(allowed)}", value)


def _as_tuple(config: StyleConfig, name: str, what: str) -> tuple:
    """The field as a tuple (a list is accepted and stored as a tuple); TypeError otherwise."""
    value = getattr(config, name)
    if isinstance(value, list):
        value = tuple(value)
        object.__setattr__(config, name, value)  # frozen: normalised once, here
    if not isinstance(value, tuple):
        _fail(name, f"a tuple of {what}", value, TypeError)
    return value


def check_layers(config: StyleConfig, name: str, *, allow_empty: bool) -> None:
    layers = _as_tuple(config, name, "layer names")
    if not layers and not allow_empty:
        raise ValueError(f"{name} must name at least one layer, e.g. {', '.join(DEFAULT_STYLE_LAYERS)}")
    for layer in layers:
        if not isinstance(layer, str):
            _fail(name, "a tuple of layer names", layers, TypeError)
        if layer not in LAYER_NAMES:
            raise ValueError(f"{name}: unknown layer {layer!r}; valid layers: {', '.join(LAYER_NAMES)}")
        if layers.count(layer) > 1:
            raise ValueError(f"{name} names {layer!r} more than once")


def _check_layer_weights(config: StyleConfig, kind: str) -> None:
    name, layers = f"{kind}_layer_weights", getattr(config, f"{kind}_layers")
    if getattr(config, name) is None:
        return
    weights = _as_tuple(config, name, "numbers")
    if len(weights) != len(layers):
        raise ValueError(f"{name} has {len(weights)} values for {len(layers)} {kind} layers")
    if not all(_is_number(w) for w in weights):
        _fail(name, "a tuple of finite numbers >= 0", weights, TypeError)
    if not all(math.isfinite(w) and w >= 0 for w in weights) or not math.isfinite(sum(weights)):
        _fail(name, "finite numbers >= 0 with a finite sum", weights)


def _active(weight: float, layers: tuple, layer_weights: tuple | None) -> bool:
    return weight > 0 and bool(layers) and (layer_weights is None or any(w > 0 for w in layer_weights))


def _check_objective(config: StyleConfig) -> None:
    """At least one loss term must count, or there is nothing to optimise."""
    if not (_active(config.content_weight, config.content_layers, config.content_layer_weights)
            or _active(config.style_weight, config.style_layers, config.style_layer_weights)
            or config.tv_weight > 0):
        raise ValueError("content_weight, style_weight and tv_weight (with their layers' weights) "
                         "are all 0: nothing to optimise; give one of them a positive weight")


def _check_steps(config: StyleConfig) -> None:
    steps = config.iterations_per_scale
    if steps is None:
        return
    steps = _as_tuple(config, "iterations_per_scale", "integers")
    if len(steps) != config.scales:
        raise ValueError(f"iterations_per_scale has {len(steps)} entries but scales is {config.scales}")
    if not all(_is_int(n) for n in steps):
        _fail("iterations_per_scale", "a tuple of integers", steps, TypeError)
    # All zeros is allowed: the run returns its start image (e.g. what --init fast starts from).
    if not all(0 <= n <= MAX_ITERATIONS for n in steps):
        _fail("iterations_per_scale", f"integers from 0 to {MAX_ITERATIONS}", steps)


def _check_control(config: StyleConfig) -> None:
    """Colour preservation, style scale, tiling and the memory budget."""
    check_choice(config, "preserve_color", PreserveColor)
    scale = config.style_scale
    if not _is_number(scale):
        _fail("style_scale", "a number > 0 and <= 16", scale, TypeError)
    if not 0 < scale <= 16:
        _fail("style_scale", "a number > 0 and <= 16", scale)
    painting = round(scale * (config.style_size or config.size))
    if painting > MAX_SIZE:
        raise ValueError(f"style_scale times style_size (or size) must be at most {MAX_SIZE} px, "
                         f"got {scale!r} x {config.style_size or config.size} = {painting}")
    check_int(config, "tile_overlap", 0, MAX_SIZE)
    tile = config.tile_size
    if tile is not None and not _is_int(tile):
        _fail("tile_size", "an integer (or None)", tile, TypeError)
    if tile is not None and tile != 0 and not (32 <= tile <= MAX_SIZE and tile > 2 * config.tile_overlap):
        raise ValueError(f"tile_size must be 0 (never tile) or from 32 to {MAX_SIZE} and more than "
                         f"twice tile_overlap ({config.tile_overlap}), got {tile!r}")
    memory = config.max_memory
    if memory is not None and not _is_number(memory):
        _fail("max_memory", "a number of GiB > 0 (or None)", memory, TypeError)
    if memory is not None and not (math.isfinite(memory) and memory > 0):
        _fail("max_memory", "a finite number of GiB > 0", memory)


def check_device(config) -> None:
    """``config.device`` is auto, cpu, cuda, cuda:N or mps (whether it is there is checked
    when the run resolves it, ``devices.resolve_device``)."""
    if not isinstance(config.device, str) or not _DEVICE.fullmatch(config.device):
        _fail("device", "auto, cpu, cuda, cuda:N or mps", config.device)


def _check_run_settings(config: StyleConfig) -> None:
    """Device, init, weights file and compile: strings and flags of the right form."""
    check_device(config)
    if not isinstance(config.compile, bool):
        _fail("compile", "True or False", config.compile, TypeError)
    for name in ("init", "weights"):
        value = getattr(config, name)
        if value is None and name == "weights":
            continue
        if not isinstance(value, str):
            _fail(name, "a string", value, TypeError)
        if not value or "\0" in value:
            allowed = ("content, noise, style, fast or an image file" if name == "init"
                       else "a weights file (or None)")
            _fail(name, allowed, value)


__all__ = ["StyleConfig", "DEFAULT_STYLE_LAYERS", "LAYER_NAMES", "MAX_SIZE", "MAX_ITERATIONS"]
