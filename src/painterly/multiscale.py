"""Coarse-to-fine schedules: which sizes to optimise at and for how many steps.

Starting small and upsampling each result to start the next size is much cheaper per
step (cost grows with pixels) and lets large-scale structure settle before fine strokes
are painted, as in Gatys et al. 2017 ("Controlling Perceptual Factors", Sec. 5).
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_LONG_EDGE = 64
"""The coarsest useful size: below it VGG's deep layers see only a few pixels."""


@dataclass(frozen=True)
class Scale:
    """One stage of a schedule: long edge in pixels and optimiser steps at it."""

    long_edge: int
    steps: int


def schedule(size: int, scales: int, iterations: int,
             iterations_per_scale: tuple[int, ...] | None = None) -> list[Scale]:
    """Sizes halving from ``size`` (never below MIN_LONG_EDGE), coarse to fine.

    Without ``iterations_per_scale``, the final size gets ``iterations`` steps and each coarser
    size half of ``iterations`` more than the next finer one: a coarse step costs about a
    quarter of the next finer one, so the layout settles cheaply there. (At 128 px L-BFGS
    has converged after ~150 steps; more bought nothing visible.)

    >>> [(s.long_edge, s.steps) for s in schedule(512, 3, 100)]
    [(128, 200), (256, 150), (512, 100)]
    """
    edges = long_edges(size, scales)
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


def long_edges(size: int, scales: int) -> list[int]:
    """``scales`` long edges ending at ``size``, each half the next; coarser ones below
    MIN_LONG_EDGE are dropped.

    >>> long_edges(512, 3), long_edges(100, 3)
    ([128, 256, 512], [100])
    """
    if scales < 1:
        raise ValueError(f"scales must be >= 1, got {scales}")
    edges = [round(size / 2**k) for k in range(scales)]
    kept = [e for e in edges if e >= MIN_LONG_EDGE] or [size]
    if size not in kept:
        kept.insert(0, size)
    return sorted(kept)
