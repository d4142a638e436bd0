"""Optimising a large image tile by tile, so memory depends on the tile, not the image.

Each tile is optimised on its own (a fresh L-BFGS per tile: its history is what makes
whole-image L-BFGS expensive, 50 x 2 float copies of the image) against the content responses
of its own part of the photo and the *same* style Gram matrices as every other tile, computed
once per scale from the whole painting. Gram matrices are averages over pixels (see
``losses.gram_matrix``), so every tile is asked for the painting's statistics and the tiles
agree with each other.

Tiles overlap. They are optimised one after another, row by row, each starting from the
current image (which already holds its finished neighbours' pixels in the overlap), and
written back with a raised-cosine ramp across the overlap with the tiles painted before it,
so each new tile fades into its neighbours instead of meeting them at an edge. A tile's own
border, where the network sees zero padding instead of the neighbouring pixels, is never
kept: the next tiles paint over it at full weight, or the ramp fades it out. An optional
second sweep over a grid shifted onto the first sweep's overlaps repaints those strips whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch

from . import losses
from .devices import Runtime
from .models.vgg import FeatureExtractor
from .optimize import optimize, run_network

Box = tuple[int, int, int, int]
"""A tile: (top, left, bottom, right) in pixels, bottom and right exclusive."""
LossFn = Callable[[torch.Tensor], dict[str, torch.Tensor]]
StepHook = Callable[[int, dict[str, float], torch.Tensor], None]
SWEEPS = 1
"""Sweeps over the tiles at each tiled scale (the second one on a grid shifted onto the first
one's overlaps); one was enough for no visible seam in the 4096 px test (see the README)."""


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Evenly spaced tile offsets along one axis, covering [0, length), neighbours overlapping by
    at least ``overlap`` pixels; one tile if it fits.

    >>> tile_starts(1000, 512, 64), tile_starts(400, 512, 64)
    ([0, 244, 488], [0])
    """
    if tile <= overlap:
        raise ValueError(f"tile size {tile} must be larger than the overlap {overlap}")
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def shifted_starts(starts: Sequence[int], length: int, tile: int) -> list[int]:
    """Offsets for a second sweep: tiles centred on the first sweep's overlaps, plus the ends.

    >>> shifted_starts([0, 244, 488], 1000, 512)
    [0, 122, 366, 488]
    """
    if len(starts) == 1:
        return list(starts)
    centres = [(a + b + tile) / 2 for a, b in zip(starts, starts[1:])]
    inner = [min(max(round(c - tile / 2), 0), length - tile) for c in centres]
    return sorted({0, *inner, length - tile})


def tile_boxes(height: int, width: int, tile: int, overlap: int, sweep: int = 0) -> list[Box]:
    """The tiles of one sweep over an image (H,W), row by row; sweep 1 is the shifted grid."""
    ys, xs = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    if sweep:
        ys, xs = shifted_starts(ys, height, tile), shifted_starts(xs, width, tile)
    return [(y, x, min(y + tile, height), min(x + tile, width)) for y in ys for x in xs]


def ramp(box: Box, height: int, width: int, overlap: int, *, fade_far: bool = True
         ) -> torch.Tensor:
    """Write-back weight of a tile, (1,1,h,w) in [0,1]: 1 inside, rising as a raised cosine over
    ``overlap`` pixels from each edge that lies inside the image (not at the image's border).

    fade_far=False fades only the top and left edges, the ones that face tiles already painted
    in a row-by-row sweep: the bottom and right strips will be painted over, at full weight, by
    the next tiles, so fading them would only mix in pixels that were never optimised.
    """
    top, left, bottom, right = box

    def axis(start: int, end: int, length: int) -> torch.Tensor:
        weight = torch.ones(end - start)
        n = min(overlap, (end - start) // 2)
        if n > 0:
            rise = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(n) + 0.5) / n)
            if start > 0:
                weight[:n] = rise
            if fade_far and end < length:
                weight[-n:] = torch.minimum(weight[-n:], rise.flip(0))
        return weight

    return (axis(top, bottom, height)[:, None] * axis(left, right, width)[None, :])[None, None]


def optimize_tiled(
    image: torch.Tensor,
    make_loss: Callable[[Box], LossFn],
    *,
    tile: int,
    overlap: int,
    steps: int,
    sweeps: int = SWEEPS,
    optimizer: str = "lbfgs",
    learning_rate: float = 0.02,
    on_step: StepHook | None = None,
) -> torch.Tensor:
    """Optimise image (1,3,H,W) tile by tile; returns a new image clamped to [0,1].

    make_loss(box) -> the loss function of that tile's pixels (its own content targets).
    Each tile of each sweep gets ``steps`` optimiser steps; on_step(step, losses, image) counts
    steps over all tiles and sweeps (:func:`count_tiles` times ``steps``) and receives the whole
    image as painted so far (the finished tiles; read it, do not keep it).
    """
    height, width = image.shape[-2:]
    result = image.detach().clone()
    done = 0
    for sweep in range(sweeps):
        for box in tile_boxes(height, width, tile, overlap, sweep):
            top, left, bottom, right = box
            offset = done

            def hook(step, terms, pixels, offset=offset):
                if on_step is not None:
                    on_step(offset + step, terms, result)

            painted = optimize(result[..., top:bottom, left:right], make_loss(box), steps=steps,
                               optimizer=optimizer, learning_rate=learning_rate, on_step=hook)
            weight = ramp(box, height, width, overlap, fade_far=sweep > 0).to(result.device)
            region = result[..., top:bottom, left:right]
            result[..., top:bottom, left:right] = region + (painted - region) * weight
            done += steps
    return result.clamp(0, 1)


def count_tiles(height: int, width: int, tile: int, overlap: int, sweeps: int = SWEEPS) -> int:
    """How many tile optimisations :func:`optimize_tiled` runs on an image (H,W)."""
    return sum(len(tile_boxes(height, width, tile, overlap, s)) for s in range(sweeps))


@torch.no_grad()
def painting_grams(extractor: FeatureExtractor, image: torch.Tensor, layers: Sequence[str],
                   runtime: Runtime, tile: int | None = None) -> dict[str, torch.Tensor]:
    """Gram matrices {layer: (1,C,C)} of a painting (1,3,h,w), computed in tiles of ``tile``
    pixels (no overlap) when given and smaller than the painting, to bound memory.

    Each tile's Gram matrix is an average over its pixels, so the tiles' matrices, weighted
    by their pixel counts, average to the whole painting's (up to the zero padding at tile
    borders).
    """
    height, width = image.shape[-2:]
    boxes = [(0, 0, height, width)]
    if tile is not None and max(height, width) > tile:
        boxes = tile_boxes(height, width, tile, 0)
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    for top, left, bottom, right in boxes:
        feats = run_network(extractor, image[..., top:bottom, left:right], layers, runtime)
        for name, f in feats.items():
            n = f.shape[-2] * f.shape[-1]
            gram = losses.gram_matrix(f) * n
            sums[name] = sums[name] + gram if name in sums else gram
            counts[name] = counts.get(name, 0) + n
    return {name: sums[name] / counts[name] for name in sums}


def blend_grams(grams: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float]
                ) -> dict[str, torch.Tensor]:
    """Weighted average of several paintings' Gram matrices (as ``compute_targets`` blends them)."""
    total = sum(weights)
    out: dict[str, torch.Tensor] = {}
    for gram, w in zip(grams, weights):
        for name, g in gram.items():
            out[name] = out[name] + g * (w / total) if name in out else g * (w / total)
    return out
