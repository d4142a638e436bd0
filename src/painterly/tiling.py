"""Optimising a large image tile by tile, so memory depends on the tile, not the image.

Each tile is optimised on its own (a fresh L-BFGS per tile: its history is what makes
whole-image L-BFGS expensive, 50 x 2 float copies of the image) against the content responses
of its own part of the photo and the *same* style Gram matrices as every other tile, computed
once per scale from the whole painting. Gram matrices are averages over pixels (see
``losses.gram_matrix``), so every tile is asked for the painting's statistics and the tiles
agree with each other.

Tiles overlap and are optimised one after another, row by row, each starting from the image
as painted so far (its finished neighbours' pixels in the overlap). The result is a weighted
sum of the tiles: along each axis, two neighbours cross-fade with a raised cosine half the
overlap wide, centred in the middle of the strip they share, and the weights of all tiles sum
to one at every pixel. A tile's own border, where the network saw zero padding instead of
the neighbouring pixels, lies outside its cross-fade (at least a quarter of the overlap away)
and is never kept.
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


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Evenly spaced tile offsets along one axis, covering [0, length), neighbours overlapping by
    at least ``overlap`` pixels; one tile if it fits.

    >>> tile_starts(1000, 512, 64), tile_starts(400, 512, 64)
    ([0, 244, 488], [0])
    """
    count = _axis_count(length, tile, overlap)
    if count == 1:
        return [0]
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _axis_count(length: int, tile: int, overlap: int) -> int:
    """How many tiles :func:`tile_starts` places along an axis (computed, not listed)."""
    if tile <= overlap:
        raise ValueError(f"tile size {tile} must be larger than the overlap {overlap}")
    if length <= tile:
        return 1
    return math.ceil((length - overlap) / (tile - overlap))


def tile_boxes(height: int, width: int, tile: int, overlap: int) -> list[Box]:
    """The tiles of an image (H,W), row by row."""
    ys, xs = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    return [(y, x, min(y + tile, height), min(x + tile, width)) for y in ys for x in xs]


def count_tiles(height: int, width: int, tile: int, overlap: int) -> int:
    """How many tile optimisations :func:`optimize_tiled` runs on an image (H,W); counted
    without listing the tiles, so planning a huge image costs nothing."""
    return _axis_count(height, tile, overlap) * _axis_count(width, tile, overlap)


def axis_weights(length: int, tile: int, overlap: int) -> list[torch.Tensor]:
    """Each tile's weight along one axis of ``length`` pixels, one (tile extent,) tensor per
    tile of :func:`tile_starts`; at every pixel the weights of the tiles covering it sum to 1.

    Neighbours cross-fade (raised cosine) over half the overlap, narrowed to the distance
    between tile starts where the tiles are that close, centred in the strip they share, so
    the outer quarter of the overlap at each tile edge is never kept.

    >>> [[round(v, 2) for v in w.tolist()] for w in axis_weights(8, 6, 4)]
    [[1.0, 1.0, 1.0, 0.85, 0.15, 0.0], [0.0, 0.15, 0.85, 1.0, 1.0, 1.0]]
    """
    starts = tile_starts(length, tile, overlap)
    ends = [min(start + tile, length) for start in starts]
    width = min([overlap // 2] + [b - a for a, b in zip(starts, starts[1:])])
    # A pixel's weight in the later of two tiles: 0 before the fade, 1 after it.
    fades = [_raised_cosine(torch.arange(length) + 0.5, (start + end) / 2, width)
             for start, end in zip(starts[1:], ends)]
    weights = []
    for i, (start, end) in enumerate(zip(starts, ends)):
        weight = torch.ones(length)
        if i > 0:
            weight = weight * fades[i - 1]
        if i < len(fades):
            weight = weight * (1 - fades[i])
        weights.append(weight[start:end])
    return weights


def _raised_cosine(positions: torch.Tensor, centre: float, width: int) -> torch.Tensor:
    """0 below ``centre - width / 2``, 1 above ``centre + width / 2``, a raised cosine between
    (a step at ``centre`` when width is 0)."""
    if width <= 0:
        return (positions >= centre).float()
    t = ((positions - centre) / width + 0.5).clamp(0, 1)
    return 0.5 - 0.5 * torch.cos(math.pi * t)


def tile_weights(height: int, width: int, tile: int, overlap: int) -> list[torch.Tensor]:
    """Write-back weight (1,1,h,w) of each tile of :func:`tile_boxes`, summing to 1 everywhere."""
    ys, xs = axis_weights(height, tile, overlap), axis_weights(width, tile, overlap)
    return [(wy[:, None] * wx[None, :])[None, None] for wy in ys for wx in xs]


def optimize_tiled(
    image: torch.Tensor,
    make_loss: Callable[[Box], LossFn],
    *,
    tile: int,
    overlap: int,
    steps: int,
    optimizer: str = "lbfgs",
    learning_rate: float = 0.02,
    on_step: StepHook | None = None,
) -> torch.Tensor:
    """Optimise image (1,3,H,W) tile by tile; returns a new image clamped to [0,1].

    make_loss(box) -> the loss function of that tile's pixels (its own content targets).
    Each tile gets ``steps`` optimiser steps; on_step(step, losses, image) counts steps over all
    tiles (:func:`count_tiles` times ``steps``) and receives the whole image as painted so far
    (the finished tiles; read it, do not keep it).
    """
    height, width = image.shape[-2:]
    start = image.detach()
    painted = torch.zeros_like(start)  # sum of the finished tiles, each times its weight
    covered = torch.zeros_like(start[:, :1])  # sum of their weights, 1 where the tiles are done
    boxes = tile_boxes(height, width, tile, overlap)
    weights = tile_weights(height, width, tile, overlap)
    for index, (box, weight) in enumerate(zip(boxes, weights)):
        top, left, bottom, right = box
        so_far = painted + start * (1 - covered)

        def hook(step, terms, pixels, offset=index * steps, so_far=so_far):
            if on_step is not None:
                on_step(offset + step, terms, so_far)

        result = optimize(so_far[..., top:bottom, left:right], make_loss(box), steps=steps,
                          optimizer=optimizer, learning_rate=learning_rate, on_step=hook)
        weight = weight.to(start.device)
        painted[..., top:bottom, left:right] += result * weight
        covered[..., top:bottom, left:right] += weight
    return painted.clamp(0, 1)


@torch.no_grad()
def painting_grams(extractor: FeatureExtractor, image: torch.Tensor, layers: Sequence[str],
                   runtime: Runtime, tile: int | None = None, kind: str = "gram"
                   ) -> dict[str, losses.StyleStatistic]:
    """Style statistics {layer: (1,C,C) Gram matrix, or the statistic of ``kind``} of a
    painting (1,3,h,w), computed in tiles of ``tile`` pixels (no overlap) when given and
    smaller than the painting, to bound memory.

    Each tile's statistic is an average over its pixels, so the tiles' statistics, weighted
    by their pixel counts, average to the whole painting's (up to the padding at tile
    borders); sliced samples are pooled the same way (``losses.blend_statistics``).
    """
    height, width = image.shape[-2:]
    boxes = [(0, 0, height, width)]
    if tile is not None and max(height, width) > tile:
        boxes = tile_boxes(height, width, tile, 0)
    parts: dict[str, list] = {}
    counts: dict[str, list[int]] = {}
    for top, left, bottom, right in boxes:
        feats = run_network(extractor, image[..., top:bottom, left:right], layers, runtime)
        for name, f in feats.items():
            parts.setdefault(name, []).append(losses.style_statistics(f, kind))
            counts.setdefault(name, []).append(f.shape[-2] * f.shape[-1])
    return {name: losses.blend_statistics(parts[name], counts[name]) for name in parts}


def blend_grams(grams: Sequence[Mapping[str, losses.StyleStatistic]], weights: Sequence[float]
                ) -> dict[str, losses.StyleStatistic]:
    """Weighted blend of several paintings' style statistics (as ``compute_targets`` blends them)."""
    return {name: losses.blend_statistics([g[name] for g in grams], weights) for name in grams[0]}
