"""Coarse-to-fine schedules: which sizes to optimise at and for how many steps.

Starting small and upsampling each result to start the next size is much cheaper per
step (cost grows with pixels) and lets large-scale structure settle before fine strokes
are painted, as in Gatys et al. 2017 ("Controlling Perceptual Factors", Sec. 5).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from .models.layers import LAYER_NAMES, deepest

MIN_LONG_EDGE = 128
"""The coarsest size a schedule starts at. At 64 px relu4_1 and relu5_1 see 8 and 4 pixels
across, so the style's Gram matrices there describe the painting's whole composition, and
the first scale paints that composition over the photo (the Great Wave's wave, Fuji and title
box in place of a coffee cup at ``--size 256``); the later scales cannot undo it. On five
photo x painting pairs at 256 px, starting at 128 px kept more of the photo on all five
(content distance 2-6% lower, luminance SSIM 6-43% higher on a judge painterly does not
optimise) at about the same Gram style distance (0-7% higher, 1% on average), and 11-15%
sooner (``benchmarks/quality.py``; see docs/performance.md, "Style losses, measured")."""


MIN_STYLE_GRID = 16
"""At a coarser scale, a style layer takes part only where its responses are at least this many
across the long edge: relu5_1 (one response per 16 pixels) joins at 256 px, not at the 128 px
first scale. A departure from Gatys et al. (2017), who match every style layer at every
scale: on an 8-response grid relu5_1's Gram matrix describes the painting's composition, and
the first scale painted it over the photo (the Great Wave's curl over the astronaut's face),
which the finer scales cannot undo. Measured in docs/performance.md, "relu5_1 joins at 256 px"."""


def style_layers_at(layers: Iterable[str], long_edge: int, *, final: bool) -> list[str]:
    """The style ``layers`` that take part at a scale of ``long_edge`` pixels: all of them at
    the final scale (or when none is fine enough), else those with at least
    :data:`MIN_STYLE_GRID` responses across.

    >>> style_layers_at(["relu1_1", "relu4_1", "relu5_1"], 128, final=False)
    ['relu1_1', 'relu4_1']
    >>> style_layers_at(["relu5_1"], 128, final=False), style_layers_at(["relu5_1"], 128, final=True)
    (['relu5_1'], ['relu5_1'])
    """
    layers = list(layers)
    kept = [name for name in layers if long_edge >= MIN_STYLE_GRID * min_short_side([name])]
    return layers if final or not kept else kept


def min_short_side(layers: Iterable[str]) -> int:
    """The smallest side, in pixels, VGG19 can take up to the deepest of ``layers``: each
    pooling layer before it halves the image, and a layer needs at least one pixel
    (16 for relu5_1, 8 for relu4_1).

    >>> min_short_side(["relu1_1", "relu5_1"]), min_short_side(["relu3_1"])
    (16, 4)
    """
    last = deepest(layers)
    pools = sum(name.startswith("pool") for name in LAYER_NAMES[: LAYER_NAMES.index(last) + 1])
    return 2**pools


def edge_for_short_side(height: int, width: int, short: int) -> int:
    """The long edge at which a (H,W) picture's short side is at least ``short`` pixels
    (as ``image_io.size_for_long_edge`` rounds).

    >>> edge_for_short_side(8, 4000, 16), edge_for_short_side(300, 400, 16)
    (7750, 21)
    """
    small, large = sorted((height, width))
    edge = max(short, math.ceil((short - 0.5) * large / small))
    while round(small * edge / large) < short:  # float rounding at the boundary
        edge += 1
    return edge


@dataclass(frozen=True)
class Scale:
    """One stage of a schedule: long edge in pixels and optimiser steps at it."""

    long_edge: int
    steps: int


def schedule(size: int, scales: int, iterations: int,
             iterations_per_scale: tuple[int, ...] | None = None, *,
             min_edge: int = MIN_LONG_EDGE) -> list[Scale]:
    """Sizes halving from ``size`` (never below ``min_edge``), coarse to fine.

    Without ``iterations_per_scale``, the final size gets ``iterations`` steps and each coarser
    size half of ``iterations`` more than the next finer one: a coarse step costs about a
    quarter of the next finer one, so the layout settles cheaply there. (At 128 px L-BFGS
    has converged after ~150 steps; more bought nothing visible.)

    >>> [(s.long_edge, s.steps) for s in schedule(512, 3, 100)]
    [(128, 200), (256, 150), (512, 100)]
    """
    edges = long_edges(size, scales, min_edge)
    if iterations_per_scale is not None:
        if len(iterations_per_scale) != scales:
            raise ValueError(
                f"iterations_per_scale has {len(iterations_per_scale)} entries for {scales} scales")
        # When the size is too small for every scale, keep the finest entries.
        steps = list(iterations_per_scale)[-len(edges):]
    else:
        n = len(edges)
        steps = [iterations + (iterations * (n - 1 - i)) // 2 for i in range(n)]
    return [Scale(edge, s) for edge, s in zip(edges, steps)]


def long_edges(size: int, scales: int, min_edge: int = MIN_LONG_EDGE) -> list[int]:
    """``scales`` long edges ending at ``size``, each half the next; coarser ones below
    ``min_edge`` are dropped (so the list is never longer than log2(size / min_edge) + 1,
    however many scales are asked for). ``min_edge`` is MIN_LONG_EDGE, or more for a narrow
    picture whose short side would fall below what the network needs
    (see :func:`edge_for_short_side`).

    >>> long_edges(512, 3), long_edges(100, 3), long_edges(512, 10**6, 200)
    ([128, 256, 512], [100], [256, 512])
    """
    if scales < 1:
        raise ValueError(f"scales must be >= 1, got {scales}")
    kept = [size]
    for k in range(1, scales):
        edge = round(size / 2**k)
        if edge < min_edge:
            break
        kept.append(edge)
    return sorted(kept)
