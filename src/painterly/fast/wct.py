"""Any painting in one pass: universal style transfer (Li et al. 2017).

Li, Fang, Yang, Wang, Lu & Yang (2017, "Universal Style Transfer via Feature Transforms"):
encode the photo with VGG19 to ``reluN_1``, *whiten* its features (remove their correlations),
*colour* them with the painting's covariance and mean, and decode with a network trained only
to invert VGG19 (:mod:`.decoders`). Done coarse to fine (relu4_1, then relu3_1 of that
result, ... relu1_1), deep levels move the large structures, shallow ones the fine texture.
No network is trained on paintings, so any painting works at once.

Departures from Li et al.: three levels by default, relu4_1, relu3_1, then relu2_1 moved
0.7 of the way (``DEFAULT_LEVELS``, ``LEVEL_SHARES``; Li et al. go from relu5_1 to relu1_1 at
one strength, see ``decoders.DECODER_LAYERS``); the photo's covariance is whitened with a
ridge (``WHITENING_RIDGE``); eigenvalues
are cut relative to the largest one instead of at an absolute 1e-5, as painterly's features
are on Caffe's 0-255 scale; several paintings blend by the weighted sum of their transformed
features (Li et al.'s Sec. 4 interpolation); at relu4_1 a share of the move is made with the
painting's own patches (``SWAP_SHARE``, Sheng et al.'s style decorator); the decoded picture's
finest bands take the painting's histograms (:mod:`.detail`, Heeger & Bergen 1995).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import color, tiling
from ..devices import Runtime, resolve_runtime
from ..models.vgg import FeatureExtractor
from ..optimize import prepare_extractor, run_network
from .decoders import DECODER_LAYERS, Decoders, load_decoders
from .detail import DetailStats, apply_detail, detail_reach, detail_remap, detail_stats
from .paint import one_pass_side_and_tile

MIN_SIDE = 16
"""Smallest side, in pixels, of a picture to paint or take a painting's statistics from:
relu4_1 is 1/8 of it, and its decoder's reflection padding needs at least 2 responses."""
DEFAULT_LEVELS = ("relu4_1", "relu3_1", "relu2_1")
"""The levels painted when none are given, deep to shallow. Chosen on six tuning pairs (photos
astronaut and rocket; Renoir's Girls at the Piano, Hokusai's Kazusa Sea Route, Bazille's
Ramparts at Aigues-Mortes), none of them in the README's comparison, at 512 px, by
painterly's fp32 objective (medians): relu4_1 to relu1_1 gave style 3.23 and content 1.21,
relu4_1 to relu2_1 2.67 and 1.10, relu4_1 and relu3_1 2.65 and 0.94, relu4_1 alone 3.07 and
0.70, relu3_1 to relu1_1 4.12 and 0.95 (an earlier relu4_1 decoder). Painted all the way,
the shallow levels add a fine, sharp texture of their own that takes the picture further
from the painting and from the photo alike; relu2_1 moved half-way (``LEVEL_SHARES``) does
not: with the current decoders, relu4_1 and relu3_1 gave 2.50 and 0.90, adding relu2_1 at
full strength 2.28 and 1.03, at half 2.23 and 0.95, lower at every one of the five style
layers (relu1_1 1.31 to 0.86, relu5_1 5.57 to 5.49); at 0.3 and 0.7 of the way 2.35 / 0.91
and 2.19 / 0.98; relu1_1 a quarter of the way after it, 2.19 / 0.99. On the README's 15
held-out pairs it lowered the style loss on 12 and raised the content loss on all (median
ratios 0.92 and 1.07): a trade, made for the style the tuning pairs chose it for. With the
whitening's ridge (WHITENING_RIDGE) relu2_1 moves 0.7 of the way."""
LEVEL_SHARES = {"relu2_1": 0.7}
"""The share of the strength α each level moves by (1 where not listed): see DEFAULT_LEVELS
and WHITENING_RIDGE (0.5 before the ridge; with it, 0.7 gave the lower style loss)."""
WHITENING_RIDGE = 0.1
"""When painting, the photo's features are whitened by ``(Σ + λ m I)^(-1/2)``, with m the mean
eigenvalue of their covariance Σ and λ this ridge, instead of Li et al.'s ``Σ^(-1/2)``.

Plain whitening gives every direction of the photo's features unit variance, those where it
hardly varies (flat sky, a wall) as much as those that carry its shapes, and colouring then
spends the painting's variance on that amplified noise as on the shapes. With the ridge,
directions far below the mean variance stay quiet and the others are whitened nearly as
before, so more of the photo's structure survives; the result's covariance is the painting's
but for the photo's quietest directions. It did not remove the grid and streaks of flat
areas: those came from the relu4_1 decoder, at any ridge, until its grid stage
(``train_decoders.DecoderConfig.grid_weight``).

On the six tuning pairs of DEFAULT_LEVELS, at relu2_1's old half share, λ = 0.01, 0.1, 0.3
and 1 took the median content loss from 0.94 to 0.93, 0.90, 0.86 and 0.80, for style 2.25 →
2.24, 2.25, 2.32 and 2.56. At 0.1, moving relu2_1 0.7 of the way gave style 2.16 and content
0.93, closer to the painting and to the photo than the old default (0.03 and 0.2 at 0.7:
2.18 / 0.95 and 2.18 / 0.91). On the README's 15 held-out pairs both losses fell on 12 of
them (medians 2.20 → 2.11 and 1.01 → 0.96; content lower on all 15)."""
RELATIVE_EIGEN_FLOOR = 1e-5
"""Eigenvalues below this fraction of the largest are treated as zero (no division by them)."""
SWAP_LEVEL = "relu4_1"
"""The level whose move is partly a style swap (see SWAP_SHARE)."""
SWAP_SHARE = 0.3
"""At SWAP_LEVEL the photo's features move towards ``(1 - s) WCT(f) + s WCT(swap(f))``, s this
share: ``swap`` replaces each SWAP_PATCH x SWAP_PATCH patch of the whitened photo features by
the painting's own patch whose whitened version correlates best with it (Chen & Schmidt
2016's style swap, done in whitened space as Sheng, Lin, Shao & Wang 2018 do in Avatar-Net's
style decorator), the overlapping patches averaged; WCT then restores the covariance that
averaging lowers.

WCT matches only a painting's mean and covariance; its patches bring what lies beyond them
(which strokes sit next to which), and on the tuning pairs of DEFAULT_LEVELS they lowered
the style terms at relu3_1, relu4_1 and relu5_1, the deep gap WCT leaves. Medians over those
six pairs at 512 px (the example folder's JPEGs of the astronaut and the rocket), style /
content: no swap 2.21 / 0.85; s = 0.3, 0.5, 0.7 and 1: 2.06 / 0.87, 2.03 / 0.92, 2.08 / 0.98,
2.20 / 1.08 (swapped patches without the WCT after them, at s = 1: 2.33 / 1.04; patches
taken at every other position, s = 0.3 and 0.5: 2.10 / 0.88 and 2.08 / 0.92; 1x1 patches,
2.13 / 0.87 and 2.13 / 0.90; at 0.3, the painting whitened for matching with a ridge of 0.01
or 1 instead of 0.1: 2.07 / 0.87 and 2.05 / 0.87, no different). 0.3 buys most of the style
for the least of the photo. On the README's 15 held-out pairs it lowered the style loss on
all 15 (median ratio 0.92) and raised the content loss on 14 (median ratio 1.02). Those
figures are for 3x3 patches at every position; see SWAP_PATCH for today's."""
SWAP_PATCH = 9
"""Side, in SWAP_LEVEL responses (8 pixels each), of the patches the swap matches and pastes;
the painting's patches are taken every SWAP_STRIDE responses, down and across. Larger patches
carry more of how the painting's strokes sit together, and on the six tuning pairs (the same
as SWAP_SHARE's, medians, style / content, at s = 0.3) each larger size tried lowered the
style loss, at the same content loss: 3x3 at every position 2.06 / 0.87; 3x3 every 2nd 2.09 /
0.87; 5x5 every 2nd 1.97 / 0.87 (every position: 1.97 / 0.88); 7x7 every 2nd 1.92 / 0.87,
every 3rd 1.94 / 0.87; 9x9 every 3rd 1.90 / 0.87; 13x13 every 4th 1.86 / 0.87. Pasting only
the centre 3x3 of each matched patch lost most of the gain (9x9: 2.01 / 0.89). 9x9 every 3rd
gives most of the gain, at no more cost than 3x3 at every position (see :func:`patch_scores`:
both multiply every painting position with every photo position once); at s = 0.4 and 0.5
with 5x5 patches: 1.94 / 0.89 and 1.92 / 0.91, so the share stays."""
SWAP_STRIDE = 3
"""See SWAP_PATCH."""


@dataclass(frozen=True)
class PatchBank:
    """A painting's features at one layer, to be cut into size x size patches by
    :func:`style_swap`: one patch every ``stride`` positions down and across, rows x cols of them.

    whitened: (H,W,C) float32, the painting's whitened features, one row of channels per
    position, cropped to the patches' extent: H = (rows - 1) * stride + size, W likewise.
    scales: (rows, cols) float32, the reciprocal of each whitened patch's norm.
    features: (1,C,h,w) float32, the painting's own features the swap copies from.
    """

    whitened: torch.Tensor
    scales: torch.Tensor
    features: torch.Tensor
    size: int = SWAP_PATCH
    stride: int = 1


DETAIL_KEY = "pixels"
"""Where a painting's statistics (:meth:`UniversalPainter.style`) keep its :class:`DetailStats`."""


@dataclass(frozen=True)
class FeatureStats:
    """A painting's features at one layer: mean (C,1) and colouring matrix (C,C), the
    symmetric square root of their covariance; at SWAP_LEVEL also its :class:`PatchBank`."""

    mean: torch.Tensor
    colouring: torch.Tensor
    patches: PatchBank | None = None


PaintingStats = dict[str, "FeatureStats | DetailStats"]
"""A painting's statistics: a :class:`FeatureStats` for each level, keyed by layer, and its
:class:`DetailStats` under DETAIL_KEY."""


def _rows(features: torch.Tensor) -> torch.Tensor:
    """features (1,C,h,w) -> (h*w, C) float32, one row per position: a plain cast of the
    channels_last features that painterly's encoder gives (a copy with reordering otherwise)."""
    return features[0].permute(1, 2, 0).reshape(-1, features.shape[1]).float()


def _unrows(rows: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """rows (h*w, C) -> (1,C,h,w), h and w those of ``like``: a channels_last view."""
    return rows.view(1, *like.shape[-2:], rows.shape[1]).permute(0, 3, 1, 2)


def _moments(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """features (1,C,h,w) -> mean (C,1) and covariance (C,C), float32."""
    return _row_moments(_rows(features))


def _row_moments(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_moments` of features given as their :func:`_rows` (N,C)."""
    mean = rows.mean(dim=0, keepdim=True)
    centred = rows - mean
    return mean.T, centred.T @ centred / max(rows.shape[0] - 1, 1)


ContentTransform = tuple[torch.Tensor, torch.Tensor]
"""A photo's features at one layer: their mean (C,1) and whitening matrix (C,C)."""


Eigen = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""A covariance's eigenvalues (C,), eigenvectors (C,C) and which eigenvalues to keep (C,)."""


def _eigen(covariance: torch.Tensor) -> Eigen:
    """The eigendecomposition of a covariance (C,C), in float32; eigenvalues below
    ``RELATIVE_EIGEN_FLOOR`` of the largest are marked to be dropped."""
    values, vectors = torch.linalg.eigh(covariance.float())
    return values, vectors, values > values.max().clamp_min(0) * RELATIVE_EIGEN_FLOOR


def _matrix_power(eigen: Eigen, power: float, ridge: float = 0.0) -> torch.Tensor:
    """Symmetric ``(covariance + ridge * mean eigenvalue * I) ** power`` (C,C) for power ±1/2,
    from the covariance's :func:`_eigen`; the dropped directions are set to zero, so a flat
    or rank-deficient picture never divides by zero."""
    values, vectors, keep = eigen
    values = values + ridge * values.clamp_min(0).mean()
    scaled = torch.where(keep, values.clamp_min(1e-30).pow(power), torch.zeros_like(values))
    return (vectors * scaled) @ vectors.T


def feature_stats(features: torch.Tensor, patches: bool = False) -> FeatureStats:
    """A painting's :class:`FeatureStats` from its features (1,C,h,w); with its
    :class:`PatchBank` if ``patches`` and the features hold a SWAP_PATCH-sided patch."""
    mean, covariance = _moments(features)
    eigen = _eigen(covariance)
    bank = (patch_bank(features, (mean, _matrix_power(eigen, -0.5, WHITENING_RIDGE)))
            if patches and min(features.shape[-2:]) >= SWAP_PATCH else None)
    return FeatureStats(mean, _matrix_power(eigen, 0.5), bank)


def patch_bank(features: torch.Tensor, transform: ContentTransform | None = None,
               size: int = SWAP_PATCH, stride: int = SWAP_STRIDE) -> PatchBank:
    """The :class:`PatchBank` of a painting's features (1,C,h,w), h and w at least ``size``
    (odd): its size x size patches every ``stride`` positions. The features are whitened by
    ``transform``, by default the same ridge's as a photo's
    (``content_transform(features, WHITENING_RIDGE)``)."""
    features = features.float()
    transform = transform if transform is not None else content_transform(features, WHITENING_RIDGE)
    whitened = _whiten(features, transform)[0].permute(1, 2, 0)  # (h, w, C)
    # Each patch's norm: the root of the sum of its positions' squared norms.
    squares = whitened.square().sum(dim=2)[None, None]
    norms = F.avg_pool2d(squares, size, stride)[0, 0].mul_(size * size).sqrt_().clamp_min_(1e-12)
    rows, cols = norms.shape
    extent = whitened[:(rows - 1) * stride + size, :(cols - 1) * stride + size].contiguous()
    return PatchBank(extent, norms.reciprocal(), features, size, stride)


SCORE_BLOCK = 1 << 24
"""Most elements of the (painting positions x photo positions) product :func:`patch_scores`
holds at once (64 MB in float32); larger photos are scored in bands of rows."""


def patch_scores(whitened: torch.Tensor, bank: PatchBank,
                 dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    """Whitened content features (1,C,h,w) -> (L,h,w) float32, L = rows x cols: the
    correlation of the k x k patch centred on each content position (the content padded by
    reflection) with each of the bank's patches, divided by the bank patch's norm.

    Chen & Schmidt (2016) compute this as one convolution with the L normalised patches as
    kernels: L x h*w x C x k*k multiply-adds. Here the same sums are regrouped: one matrix
    product gives the dot products of every painting position with every content position,
    and a patch pair's correlation is the sum of k*k of them along a shifted diagonal, added
    as k shifts across and then k down. For 9x9 patches every 3rd position that is about 7
    times fewer multiply-adds (3 times faster at 512 px on an AVX2 CPU). The product runs in
    ``dtype`` (the runtime's: bf16 where the CPU multiplies it natively), the sums in float32.
    """
    size, stride = bank.size, bank.stride
    radius = size // 2
    rows, cols = bank.scales.shape
    _, channels, h, w = whitened.shape
    painting = bank.whitened.to(dtype).view(-1, channels)  # (H*W, C)
    tall, wide = bank.whitened.shape[:2]
    padded = F.pad(whitened.float(), (radius,) * 4, mode="reflect")[0].to(dtype).contiguous()
    width = w + 2 * radius
    band = max(1, SCORE_BLOCK // (painting.shape[0] * width) - 2 * radius)
    scores = torch.zeros(rows, cols, h, w, device=whitened.device)
    for top in range(0, h, band):
        height = min(band, h - top)
        window = padded[:, top:top + height + 2 * radius].reshape(channels, -1)
        dots = (painting @ window).view(tall, wide, height + 2 * radius, width)
        across = torch.zeros(tall, cols, height + 2 * radius, w, device=whitened.device)
        for dx in range(size):
            across += dots[:, dx:dx + (cols - 1) * stride + 1:stride, :, dx:dx + w]
        band_scores = scores[:, :, top:top + height]
        for dy in range(size):
            band_scores += across[dy:dy + (rows - 1) * stride + 1:stride, :, dy:dy + height]
    return scores.mul_(bank.scales[..., None, None]).view(rows * cols, h, w)


def style_swap(whitened: torch.Tensor, bank: PatchBank,
               dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    """Whitened content features (1,C,h,w) -> (1,C,h,w) float32 made of the painting's patches.

    h and w must exceed half the bank's patch side (the content is padded by reflection).
    Each k x k patch of the whitened content is matched to the painting's patch of highest
    normalised cross-correlation (:func:`patch_scores`; the content patch's own norm does not
    change which), and every position takes the mean of the painting's features over the
    matched patches that cover it.
    """
    _, channels, h, w = whitened.shape
    radius, stride = bank.size // 2, bank.stride
    best = patch_scores(whitened, bank, dtype).argmax(0)  # (h, w): each position's patch
    width = bank.features.shape[-1]
    columns = bank.scales.shape[1]  # patches in a row of the bank
    # Each content position's matched patch, by the painting position of its centre.
    centre = (best // columns * stride + radius) * width + best % columns * stride + radius
    centres = centre.new_full((h + 2 * radius, w + 2 * radius), -1)  # -1: no patch there
    centres[radius:radius + h, radius:radius + w] = centre
    source = _rows(bank.features)  # (N,C)
    outside = len(source)  # the index of a zero row
    covering = []
    for dy in range(-radius, radius + 1):  # the patch centred at (y - dy, x - dx) covers
        for dx in range(-radius, radius + 1):  # (y, x) with its cell (dy, dx)
            at = centres[radius - dy:radius - dy + h, radius - dx:radius - dx + w]
            covering.append(torch.where(at >= 0, at + dy * width + dx, outside))
    index = torch.stack(covering, dim=-1).view(h * w, -1)  # (h*w, k*k) rows of source
    # One bag of rows per position, summed in one pass: 6 times faster than k*k gathers.
    total = F.embedding_bag(index, torch.cat([source, source.new_zeros(1, channels)]), mode="sum")
    mean = total / (index < outside).sum(dim=1, keepdim=True)
    return mean.view(h, w, channels).permute(2, 0, 1)[None]


def _whiten(features: torch.Tensor, transform: ContentTransform,
            rows: torch.Tensor | None = None) -> torch.Tensor:
    """features (1,C,h,w) -> (1,C,h,w) float32, centred and whitened by ``transform``;
    rows: the features' :func:`_rows`, where the caller has them already."""
    mean, whitening = transform
    rows = _rows(features) if rows is None else rows
    return _unrows(_apply(rows, whitening, -whitening @ mean), features)


def _apply(rows: torch.Tensor, matrix: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``matrix @ f + shift`` for every row f of rows (N,C): (N,C) float32, one matrix product.
    matrix (C,C), shift (C,1)."""
    return torch.addmm(shift.T, rows, matrix.T)


def content_transform(features: torch.Tensor, ridge: float = 0.0) -> ContentTransform:
    """The mean and whitening matrix of features (1,C,h,w): ``covariance ** -1/2``, or with a
    ridge (see WHITENING_RIDGE)."""
    return _rows_transform(_rows(features), ridge)


def _rows_transform(rows: torch.Tensor, ridge: float) -> ContentTransform:
    """:func:`content_transform` of features given as their :func:`_rows`."""
    mean, covariance = _row_moments(rows)
    return mean, _matrix_power(_eigen(covariance), -0.5, ridge)


def whiten_colour(content: torch.Tensor, styles: Sequence[tuple[FeatureStats, float]],
                  strength: float = 1.0, transform: ContentTransform | None = None) -> torch.Tensor:
    """The WCT of Li et al. (Sec. 3.2): content (1,C,h,w) -> (1,C,h,w) float32 features whose
    mean and covariance are the painting's (for one painting at strength 1).

    styles: (stats, weight) pairs, weights summing to 1; strength α in [0,1] blends the
    result with the content features (α f_cs + (1-α) f_c, Li et al.'s eq. 3).
    transform: the content's mean and whitening matrix, when they come from elsewhere (the
    whole picture, for a tile of it); default: computed from ``content``.
    """
    transform = transform if transform is not None else content_transform(content)
    matrix, shift = _blend(_wct_affine(transform, styles), strength, 1 - strength)
    return _unrows(_apply(_rows(content), matrix, shift), content)


def _wct_affine(transform: ContentTransform, styles: Sequence[tuple[FeatureStats, float]]
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """WCT as one affine map f -> matrix @ f + shift, matrix (C,C), shift (C,1):
    ``K W (f - μ) + m`` with W, μ the content's whitening and mean, and K, m the weighted sums
    of the paintings' colouring matrices and means (blending the coloured features by weight,
    Li et al.'s Sec. 4, is the same as colouring with the blend)."""
    mean, whitening = transform
    colouring = sum(weight * stats.colouring for stats, weight in styles)
    style_mean = sum(weight * stats.mean for stats, weight in styles)
    matrix = colouring @ whitening
    return matrix, style_mean - matrix @ mean


def _blend(affine: tuple[torch.Tensor, torch.Tensor], share: float, keep: float
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """The affine map f -> share * affine(f) + keep * f."""
    matrix, shift = affine
    return share * matrix + keep * torch.eye(len(matrix), device=matrix.device), share * shift


class UniversalPainter:
    """VGG19 (max pooling, as the decoders were trained) and the decoders, ready to paint.

    ``painter.style(painting)`` computes a painting's statistics once (reuse them for many
    photos or frames); ``painter.paint(photo, [(stats, weight), ...], strength)`` paints.
    Images are (1,3,H,W) float in [0,1], any H and W of at least 16 pixels. Pictures larger
    than ``tile_size`` on a side (None: paint.ONE_PASS_SIDE) are painted in overlapping
    tiles (of paint.DEFAULT_TILE for None) that all use the whitening of the whole picture
    (shrunk to one tile), so memory stays flat and no seam appears.
    swap_share: SWAP_SHARE, or 0 for plain WCT (steadier from one video frame to the next:
    the swap's choice of patches changes with small changes of the picture).
    detail: give the decoded picture the painting's finest bands (:mod:`.detail`); a
    painting's statistics then hold them under ``DETAIL_KEY``.
    """

    def __init__(self, decoders: Decoders | None = None, extractor: FeatureExtractor | None = None,
                 runtime: Runtime | None = None, levels: Sequence[str] | None = None,
                 tile_size: int | None = None, tile_overlap: int = 64,
                 swap_share: float = SWAP_SHARE, detail: bool = True):
        # As the fast styles (paint.ONE_PASS_SIDE): a 1920x1080 photo took 12.0 s and 1.83 GB
        # in one pass on a 2-core Xeon, 26.3 s and 1.33 GB in 1024 px tiles; 2048x1365 16.5 s
        # and 2.25 GB against 39.1 s and 1.54 GB.
        self.one_pass_side, tile_size = one_pass_side_and_tile(tile_size)
        if tile_size < 2 * tile_overlap + 32:
            raise ValueError(f"tile_size must be at least twice tile_overlap + 32, got {tile_size}")
        self.runtime = runtime or resolve_runtime("auto", "fp32")
        if self.runtime.winograd:  # NNPACK's NCHW throughout: 2.0 s a 512 px picture, not 2.2
            self.runtime = dataclasses.replace(self.runtime, channels_last=False)
        decoders = decoders or load_decoders()
        if levels is None:  # the default levels; decoders without them: all, deep to shallow
            levels = (DEFAULT_LEVELS if set(DEFAULT_LEVELS) <= decoders.nets.keys() else
                      [layer for layer in DECODER_LAYERS[::-1] if layer in decoders.nets])
        missing = [layer for layer in levels if layer not in decoders.nets]
        if missing:
            raise ValueError(f"no decoder for {', '.join(missing)}; these decoders invert "
                             f"{', '.join(decoders.nets)}")
        if extractor is None:
            from ..pipeline import load_vgg19
            extractor = load_vgg19(None, "auto", "max")
        self.levels = tuple(levels)
        self.tile_size, self.tile_overlap = tile_size, tile_overlap
        self.swap_share, self.detail = swap_share, detail
        self.statistics_edge = tile_size  # long edge of the picture the tiles' whitening is from
        deepest = max(self.levels, key=extractor.names.index)
        # A copy: the extractor may be the cached VGG19 the optimiser shares, and moving it to
        # this painter's device and precision in place would change it under the optimiser.
        # In the runtime's memory format (channels_last on the CPU, oneDNN's own), as the
        # optimiser's VGG19: otherwise every convolution reorders its input and output (44% of
        # a picture's time).
        self.encoder = prepare_extractor(copy.deepcopy(extractor.truncated(deepest)), self.runtime)
        self.decoders = {layer: prepare_extractor(decoders.nets[layer], self.runtime)
                         for layer in self.levels}

    @torch.inference_mode()
    def style(self, painting: torch.Tensor, detail_from: torch.Tensor | None = None
              ) -> PaintingStats:
        """painting (1,3,h,w) in [0,1] -> its statistics at every level, and its detail from
        ``detail_from`` (the same painting at full size, if it was shrunk; :mod:`.detail`)."""
        _check_side(painting, "painting")
        features = self._encode(_pad_to_multiple(painting.float(), 8), self.levels)
        stats: PaintingStats = {
            layer: feature_stats(features[layer], patches=layer == SWAP_LEVEL and self.swap_share > 0)
            for layer in self.levels}
        if self.detail:
            source = painting if detail_from is None else detail_from
            stats[DETAIL_KEY] = detail_stats(source.to(self.runtime.device))
        return stats

    @torch.inference_mode()
    def paint(self, photo: torch.Tensor, styles: Sequence[tuple[PaintingStats, float]],
              strength: float = 1.0, preserve_color: str = "none") -> torch.Tensor:
        """photo (1,3,H,W) in [0,1] -> (1,3,H,W) float32 in [0,1] on the CPU.

        styles: (statistics from :meth:`style`, weight) pairs; the weights are normalised.
        strength: α in [0,1], how far each level moves towards the paintings (times the
        level's ``LEVEL_SHARES``).
        preserve_color: "none", "luminance" (the result's lightness with the photo's
        colours) or "histogram" (the result recoloured to the photo's colour statistics).
        """
        if not 0 <= strength <= 1:
            raise ValueError(f"strength must be between 0 and 1, got {strength!r}")
        total = sum(weight for _, weight in styles)
        if not styles or not total > 0:
            raise ValueError("give at least one painting with a positive weight")
        pairs = [(stats, weight / total) for stats, weight in styles if weight > 0]
        _check_side(photo, "photo")
        photo = photo.to(self.runtime.device, torch.float32)
        details = self._details(pairs)
        if max(photo.shape[-2:]) > self.one_pass_side:
            painted = self._tiled(photo, pairs, strength, details)
        else:
            painted = self._levels(photo, pairs, strength)
            if details:
                painted = apply_detail(painted, detail_remap(painted, details), strength)
        return _preserve(painted, photo, preserve_color).cpu()

    def _details(self, pairs) -> list[tuple[DetailStats, float]]:
        """The paintings' detail and weights; none unless this painter and every painting
        have it."""
        if not self.detail or any(DETAIL_KEY not in stats for stats, _ in pairs):
            return []
        return [(stats[DETAIL_KEY], weight) for stats, weight in pairs]

    def _levels(self, photo: torch.Tensor, pairs, strength: float,
                fixed: dict[str, ContentTransform] | None = None,
                record: dict[str, ContentTransform] | None = None) -> torch.Tensor:
        """Coarse to fine over the levels: encode, transform, decode. fixed: each level's
        content transform to use instead of the picture's own; record: filled with them."""
        image = _pad_to_multiple(photo, 8)
        transforms = {} if record is None else record
        for layer in self.levels:
            features = self._encode(image, [layer])[layer]
            moved = self._move(layer, features, pairs, strength * LEVEL_SHARES.get(layer, 1.0),
                               fixed, transforms)
            moved = moved.to(self.runtime.dtype, memory_format=self.runtime.memory_format)
            image = self.decoders[layer](moved).float().clamp_(0, 1)
        return image[..., :photo.shape[-2], :photo.shape[-1]]

    def _move(self, layer: str, features: torch.Tensor, pairs, strength: float,
              fixed: dict[str, ContentTransform] | None,
              transforms: dict[str, ContentTransform]) -> torch.Tensor:
        """One level's features (1,C,h,w) moved towards the paintings: WCT, and at SWAP_LEVEL
        partly the WCT of their style swap. The content transforms come from ``fixed`` (keyed
        by layer, and layer + ":swap" for the swapped features) when given, and are recorded
        in ``transforms``."""
        def transform(key: str, rows: torch.Tensor) -> ContentTransform:
            transforms[key] = (fixed[key] if fixed is not None
                               else _rows_transform(rows, WHITENING_RIDGE))
            return transforms[key]

        styles = [(stats[layer], weight) for stats, weight in pairs]
        swap = (layer == SWAP_LEVEL and self.swap_share > 0
                and all(stats.patches is not None for stats, _ in styles)
                and min(features.shape[-2:]) > SWAP_PATCH // 2  # room for reflection
                and (fixed is None or layer + ":swap" in fixed))  # as the whole picture did
        share = 1 - self.swap_share if swap else 1.0
        rows = _rows(features)  # one float32 copy, shared by every product below
        own = transform(layer, rows)
        # α((1-s) WCT(f) + s WCT(swap(f))) + (1-α) f: all but the swap's part is one affine
        # map of f, so one matrix product.
        plain = _blend(_wct_affine(own, styles), strength * share, 1 - strength)
        moved = _apply(rows, *plain)
        if swap:
            whitened = _whiten(features, own, rows)
            swapped = _rows(sum(weight * style_swap(whitened, stats.patches, self.runtime.dtype)
                                for stats, weight in styles))
            swapped_wct = _wct_affine(transform(layer + ":swap", swapped), styles)
            moved.add_(_apply(swapped, *swapped_wct), alpha=strength * self.swap_share)
        return _unrows(moved, features)

    def _tiled(self, photo: torch.Tensor, pairs, strength: float,
               details: list[tuple[DetailStats, float]]) -> torch.Tensor:
        """Tiles with ``tile_overlap`` context on each side, starting on the 8-pixel grid of
        relu4_1, cross-faded (``tiling.tile_weights``); every tile whitens with the
        transforms of the whole picture shrunk to one tile, and remaps its detail as that
        picture's bands say the whole one's are."""
        h, w = photo.shape[-2:]
        scale = min(1.0, self.statistics_edge / max(h, w))
        small_size = (max(MIN_SIDE, round(h * scale)), max(MIN_SIDE, round(w * scale)))
        small = photo if scale == 1.0 else F.interpolate(photo, size=small_size, mode="area")
        whole: dict[str, ContentTransform] = {}
        small_painted = self._levels(small, pairs, strength, record=whole)
        remap = detail_remap(small_painted, details, edge=max(h, w)) if details else []
        out = torch.zeros_like(photo)
        boxes = tiling.tile_boxes(h, w, self.tile_size, self.tile_overlap)
        weights = tiling.tile_weights(h, w, self.tile_size, self.tile_overlap)
        margin = self.tile_overlap + detail_reach(remap)  # the decoders' context, then the bands'
        for (top, left, bottom, right), weight in zip(boxes, weights):
            y0, x0 = (max(0, top - margin) // 8) * 8, (max(0, left - margin) // 8) * 8
            y1, x1 = min(h, bottom + margin), min(w, right + margin)
            painted = self._levels(photo[..., y0:y1, x0:x1], pairs, strength, fixed=whole)
            painted = apply_detail(painted, remap, strength)
            out[..., top:bottom, left:right] += painted[..., top - y0:bottom - y0,
                                                        left - x0:right - x0] * weight.to(out)
        return out

    def _encode(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        return run_network(self.encoder, image.to(self.runtime.device), layers, self.runtime)


def _check_side(image: torch.Tensor, what: str) -> None:
    h, w = image.shape[-2:]
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"the {what} is {w}x{h} px; painting with a picture of a painting needs "
                         f"at least {MIN_SIDE} px on each side")


def _pad_to_multiple(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflection-pad (1,3,H,W) on the bottom and right so H and W divide by ``multiple``
    (relu4_1 is 1/8 of the picture: the decoder's output then has the padded size)."""
    h, w = image.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if not (pad_h or pad_w):
        return image
    return F.pad(image, (0, pad_w, 0, pad_h), mode="reflect")


def _check_preserve(mode: str) -> None:
    if mode not in ("none", "luminance", "histogram"):
        raise ValueError(f"preserve_color must be none, luminance or histogram; got {mode!r}")


def _preserve(painted: torch.Tensor, photo: torch.Tensor, mode: str) -> torch.Tensor:
    _check_preserve(mode)
    if mode == "luminance":
        return color.recombine_chroma(painted, photo).clamp_(0, 1)
    if mode == "histogram":
        return color.match_color(painted, photo)
    return painted


class PaintingPainter:
    """Paint with paintings given as pictures, no training: an engine for ``painterly fast``,
    video and batches.

    paintings: (image (1,3,h,w) in [0,1], weight) pairs, each shrunk to ``style_size`` on
    its long edge before its statistics are taken. ``painter(image)``: (B,3,H,W) in [0,1]
    -> (B,3,H,W) float32 in [0,1] on the CPU. video: frames of a clip, painted without the
    style swap (``UniversalPainter``'s swap_share 0), which doubled the flicker of each frame
    painted alone on the README's real clip, and without the painting's finest bands, which
    raised it by about half on the flicker benchmark's synthetic clips (docs/universal.md).
    """

    def __init__(self, paintings: Sequence[tuple[torch.Tensor, float]], *, strength: float = 1.0,
                 preserve_color: str = "none", style_size: int = 512,
                 runtime: Runtime | None = None, tile_size: int | None = None,
                 universal: UniversalPainter | None = None, video: bool = False):
        if not 0 <= strength <= 1:
            raise ValueError(f"strength must be between 0 and 1, got {strength!r}")
        _check_preserve(preserve_color)
        self.universal = universal or UniversalPainter(runtime=runtime, tile_size=tile_size,
                                                       swap_share=0.0 if video else SWAP_SHARE,
                                                       detail=not video)
        self.strength, self.preserve_color = strength, preserve_color
        self.styles = [(self.universal.style(_shrink(image, style_size), detail_from=image), weight)
                       for image, weight in paintings]

    @property
    def runtime(self) -> Runtime:
        """The runtime it paints in (its universal painter's), as FastPainter.runtime."""
        return self.universal.runtime

    def describe(self) -> str:
        """Where and how it paints, for the user: the whitening's decompositions are fp32
        whatever the network's precision (see ``_eigen``)."""
        return self.runtime.describe(fp32="whitening")

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.universal.paint(one[None], self.styles, self.strength,
                                               self.preserve_color) for one in image])


def _shrink(image: torch.Tensor, long_edge: int) -> torch.Tensor:
    """Shrink (1,3,h,w) to ``long_edge`` on its long side, never below MIN_SIDE on the other."""
    h, w = image.shape[-2:]
    scale = long_edge / max(h, w)
    if scale >= 1:
        return image
    size = (max(MIN_SIDE, round(h * scale)), max(MIN_SIDE, round(w * scale)))
    return F.interpolate(image.float(), size=size, mode="area")
