"""How much memory a run will need, decided before it starts.

A step at H x W pixels keeps, until its backward pass, every ReLU and pooling output of VGG19
up to the deepest layer used (in the network's dtype), a float32 copy of each style layer's
responses (the Gram matrix's input, one per guide when masks are used), the content targets,
and on the image side float32 copies of the image: the image, its gradient, L-BFGS's
direction and, the largest term at print sizes, its history of ``min(steps, 50)`` pairs of
image-sized vectors (50 x 2 x 3 x H x W x 4 bytes: 13 GB at 4096 x 2731). The model below
adds these up from the layer shapes; the constants were calibrated against the peak resident
memory (VmHWM) of real runs at 256-2048 px on CPU (see docs/control/README-section.md).

:func:`plan_run` turns a config and image sizes into a plan of stages, choosing tiles where the
untiled stage would not fit (``tile_size=None``) and refusing, with a one-line ValueError that
suggests tiling or a smaller size, a run that will not fit in any case.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from . import multiscale, tiling
from .config import StyleConfig
from .image_io import size_for_long_edge
from .models.layers import BLOCKS, LAYER_NAMES, deepest

GIB = 1024**3
BASE_BYTES = int(0.45 * GIB)
"""Python, PyTorch and VGG19's weights (the float32 cache and the run's copy)."""
HISTORY = 50
"""L-BFGS pairs kept (``optimize._make_optimizer``)."""
IMAGE_COPIES = 12
"""Other float32 image-sized buffers: image, gradient, L-BFGS's direction and previous
gradient, the photo, the previous scale's result, TV's differences."""
BACKWARD_FACTOR = 1.5
"""Gradients alive during backward, in units of the largest float32 activation (calibrated)."""
AUTO_TILES = (1024, 768, 512, 384, 256)
"""Tile sizes tried, largest first, when ``tile_size`` is None and a stage does not fit."""
_DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


@dataclass(frozen=True)
class StagePlan:
    """One scale of a run: its image size, steps, tiling and estimated peak memory.

    steps: optimiser steps per tile (per whole image when untiled).
    tile: tile edge in pixels, or None; tiles: tile optimisations (1 when untiled).
    peak: estimated peak resident memory of the process at this stage, in bytes.
    painting_bound: the peak is a painting's target pass (its size, from --style-size and
    --style-scale, is what to reduce), not the optimisation of the image.
    """

    long_edge: int
    height: int
    width: int
    steps: int
    tile: int | None
    tiles: int
    peak: int
    painting_bound: bool = False

    @property
    def total_steps(self) -> int:
        return self.steps * self.tiles


def layer_shapes(height: int, width: int, last: str) -> list[tuple[str, int, int, int]]:
    """(name, channels, h, w) of every VGG19 layer up to ``last`` for an (H,W) input."""
    shapes, h, w = [], height, width
    channels = dict(zip(range(1, 6), (c for c, _ in BLOCKS)))
    for name in LAYER_NAMES[: LAYER_NAMES.index(last) + 1]:
        block = int(name[4])
        if name.startswith("pool"):
            h, w = h // 2, w // 2
        shapes.append((name, channels[block], h, w))
    return shapes


def step_bytes(height: int, width: int, config: StyleConfig, *, dtype_bytes: int = 2,
               guides: int = 1, steps: int = HISTORY) -> int:
    """Memory one optimiser step on an (H,W) image adds to the process (bytes)."""
    shapes = layer_shapes(height, width, deepest(config.content_layers + config.style_layers))
    saved = largest = 0
    for name, c, h, w in shapes:
        if name.startswith(("relu", "pool")):
            saved += c * h * w * dtype_bytes
        if name.startswith("pool") and config.pooling == "max":
            saved += c * h * w * 8  # int64 indices
        largest = max(largest, c * h * w)
    sizes = {name: c * h * w for name, c, h, w in shapes}
    grams = max(guides, 1) * sum(sizes[n] for n in config.style_layers) * 4
    content = sum(sizes[n] for n in config.content_layers) * 4
    backward = int(BACKWARD_FACTOR * largest * 4) + largest * dtype_bytes
    history = min(steps, HISTORY) * 2 if config.optimizer == "lbfgs" else 2
    pixels = 3 * height * width * 4 * (IMAGE_COPIES + history)
    return saved + grams + content + backward + pixels


def targets_bytes(height: int, width: int, config: StyleConfig, *, dtype_bytes: int = 2) -> int:
    """Memory of one no-gradient pass computing targets on an (H,W) image (bytes)."""
    shapes = layer_shapes(height, width, deepest(config.content_layers + config.style_layers))
    largest = max(c * h * w for _, c, h, w in shapes)
    return largest * (2 * dtype_bytes + 4) + 3 * height * width * 4 * 4


def available_bytes() -> int | None:
    """Memory this process may still use: MemAvailable plus what it holds now (Linux), or None."""
    try:
        with open("/proc/meminfo") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo)
        available = int(fields["MemAvailable"].split()[0]) * 1024
        with open(f"/proc/{os.getpid()}/status") as status:
            held = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
        return available + held * 1024
    except (OSError, KeyError, ValueError, StopIteration):
        return None


def budget_bytes(config: StyleConfig) -> int | None:
    """``max_memory`` (GiB) if set, else the memory available now; None if unknown."""
    if config.max_memory is not None:
        return int(config.max_memory * GIB)
    return available_bytes()


def plan_run(config: StyleConfig, content_size: tuple[int, int],
             style_sizes: Sequence[tuple[int, int]] = (), *, dtype_bytes: int = 2,
             guides: int = 0, budget: int | None = None) -> list[StagePlan]:
    """The stages of a run with their tiling and memory; raises ValueError if it cannot fit.

    content_size: (H,W) of the photo at ``config.size``; style_sizes: (h,w) of each painting
    as loaded (before the per-scale resize). guides: number of masks (0: none).
    budget: bytes the process may use (None: no check, no automatic tiling).
    """
    # Coarse sizes stop where the photo's short side would be too small for the network.
    narrowest = multiscale.edge_for_short_side(
        *content_size, multiscale.min_short_side(config.content_layers + config.style_layers))
    stages = multiscale.schedule(config.size, config.scales, config.iterations,
                                 config.iterations_per_scale,
                                 min_edge=max(multiscale.MIN_LONG_EDGE, narrowest))
    plans = [_plan_stage(stage, config, content_size, style_sizes, dtype_bytes, guides, budget)
             for stage in stages]
    worst = max(plans, key=lambda plan: plan.peak)
    if budget is not None and worst.peak > budget:
        raise ValueError(_too_big(worst, config, content_size, dtype_bytes, guides, budget))
    return plans


def _plan_stage(stage: multiscale.Scale, config, content_size, style_sizes, dtype_bytes,
                guides, budget) -> StagePlan:
    height, width = content_size
    w, h = size_for_long_edge(width, height, stage.long_edge)
    scale = stage.long_edge / config.size
    paintings = [(max(1, round(sh * scale)), max(1, round(sw * scale))) for sh, sw in style_sizes]

    def terms(tile: int | None) -> tuple[int, int]:
        """(bytes for the image's optimisation and targets, for the paintings' targets)"""
        th, tw = (min(h, tile), min(w, tile)) if tile else (h, w)
        step = step_bytes(th, tw, config, dtype_bytes=dtype_bytes, guides=guides,
                          steps=stage.steps)
        photo = targets_bytes(th, tw, config, dtype_bytes=dtype_bytes)
        passes = [targets_bytes(min(ph, tile or ph), min(pw, tile or pw), config,
                                dtype_bytes=dtype_bytes) for ph, pw in paintings]
        # fp32 whole images: start, weighted sum of tiles, image so far, photo, result (RGB)
        # and the sum of weights (one channel)
        whole = (5 * 3 + 1) * h * w * 4 if tile else 0
        return BASE_BYTES + max(step, photo) + whole, BASE_BYTES + max(passes, default=0) + whole

    def peak(tile: int | None) -> int:
        return max(terms(tile))

    tile = _choose_tile(config, h, w, peak, budget)
    tiles = tiling.count_tiles(h, w, tile, config.tile_overlap) if tile else 1
    image_bytes, painting_bytes = terms(tile)
    return StagePlan(stage.long_edge, h, w, stage.steps, tile, tiles, peak(tile),
                     painting_bound=painting_bytes > image_bytes)


def _choose_tile(config: StyleConfig, height: int, width: int, peak, budget) -> int | None:
    """The configured tile size where the image exceeds it; in auto mode (None), the largest
    of AUTO_TILES that fits the budget, only when the whole image does not."""
    long_edge = max(height, width)
    if config.tile_size is not None:
        return config.tile_size if 0 < config.tile_size < long_edge else None
    if budget is None or peak(None) <= budget:
        return None
    candidates = [t for t in AUTO_TILES if t < long_edge and t > 2 * config.tile_overlap]
    fitting = [t for t in candidates if peak(t) <= budget]
    return fitting[0] if fitting else (candidates[-1] if candidates else None)


def _too_big(plan: StagePlan, config, content_size, dtype_bytes, guides, budget) -> str:
    """One line: what is needed, what there is, and what to change (the setting that is the
    cause: --max-memory below painterly's own footprint, the paintings' size, or the image's)."""
    where = ("are allowed (--max-memory)" if config.max_memory is not None
             else "are available")
    need = (f"needs about {_gib(plan.peak)} GiB at {plan.width}x{plan.height} px"
            + (f" in {plan.tile} px tiles" if plan.tile else ""))
    head = f"this run {need} but only {_gib(budget)} GiB {where}"
    if budget < BASE_BYTES + 64 * 1024**2:  # not even a 64 px image fits: no size will help
        raise_it = ("raise --max-memory" if config.max_memory is not None
                    else "close other programs")
        return (f"{head}; painterly itself (PyTorch and VGG19) needs about "
                f"{_gib(BASE_BYTES)} GiB, so {raise_it}")
    if plan.painting_bound:
        edge = round(config.style_scale * (config.style_size or config.size))
        return (f"{head}, most of it for the paintings at {edge} px (--style-size "
                f"{config.style_size or 'unset'}, --style-scale {config.style_scale:g}); "
                f"use a smaller --style-size or --style-scale")
    fits = _fitting_size(config, content_size, dtype_bytes, guides, budget)
    smaller = f"a smaller --size (about {fits} px fits)" if fits else "a smaller --size"
    half = (plan.tile or 0) // 2
    tileable = any(t < max(plan.height, plan.width) and t > 2 * config.tile_overlap
                   for t in AUTO_TILES)
    if not plan.tile and not tileable:
        advice = f"use {smaller}"
    elif not plan.tile:
        advice = f"tile it (--tile-size 512) or use {smaller}"
    elif half >= 32 and half > 2 * config.tile_overlap:
        advice = f"use smaller tiles (--tile-size {half}) or {smaller}"
    else:
        advice = f"use {smaller}"
    return f"{head}; {advice}"


def _gib(size: int) -> str:
    """Bytes as GiB for a message: 8.0, 0.45, 0.001."""
    value = size / GIB
    return f"{value:.1f}" if value >= 1 else f"{value:.2g}"


def _fitting_size(config: StyleConfig, content_size, dtype_bytes, guides, budget) -> int | None:
    """The largest long edge (a multiple of 64) whose untiled run fits the budget, or None."""
    height, width = content_size
    for edge in range(config.size - config.size % 64, 63, -64):
        w, h = size_for_long_edge(width, height, edge)
        need = BASE_BYTES + step_bytes(h, w, config, dtype_bytes=dtype_bytes, guides=guides,
                                       steps=config.iterations)
        if need <= budget:
            return edge
    return None
