"""What every explore function shares: the network, progress reports, results, argument checks.

Layer names are painterly's (see ``models/layers.py``): ``convB_I`` is a convolution's output
before its ReLU, ``reluB_I`` after it. Gatys et al. name layers after Caffe blobs, where the
ReLU runs in place, so the paper's "conv4_2" is painterly's ``relu4_2``; the defaults below
that reproduce the paper's figures therefore use ``relu`` names.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..devices import Runtime, resolve_runtime
from ..models.layers import LAYER_NAMES
from ..models.vgg import FeatureExtractor
from ..optimize import Clock, prepare_extractor
from ..pipeline import ImageInput, load_vgg19

# The first conv of each block: the layers Zeiler & Fergus and Gatys et al. compare.
BLOCK_CONVS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
MAX_CHANNELS = 4096  # more than any VGG19 layer has; guards against a typo like 0-1000000


@dataclass(frozen=True)
class ExploreProgress:
    """One optimiser step of an explore run, as reported to a callback.

    task: what runs, e.g. ``"neurons conv3_1"``. stage/stages: 1-based index of the current
    cell (or group of cells optimised together) and their number. step/steps: 1-based step
    within the stage and the stage's step count. losses: named floats for this step.
    elapsed: seconds since the run started.
    """

    task: str
    stage: int
    stages: int
    step: int
    steps: int
    losses: dict[str, float]
    elapsed: float


ExploreCallback = Callable[[ExploreProgress], None]
ImageLike = ImageInput
"""A path, PIL image or (1,3,H,W) / (3,H,W) float tensor in [0,1]."""


@dataclass(frozen=True)
class ExploreResult:
    """A labelled grid image and the numbers behind it.

    image: the whole figure (RGB), labels drawn in. tiles: the grid's cells, row by row,
    unlabelled (for re-laying out). title, row_labels, column_labels: the labels drawn.
    cells: one dict of numbers per tile (row, column, label, losses, statistics...).
    settings: what the run used (layers, size, steps, seed...). Everything but the images
    is JSON-able: see :meth:`to_json`.
    """

    kind: str
    image: Image.Image = field(repr=False)
    tiles: tuple[Image.Image, ...] = field(repr=False)
    title: str
    row_labels: tuple[str, ...]
    column_labels: tuple[str, ...]
    cells: tuple[dict[str, Any], ...]
    settings: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """Plain dict: kind, title, labels, cells and settings (no images)."""
        return {"kind": self.kind, "title": self.title, "row_labels": list(self.row_labels),
                "column_labels": list(self.column_labels), "cells": list(self.cells),
                "settings": dict(self.settings), "size": list(self.image.size)}


def network(extractor: FeatureExtractor | None, device: str, precision: str, pooling: str,
            last_layer: str) -> tuple[FeatureExtractor, Runtime]:
    """The extractor, truncated after ``last_layer``, and the runtime it runs in.

    extractor None: painterly's VGG19 (bundled weights) with ``pooling`` ("max" or "avg").
    The truncated network is copied onto the runtime's device and dtype, so a cached
    network is never changed.
    """
    runtime = resolve_runtime(device, precision)
    if extractor is None:
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be max or avg, got {pooling!r}")
        extractor = load_vgg19(None, "auto", pooling)
    net = copy.deepcopy(extractor.truncated(last_layer))
    return prepare_extractor(net, runtime), runtime


def valid_layers(extractor: FeatureExtractor | None) -> tuple[str, ...]:
    """The layer names an extractor has (VGG19's when None)."""
    return tuple(extractor.names) if extractor is not None else LAYER_NAMES


def check_layers(names: Iterable[str], extractor: FeatureExtractor | None) -> tuple[str, ...]:
    """``names`` as a tuple; ValueError (one line, listing the valid names) for an unknown one."""
    names, valid = tuple(names), valid_layers(extractor)
    if not names:
        raise ValueError(f"no layer given; valid layers: {', '.join(valid)}")
    for name in names:
        if name not in valid:
            raise ValueError(f"unknown layer {name!r}; valid layers: {', '.join(valid)}")
    return names


def deepest(names: Iterable[str], extractor: FeatureExtractor | None) -> str:
    """The name among ``names`` that comes last in the extractor (VGG19 when None)."""
    return max(names, key=valid_layers(extractor).index)


@torch.no_grad()
def channel_count(extractor: FeatureExtractor, layer: str, runtime: Runtime) -> int:
    """Channels of ``layer``, found by running a small grey image through the network."""
    probe = torch.full((1, 3, 32, 32), 0.5, device=runtime.device, dtype=runtime.dtype)
    return extractor(probe, [layer])[layer].shape[1]


def parse_channels(spec: str | int | Sequence[int]) -> tuple[int, ...]:
    """``"0-15"``, ``"3,7,12"``, ``"0-3,8"``, an int or a list of ints -> a tuple of ints.

    Order is kept and duplicates dropped. Raises ValueError (one line) for malformed text.
    """
    if isinstance(spec, int):
        return (spec,)
    if not isinstance(spec, str):
        return tuple(dict.fromkeys(int(c) for c in spec))
    channels: list[int] = []
    for part in (p.strip() for p in spec.split(",")):
        low, dash, high = part.partition("-")
        try:
            start = int(low)
            stop = int(high) if dash else start
        except ValueError:
            raise ValueError(f"channels must look like 0-15 or 3,7,12; got {spec!r}") from None
        if stop < start:
            raise ValueError(f"channel range {part!r} runs backwards; write it low-high")
        if stop - start >= MAX_CHANNELS:
            raise ValueError(f"channel range {part!r} is too long; at most {MAX_CHANNELS} "
                             "channels at a time")
        channels.extend(range(start, stop + 1))
    return tuple(dict.fromkeys(channels))


def check_channels(channels: Sequence[int], layer: str, count: int) -> None:
    """ValueError (one line) unless every channel is in ``0..count-1``."""
    if not channels:
        raise ValueError(f"no channel given; {layer} has channels 0-{count - 1}")
    bad = [c for c in channels if not 0 <= c < count]
    if bad:
        raise ValueError(f"channel {bad[0]} is out of range: {layer} has {count} channels, "
                         f"valid channels are 0-{count - 1}")


def check_positive(**values: int) -> None:
    """ValueError naming the first argument that is not a positive integer."""
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_size(size: int, minimum: int = 16) -> None:
    """ValueError unless ``size`` is an integer of at least ``minimum`` pixels."""
    check_positive(size=size)
    if size < minimum:
        raise ValueError(f"size must be at least {minimum} pixels, got {size}")


class Reporter:
    """Turns per-step numbers into :class:`ExploreProgress` reports for an optional callback."""

    def __init__(self, callback: ExploreCallback | None, task: str, stages: int, steps: int):
        self.callback, self.task, self.stages, self.steps = callback, task, stages, steps
        self.clock, self.stage = Clock(), 1

    def step(self, step: int, losses: Mapping[str, float]) -> None:
        if self.callback is not None:
            self.callback(ExploreProgress(self.task, self.stage, self.stages, step, self.steps,
                                          dict(losses), self.clock()))


def write_json(data: dict, path: str | os.PathLike) -> Path:
    """Write ``data`` as indented JSON atomically (temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def compact_channels(channels: Sequence[int]) -> str:
    """``[0, 1, 2, 3, 7]`` -> ``"0-3, 7"``."""
    runs: list[list[int]] = []
    for channel in channels:
        if runs and channel == runs[-1][-1] + 1:
            runs[-1].append(channel)
        else:
            runs.append([channel])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs)


def describe_input(image: ImageLike | None, default: str) -> str:
    """For JSON: a path as given, ``bundled:<default>`` for None, else the object's kind."""
    if image is None:
        return f"bundled:{default}"
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    return "tensor" if isinstance(image, torch.Tensor) else "PIL image"


def rounded(value: float, digits: int = 4) -> float:
    """A float with ``digits`` significant digits, for compact JSON."""
    return float(f"{value:.{digits}g}")
