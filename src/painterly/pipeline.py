"""``stylize()``: the one place that knows every part of a run.

Loads the images, builds the network, walks the coarse-to-fine schedule and reports
progress; each part lives in its own module.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Union

import torch
from PIL import Image

from . import image_io, multiscale
from .config import StyleConfig
from .devices import Runtime, resolve_runtime
from .models.layers import deepest
from .models.vgg import FeatureExtractor, vgg19
from .models.weights import load_weights
from .optimize import (Callback, Clock, LossWeights, Progress, compute_targets, objective,
                       optimize, prepare_extractor)

log = logging.getLogger(__name__)

ImageInput = Union[str, os.PathLike, Image.Image, torch.Tensor]
StyleInput = Union[ImageInput, Sequence[tuple[ImageInput, float]]]


class Interrupted(KeyboardInterrupt):
    """Raised when a run is interrupted (Ctrl-C); ``image`` holds the result so far (PIL)."""

    def __init__(self, image: Image.Image):
        super().__init__("interrupted")
        self.image = image


def stylize(
    content: ImageInput,
    style: StyleInput,
    config: StyleConfig | None = None,
    *,
    callback: Callback | None = None,
    extractor: FeatureExtractor | None = None,
) -> Image.Image:
    """Paint ``content`` in the style of ``style`` (Gatys, Ecker & Bethge 2015).

    content: a path, PIL image or (1,3,H,W)/(3,H,W) float tensor in [0,1].
    style: one such image, or a list of ``(image, weight)`` whose Gram matrices are blended.
    callback: receives a :class:`Progress` after every optimiser step; may raise to stop.
    extractor: a feature network to use instead of VGG19 (tests, experiments).
    Returns the stylised image (RGB, long edge ``config.size``). On Ctrl-C raises
    :class:`Interrupted` carrying the image so far.
    """
    config = config or StyleConfig()
    runtime = resolve_runtime(config.device, config.precision)
    log.info("running on %s", runtime.describe())
    content_image = image_io.load_image(content, long_edge=config.size)
    styles = [(image_io.load_image(img, long_edge=config.style_size or config.size), w)
              for img, w in _style_list(style)]
    net = _prepare(extractor or load_vgg19(config.weights, config.weights_format, config.pooling),
                   config, runtime)
    weights = loss_weights(config)
    content_image = content_image.to(runtime.device)
    styles = [(img.to(runtime.device), w) for img, w in styles]
    result = _run_schedule(net, content_image, styles, weights, config, runtime, callback)
    return image_io.tensor_to_pil(result)


def _style_list(style: StyleInput) -> list[tuple[ImageInput, float]]:
    if isinstance(style, (list, tuple)) and style and all(
            isinstance(s, tuple) and len(s) == 2 for s in style):
        pairs = [(img, float(w)) for img, w in style]
    else:
        pairs = [(style, 1.0)]
    if any(w < 0 for _, w in pairs) or sum(w for _, w in pairs) <= 0:
        raise ValueError("style weights must be >= 0 with a positive sum")
    return [(img, w) for img, w in pairs if w > 0]


def loss_weights(config: StyleConfig) -> LossWeights:
    """Per-layer weights: alpha and beta shared out over the layers (equal unless given)."""
    def per_layer(layers, layer_weights, total):
        layer_weights = layer_weights or [1.0 / len(layers)] * len(layers)
        return {name: total * w for name, w in zip(layers, layer_weights) if total * w > 0}

    return LossWeights(
        content=per_layer(config.content_layers, config.content_layer_weights, config.content_weight),
        style=per_layer(config.style_layers, config.style_layer_weights, config.style_weight),
        tv=config.tv_weight)


@functools.lru_cache(maxsize=2)
def load_vgg19(weights: str | None, weights_format: str, pooling: str) -> FeatureExtractor:
    """VGG19 on the CPU, full depth (cached: later runs in this process reuse it)."""
    convention = None if weights_format == "auto" else weights_format
    return vgg19(load_weights(weights, convention=convention), pooling=pooling)


def _prepare(net: FeatureExtractor, config: StyleConfig, runtime: Runtime) -> FeatureExtractor:
    """Truncate after the deepest layer used; a copy on the run's device, dtype and layout
    (the cached network itself is left untouched)."""
    net = net.truncated(deepest(config.content_layers + config.style_layers))
    return prepare_extractor(copy.deepcopy(net), runtime)


def _run_schedule(net, content, styles, weights, config, runtime, callback) -> torch.Tensor:
    """Optimise at each size of the schedule, upsampling each result to start the next."""
    stages = multiscale.schedule(
        config.size, config.scales, config.iterations, config.iterations_per_scale)
    clock, image = Clock(), None
    for index, stage in enumerate(stages, start=1):
        scale = stage.long_edge / config.size
        content_s = image_io.resize_long_edge(content, stage.long_edge)
        styles_s = [(image_io.resize_long_edge(img, max(1, round(max(img.shape[-2:]) * scale))), w)
                    for img, w in styles]
        targets = compute_targets(net, content_s, styles_s, weights, runtime)
        image = _start_image(image, content_s, styles_s, config)
        report = _reporter(callback, clock, index, len(stages), stage.steps)
        try:
            image = optimize(
                image, lambda x: objective(net, x, targets, weights, runtime),
                steps=stage.steps, optimizer=config.optimizer,
                learning_rate=config.learning_rate, on_step=report.step)
        except KeyboardInterrupt:
            raise Interrupted(image_io.tensor_to_pil(report.latest(image))) from None
    return image


def _start_image(previous, content, styles, config: StyleConfig) -> torch.Tensor:
    """First scale: the configured init; later scales: the previous result, upsampled."""
    size = content.shape[-2:]
    if previous is not None:
        return _resize_to(previous, size)
    if config.init == "content":
        return content.clone()
    if config.init == "noise":
        generator = torch.Generator().manual_seed(config.seed)
        return torch.rand(content.shape, generator=generator).to(content.device)
    if config.init == "style":
        return _resize_to(styles[0][0], size)
    return _resize_to(image_io.load_image(Path(config.init)).to(content.device), size)


def _resize_to(image: torch.Tensor, size) -> torch.Tensor:
    """image: (1,3,h,w) -> (1,3,H,W) with size=(H,W), bicubic, clamped to [0,1]."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image.clone()
    resized = torch.nn.functional.interpolate(
        image, size=tuple(size), mode="bicubic", align_corners=False, antialias=True)
    return resized.clamp(0, 1)


class _reporter:
    """Turns the optimiser's per-step hook into :class:`Progress` reports, keeping the latest image."""

    def __init__(self, callback, clock, scale, scales, steps):
        self.callback, self.clock = callback, clock
        self.scale, self.scales, self.steps = scale, scales, steps
        self._latest: torch.Tensor | None = None

    def step(self, step: int, terms: dict[str, float], image: torch.Tensor) -> None:
        self._latest = image
        if self.callback is not None:
            h, w = image.shape[-2:]
            self.callback(Progress(
                self.scale, self.scales, step, self.steps, terms, self.clock(), (w, h),
                image.clamp(0, 1)))

    def latest(self, fallback: torch.Tensor) -> torch.Tensor:
        return (self._latest if self._latest is not None else fallback).clamp(0, 1)
