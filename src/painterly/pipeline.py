"""``stylize()``: the one place that knows every part of a run.

Loads the images, builds the network, walks the coarse-to-fine schedule and reports
progress; each part lives in its own module.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Union

import torch
from PIL import Image

from . import color, image_io, memory, multiscale, tiling
from .config import MAX_SIZE, StyleConfig
from .devices import Runtime, resolve_runtime
from .masks import (GuidedTargets, MaskInput, compute_guided_targets, fit_guides,
                    guided_objective, resize_guides)
from .models.layers import deepest
from .models.vgg import FeatureExtractor, vgg19
from .models.weights import load_weights
from .optimize import (Callback, Clock, LossWeights, Progress, Targets, Temporal, compute_targets,
                       objective, optimize, prepare_extractor, projection_draws, run_network,
                       with_temporal)

log = logging.getLogger(__name__)

ImageInput = Union[str, os.PathLike, Image.Image, torch.Tensor]
MIN_STYLE_EDGE = 32
"""The smallest a painting is shrunk to at any scale (style_scale and coarse scales)."""
StyleInput = Union[ImageInput, Sequence[tuple[ImageInput, float]]]


class Interrupted(KeyboardInterrupt):
    """Raised when a run is interrupted (Ctrl-C).

    steps: optimiser steps done before the interruption, over all scales and tiles.
    image: the result so far (PIL), or None when no step was done (there is nothing painted
    to keep: the start image is the photo or noise).
    """

    def __init__(self, image: Image.Image | None, *, steps: int):
        super().__init__("interrupted" if steps else "interrupted before the first step")
        self.image = image if steps else None
        self.steps = steps


def stylize(
    content: ImageInput,
    style: StyleInput,
    config: StyleConfig | None = None,
    *,
    callback: Callback | None = None,
    extractor: FeatureExtractor | None = None,
    masks: Sequence[MaskInput | None] | None = None,
    start: torch.Tensor | None = None,
    temporal: Temporal | None = None,
) -> Image.Image:
    """Paint ``content`` in the style of ``style`` (Gatys, Ecker & Bethge 2015).

    content: a path, PIL image or (1,3,H,W)/(3,H,W) float tensor in [0,1].
    style: one such image, or a list of ``(image, weight)`` whose Gram matrices are blended.
    callback: receives a :class:`Progress` after every optimiser step; may raise to stop.
    extractor: a feature network to use instead of VGG19 (tests, experiments).
    masks: one per style (``None``: everywhere), each a path, PIL image or (H,W) tensor in
    [0,1] with the photo's aspect ratio, painting that style where it is 1; where every mask is
    0 the photo is kept (Gatys et al. 2017). ``masks.from_labels`` splits a label image.
    start: (1,3,h,w) in [0,1], the first scale's start image instead of ``config.init`` (video:
    the previous frame's result, warped). temporal: an extra term pulling the result towards a
    target where a mask allows (Ruder et al. 2016), resized to every scale.
    Returns the stylised image (RGB, long edge ``config.size``). On Ctrl-C raises
    :class:`Interrupted` carrying the image so far. Raises ValueError before any work if the
    run will not fit in memory (see ``memory.plan_run``) or a picture is too narrow for the
    network at its size (see :func:`check_shapes`).
    """
    config = config or StyleConfig()
    runtime = resolve_runtime(config.device, config.precision)
    log.info("running on %s", runtime.describe())
    photo = image_io.load_image(content, long_edge=config.size)
    pairs, masks = _with_masks(style, masks)
    styles = [(image_io.load_image(img, long_edge=style_long_edge(config)), w) for img, w in pairs]
    check_shapes(photo.shape[-1:-3:-1], [img.shape[-1:-3:-1] for img, _ in styles], config,
                 names=[_name(content), *(_name(img) for img, _ in pairs)])
    guides = None if masks is None else fit_guides(masks, tuple(photo.shape[-2:]))
    content_image, styles = _color_inputs(photo, styles, config)
    plans = memory.plan_run(config, tuple(photo.shape[-2:]), [s.shape[-2:] for s, _ in styles],
                            dtype_bytes=runtime.dtype.itemsize, guides=len(masks or ()),
                            budget=memory.budget_bytes(config))
    for stage in plans:
        log.info("%dx%d: %s, estimated peak %.1f GiB", stage.width, stage.height,
                 f"{stage.tiles} tiles of {stage.tile} px" if stage.tile else "whole image",
                 stage.peak / memory.GIB)
    net = _prepare(extractor or load_vgg19(config.weights, config.weights_format, config.pooling,
                                           config.padding), config, runtime)
    weights = loss_weights(config)
    content_image = content_image.to(runtime.device)
    styles = [(img.to(runtime.device), w) for img, w in styles]
    guides = None if guides is None else guides.to(runtime.device)
    if start is not None:
        start = image_io.load_image(start).to(runtime.device)
    elif config.init == "fast":
        start = _fast_start(photo, pairs, config)
    result = _run_schedule(net, content_image, styles, weights, config, runtime, callback,
                           plans, guides, start, temporal)
    if config.preserve_color == "luminance":
        result = color.recombine_chroma(result, photo.to(result.device)).clamp(0, 1)
    return image_io.tensor_to_pil(result)


def style_long_edge(config: StyleConfig) -> int:
    """Long edge the paintings are loaded at: ``style_scale * (style_size or size)``."""
    return max(MIN_STYLE_EDGE, round(config.style_scale * (config.style_size or config.size)))


def plan(content_size: tuple[int, int], style_sizes: Sequence[tuple[int, int]],
         config: StyleConfig, *, masks: int = 0,
         names: Sequence[str] | None = None) -> list[memory.StagePlan]:
    """The stages :func:`stylize` will run for images of these (width, height) as given,
    with their tiling and memory estimate; raises ValueError if the run will not fit or a
    picture is too narrow (``names``: the photo's and paintings' names for that message)."""
    check_shapes(content_size, style_sizes, config, names=names)
    runtime = resolve_runtime(config.device, config.precision)
    width, height = image_io.size_for_long_edge(*content_size, config.size)
    paintings = [image_io.size_for_long_edge(w, h, style_long_edge(config))[::-1]
                 for w, h in style_sizes]
    return memory.plan_run(config, (height, width), paintings, guides=masks,
                           dtype_bytes=runtime.dtype.itemsize, budget=memory.budget_bytes(config))


def check_shapes(content_size: tuple[int, int], style_sizes: Sequence[tuple[int, int]],
                 config: StyleConfig, *, names: Sequence[str] | None = None) -> None:
    """Refuse, with a ValueError naming the picture, a photo or painting of these (width,
    height) whose short side at its size (``config.size``, :func:`style_long_edge`) is below
    what VGG19 needs up to the deepest layer used (16 px for relu5_1: four poolings halve it).

    Coarser scales never shrink a picture below that (see ``multiscale.edge_for_short_side``),
    so a run that passes this check has a valid shape at every scale.
    """
    layers = config.content_layers + config.style_layers
    need = multiscale.min_short_side(layers)
    pictures = [("the photo", content_size, config.size, "a size")] + [
        (f"painting {i}", size, style_long_edge(config), "a style_size (times style_scale)")
        for i, size in enumerate(style_sizes, start=1)]
    for index, (default, (width, height), edge, setting) in enumerate(pictures):
        if min(width, height) < 1:
            raise ValueError(f"{default} has no pixels ({width}x{height})")
        w, h = image_io.size_for_long_edge(width, height, edge)
        if min(w, h) >= need:
            continue
        name = names[index] if names is not None and index < len(names) else default
        least = multiscale.edge_for_short_side(height, width, need)
        advice = (f"use {setting} of at least {least} px, or crop it" if least <= MAX_SIZE
                  else "crop it")
        raise ValueError(f"{name} ({width}x{height} px) is too narrow: at {edge} px it is {w}x{h}, "
                         f"and VGG19 needs at least {need} px on each side up to "
                         f"{deepest(layers)}; {advice}")


def _name(image: ImageInput) -> str:
    """How messages name an input: its path, or what it is."""
    if isinstance(image, (str, os.PathLike)):
        return repr(os.fspath(image))
    return f"the {type(image).__name__} given"


def _with_masks(style: StyleInput, masks):
    """The styles with weight > 0 and their masks (None when no masks were given)."""
    pairs = _all_styles(style)
    if masks is None:
        return [(img, w) for img, w in pairs if w > 0], None
    if isinstance(masks, (str, os.PathLike, Image.Image, torch.Tensor)) or len(masks) != len(pairs):
        raise ValueError(f"give one mask (or None) per style: {len(pairs)} styles")
    kept = [(pair, mask) for pair, mask in zip(pairs, masks) if pair[1] > 0]
    return [pair for pair, _ in kept], [mask for _, mask in kept]


def _color_inputs(photo, styles, config: StyleConfig):
    """The photo and paintings the optimisation sees under ``config.preserve_color``
    (Gatys et al. 2016): grey luminance images, or paintings recoloured like the photo."""
    if config.preserve_color == "luminance":
        grey, paintings = color.luminance_inputs(photo, [img for img, _ in styles])
        return grey, [(img, w) for img, (_, w) in zip(paintings, styles)]
    if config.preserve_color == "histogram":
        return photo, [(color.match_color(img, photo), w) for img, w in styles]
    return photo, styles


def _style_list(style: StyleInput) -> list[tuple[ImageInput, float]]:
    return [(img, w) for img, w in _all_styles(style) if w > 0]


def _all_styles(style: StyleInput) -> list[tuple[ImageInput, float]]:
    if isinstance(style, (list, tuple)) and style and all(
            isinstance(s, tuple) and len(s) == 2 for s in style):
        pairs = [(img, float(w)) for img, w in style]
    else:
        pairs = [(style, 1.0)]
    weights = [w for _, w in pairs]
    if not all(math.isfinite(w) and w >= 0 for w in weights) or max(weights) <= 0:
        raise ValueError("style weights must be finite numbers >= 0 with a positive sum")
    # Relative to the largest, so that weights whose sum overflows (1e308 twice) still blend.
    return [(img, w / max(weights)) for img, w in pairs]


def loss_weights(config: StyleConfig) -> LossWeights:
    """Per-layer weights: alpha and beta shared out over the layers (equal unless given)."""
    def per_layer(layers, layer_weights, total):
        if not layers:  # no content layers: texture synthesis (Gatys et al. 2015)
            return {}
        layer_weights = layer_weights or [1.0 / len(layers)] * len(layers)
        return {name: total * w for name, w in zip(layers, layer_weights) if total * w > 0}

    return LossWeights(
        content=per_layer(config.content_layers, config.content_layer_weights, config.content_weight),
        style=per_layer(config.style_layers, config.style_layer_weights, config.style_weight),
        tv=config.tv_weight, style_loss=config.style_loss)


@functools.lru_cache(maxsize=2)
def load_vgg19(weights: str | None, weights_format: str, pooling: str,
               padding: str = "zeros") -> FeatureExtractor:
    """VGG19 on the CPU, full depth (cached: later runs in this process reuse it)."""
    convention = None if weights_format == "auto" else weights_format
    return vgg19(load_weights(weights, convention=convention), pooling=pooling, padding=padding)


def _prepare(net: FeatureExtractor, config: StyleConfig, runtime: Runtime) -> FeatureExtractor:
    """Truncate after the deepest layer used; a copy on the run's device, dtype and layout
    (the cached network itself is left untouched)."""
    net = net.truncated(deepest(config.content_layers + config.style_layers))
    return prepare_extractor(copy.deepcopy(net), runtime)


def _run_schedule(net, content, styles, weights, config, runtime, callback, plans,
                  guides=None, start=None, temporal=None) -> torch.Tensor:
    """Optimise at each size of the plan, upsampling each result to start the next.

    start: the first scale's start image at any size (default: from ``config.init``).
    temporal: a :class:`Temporal` term at the output size, resized to each scale."""
    clock, image, done = Clock(), start, 0
    need = multiscale.min_short_side(config.content_layers + config.style_layers)
    for index, stage in enumerate(plans, start=1):
        scale = stage.long_edge / config.size
        content_s = image_io.resize_long_edge(content, stage.long_edge)
        styles_s = [(image_io.resize_long_edge(img, _shrunk(img, scale, need)), w)
                    for img, w in styles]
        image = _start_image(image, content_s, styles_s, config)
        report = _reporter(callback, clock, index, len(plans), stage.total_steps)
        guides_s = None if guides is None else resize_guides(guides, tuple(content_s.shape[-2:]))
        temporal_s = None if temporal is None else temporal.resized(tuple(content_s.shape[-2:]))
        try:
            image = _optimize_stage(net, image, content_s, styles_s, guides_s,
                                    _weights_at(weights, stage.long_edge, index == len(plans)),
                                    config, runtime, stage, report.step, temporal_s)
        except KeyboardInterrupt:
            done += report.done
            raise Interrupted(image_io.tensor_to_pil(report.latest(image)) if done else None,
                              steps=done) from None
        done += report.done
    return image


def _weights_at(weights: LossWeights, long_edge: int, final: bool) -> LossWeights:
    """The loss weights at one scale: coarse scales leave out style layers whose response grid
    is too small to describe texture rather than composition (``multiscale.MIN_STYLE_GRID``)."""
    kept = multiscale.style_layers_at(weights.style, long_edge, final=final)
    return dataclasses.replace(weights, style={k: weights.style[k] for k in kept})


def _shrunk(painting: torch.Tensor, scale: float, short: int) -> int:
    """The painting's long edge at a scale: ``scale`` times its own, not below MIN_STYLE_EDGE
    nor where its short side would fall below ``short`` pixels (nor below its own size
    where that is smaller)."""
    edge = max(painting.shape[-2:])
    floor = max(MIN_STYLE_EDGE, multiscale.edge_for_short_side(*painting.shape[-2:], short))
    return max(round(edge * scale), min(edge, floor))


def _optimize_stage(net, image, content, styles, guides, weights, config, runtime,
                    stage: memory.StagePlan, on_step, temporal=None) -> torch.Tensor:
    """One scale, on the whole image or tile by tile, with blended or guided Gram targets
    (and the temporal term, cropped to each tile, where one is given)."""
    run = dict(optimizer=config.optimizer, learning_rate=config.learning_rate, on_step=on_step)
    plain, guided = _objectives(config)
    if stage.tile is None:
        if guides is None:
            targets = compute_targets(net, content, styles, weights, runtime)
            return optimize(image, with_temporal(lambda x: plain(net, x, targets, weights, runtime),
                                                 temporal), steps=stage.steps, **run)
        targets = compute_guided_targets(net, content, styles, guides, weights, runtime)
        return optimize(image, with_temporal(lambda x: guided(net, x, targets, weights, runtime),
                                             temporal), steps=stage.steps, **run)
    # Tiles share the paintings' Gram matrices, computed once from the whole paintings.
    grams = [tiling.painting_grams(net, img, list(weights.style), runtime, stage.tile,
                                   weights.style_loss) for img, _ in styles]
    style_weights = [w for _, w in styles]
    blended = tiling.blend_grams(grams, style_weights)

    def make_loss(box: tiling.Box):
        top, left, bottom, right = box
        part = None if temporal is None else temporal.crop(box)
        with torch.no_grad():
            feats = run_network(net, content[..., top:bottom, left:right], weights.content, runtime)
        feats = {k: v.float() for k, v in feats.items()}
        if guides is None:
            targets = Targets(feats, blended)
            return with_temporal(lambda x: plain(net, x, targets, weights, runtime), part)
        targets = GuidedTargets(feats, tuple(grams), tuple(style_weights), guides).crop(box, feats)
        return with_temporal(lambda x: guided(net, x, targets, weights, runtime), part)

    return tiling.optimize_tiled(image, make_loss, tile=stage.tile, overlap=config.tile_overlap,
                                 steps=stage.steps, **run)


def _objectives(config: StyleConfig):
    """(objective, guided_objective), compiled with torch.compile when config.compile is set.

    Compiling is per image size (dynamic=False: a size-specialised graph runs fastest), so a
    coarse-to-fine run compiles once per scale; tiles of one size share one compilation.
    Measured here at 512 x 512 (bf16 network): 0.50 s per step eager, 0.34 s compiled, after
    16 s of compiling (3 s once Inductor's on-disk cache holds the graph).
    """
    plain, guided = objective, guided_objective
    if config.compile:
        plain = torch.compile(objective, dynamic=False)
        guided = torch.compile(guided_objective, dynamic=False)
    if config.style_loss != "sliced":
        return plain, guided
    # Heitz et al. (2021) draw new directions at every step; one seeded generator per scale.
    draw = projection_draws(config.seed)
    return (lambda net, x, targets, *rest: plain(net, x, targets, *rest,
                                                 projections=draw(targets.style)),
            lambda net, x, targets, *rest: guided(net, x, targets, *rest,
                                                  projections=draw(targets.styles[0])))


def _fast_start(photo: torch.Tensor, pairs, config: StyleConfig) -> torch.Tensor:
    """The photo painted in one pass: by the fast styles trained on the paintings when every
    painting has one, otherwise by universal style transfer from the paintings themselves
    (Li et al. 2017), blended by weight.

    A departure from Gatys et al., who start from noise or the photo: starting from a picture
    that already carries the painting's texture leaves the optimiser only the refinement.
    """
    from .fast import FastPainter
    from .fast.paint import styles_for_paintings
    from .fast.wct import PaintingPainter

    runtime = resolve_runtime(config.device, "auto")
    trained = styles_for_paintings(pairs)
    if trained is not None:
        painter = FastPainter(*trained, runtime=runtime)
    else:
        painter = PaintingPainter([(image_io.load_image(painting), weight) for painting, weight in pairs],
                                  runtime=runtime)
    start = painter(photo).to(photo.device)
    if config.preserve_color == "luminance":
        start = color.grey(color.luminance(start))
    return start


def _start_image(previous, content, styles, config: StyleConfig) -> torch.Tensor:
    """First scale: the configured init; later scales: the previous result, upsampled, plus
    the photo's detail that the coarser scale could not hold, when the run started from the
    photo (``init`` content or fast; see :func:`_with_photo_detail`)."""
    size = content.shape[-2:]
    if previous is not None:
        upsampled = _resize_to(previous, size)
        if config.init in ("content", "fast"):
            return _with_photo_detail(upsampled, content, previous.shape[-2:])
        return upsampled
    if config.init == "content":
        return content.clone()
    if config.init == "noise":
        generator = torch.Generator().manual_seed(config.seed)
        return torch.rand(content.shape, generator=generator).to(content.device)
    if config.init == "style":
        return _resize_to(styles[0][0], size)
    return _resize_to(image_io.load_image(Path(config.init)).to(content.device), size)


def _with_photo_detail(upsampled: torch.Tensor, content: torch.Tensor,
                       coarse_size) -> torch.Tensor:
    """upsampled (1,3,H,W) plus the photo's band of frequencies between ``coarse_size`` (h,w)
    and (H,W): the photo minus the photo taken down to the coarse size and back, one level of
    a Laplacian pyramid (Burt & Adelson 1983).

    A departure from Gatys et al. (2017, Sec. 5), who start each finer scale from the
    upsampled result alone. That start is blurred: on the cat with The Starry Night its loss
    at 512 px was 3.55 against the finished 256 px scale's 0.80, and the optimiser spent
    most of the scale's steps restoring the fine band. Started with the photo's band (the
    painting's strokes are then painted over it), 40 steps at 512 px kept more of the photo
    than 100 steps without it, at about the same style distance, by a judge painterly does
    not optimise on three held-out pairs (``benchmarks/quality.py``; README, "Time to a good
    picture")."""
    band = content - _resize_to(_resize_to(content, coarse_size), content.shape[-2:])
    return (upsampled + band).clamp(0, 1)


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
        self.done = 0  # steps reported so far

    def step(self, step: int, terms: dict[str, float], image: torch.Tensor) -> None:
        self._latest = image
        self.done += 1
        if self.callback is not None:
            h, w = image.shape[-2:]
            self.callback(Progress(
                self.scale, self.scales, step, self.steps, terms, self.clock(), (w, h),
                image.clamp(0, 1)))

    def latest(self, fallback: torch.Tensor) -> torch.Tensor:
        return (self._latest if self._latest is not None else fallback).clamp(0, 1)


def evaluate(
    image: ImageInput,
    content: ImageInput,
    style: StyleInput,
    config: StyleConfig | None = None,
    *,
    extractor: FeatureExtractor | None = None,
) -> dict[str, float]:
    """The weighted objective of a finished image, in fp32 on the CPU, at the image's size.

    The photo is resized to the image's size and the painting to the same scale as in a run,
    so results of different tools and precisions can be scored by the same code.
    Returns {"content", "style", "tv", "total"} as floats.
    """
    config = (config or StyleConfig()).replace(device="cpu", precision="fp32")
    # Direct convolutions on every CPU: scores stay comparable from machine to machine.
    runtime = dataclasses.replace(resolve_runtime("cpu", "fp32"), winograd=False)
    result = image_io.load_image(image)
    long_edge = max(result.shape[-2:])
    content_image = _resize_to(image_io.load_image(content), result.shape[-2:])
    style_edge = round((config.style_size or config.size) * long_edge / config.size)
    styles = [(image_io.load_image(img, long_edge=style_edge), w) for img, w in _style_list(style)]
    net = _prepare(extractor or load_vgg19(config.weights, config.weights_format, config.pooling,
                                           config.padding), config, runtime)
    weights = loss_weights(config)
    targets = compute_targets(net, content_image, styles, weights, runtime)
    with torch.no_grad():
        terms = objective(net, result, targets, weights, runtime,
                          projections=projection_draws(config.seed)(targets.style))
    return {name: value.item() for name, value in terms.items()}
