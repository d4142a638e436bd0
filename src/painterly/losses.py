"""The terms of Gatys et al.'s objective, as pure functions.

Departure from the paper: Gatys et al. rescale VGG19 so that every filter's mean activation
is one, which makes the layers' losses comparable under equal weights. Raw VGG19 layers
differ by five orders of magnitude, so instead each layer's loss is divided by its target's
mean square: every term becomes a relative error, and the same weights work for every
weights file and pooling mode.

All functions compute in float32 (or float64 if given float64) whatever the features'
dtype, so bf16/fp16 networks do not lose precision in the statistics (Gram matrices are
sums over every pixel and overflow fp16 quickly).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Union

import torch


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _for_products(x: torch.Tensor) -> torch.Tensor:
    """bf16 stays bf16 (its products accumulate in fp32 and it has fp32's range); fp16, whose
    Gram entries could overflow, becomes float32."""
    return x if x.dtype in (torch.float32, torch.float64, torch.bfloat16) else x.float()


class _Gram(torch.autograd.Function):
    """``G = X^T X / N`` for X: (B,N,C) with a one-matmul backward ``dX = X (dG + dG^T) / N``.

    Autograd's generic backward would run two matmuls (one per operand) and add them.

    For bf16 responses (the network's output on CPUs and GPUs with native bf16) both products
    run in bf16 with fp32 accumulation: G then carries bf16's 3 significant digits, and the
    gradient goes back into a bf16 network anyway. On a 2-core AVX512-BF16 CPU this made the
    products 3-7 times faster than in fp32 and a 512 px run 16% sooner, with the finished
    picture's fp32 objective within 0.5% (0.787 against 0.791, cat x Starry Night).

    Both run outside autocast, so an autocast (fast-style training) cannot change their dtype.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        with torch.autocast(x.device.type, enabled=False):
            return _as_float(torch.bmm(x.transpose(1, 2), x)) / x.shape[1]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        with torch.autocast(x.device.type, enabled=False):
            # Scale the small (C,C) factor, not the large (N,C) result.
            return torch.bmm(x, ((grad + grad.transpose(1, 2)) / x.shape[1]).to(x.dtype))


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Channel correlations of a layer's responses.

    features: (B,C,H,W) -> (B,C,C), ``G_ij = sum_k F_ik F_jk / (H W)``, returned in float32
    (float64 if given float64); computed in bf16 with fp32 sums for bf16 features (see
    ``_Gram``), in float32 otherwise.

    Gatys et al. (2015, eq. 3) use the unnormalised sum and divide by ``M_l^2 = (HW)^2`` in the
    loss (eq. 4); dividing here instead makes the matrix independent of image size, so a
    painting's statistics can be computed at one size and matched at another.
    """
    b, c, h, w = features.shape
    # (B,H,W,C) order: a free view for channels_last tensors, the layout the network runs in.
    pixels_by_channels = _for_products(features.permute(0, 2, 3, 1).reshape(b, h * w, c))
    return _Gram.apply(pixels_by_channels)


EPS = 1e-8


def relative_squared_error(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean((value - target)^2) / mean(target^2)``: 0 when equal, 1 when value is zero."""
    value, target = _as_float(value), _as_float(target)
    return torch.mean((value - target) ** 2) / (torch.mean(target**2) + EPS)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gatys et al. eq. 1 as a relative error; features and target: (B,C,H,W) -> scalar."""
    return relative_squared_error(features, target)


def style_layer_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Gatys et al. eq. 4 for one layer, as a relative error of the Gram matrix.

    features: (B,C,H,W); target_gram: (B,C,C) or (1,C,C) -> scalar: each image's relative
    error against its own target, averaged over the batch (a batch may mix paintings).
    """
    gram = gram_matrix(features)
    target = _as_float(target_gram).expand_as(gram)
    error = torch.mean((gram - target) ** 2, dim=(1, 2)) / (torch.mean(target**2, dim=(1, 2)) + EPS)
    return error.mean()


# --- Style distances beyond the Gram matrix -------------------------------------------------
#
# A painting's style at one layer is a *statistic* of its responses, computed once per scale:
#   gram     a (1,C,C) tensor, the Gram matrix above (Gatys et al. 2015);
#   meancov  a MeanCov: mean and second moment, compared as Gaussians by the 2-Wasserstein
#            distance (as in crowsonkb's style-transfer-pytorch, 2023);
#   sliced   a Samples: the response vectors themselves, compared by the sliced Wasserstein
#            distance along random directions re-drawn every step (Heitz et al. 2021).
# Every statistic is an average over pixels (optionally weighted, for masks), so a blend of
# paintings is their weighted average (the statistic of the mixture of their pixels) and every
# tile of a large output is asked for the whole painting's statistic.

STYLE_LOSSES = ("gram", "meancov", "sliced")
MAX_SAMPLES = 65536
"""Response vectors kept per layer for the sliced distance: its quantiles are interpolated,
so a subsample of a large painting changes them little and bounds the per-step sort."""


class MeanCov(NamedTuple):
    """mean: (B,C) and moment: (B,C,C), ``E[f f^T]`` (the Gram matrix), of a layer's responses."""

    mean: torch.Tensor
    moment: torch.Tensor


class Samples(NamedTuple):
    """features: (N,C), response vectors of the painting(s), each one pixel of equal weight."""

    features: torch.Tensor


StyleStatistic = Union[torch.Tensor, MeanCov, Samples]


def _pixels(features: torch.Tensor) -> torch.Tensor:
    """(B,C,H,W) -> (B,H*W,C) in float32 (float64 if given float64)."""
    b, c, h, w = features.shape
    return _as_float(features.permute(0, 2, 3, 1).reshape(b, h * w, c))


def _pixel_weights(weights: torch.Tensor | None, features: torch.Tensor) -> torch.Tensor | None:
    """(B or 1,1,H,W) >= 0 -> (B or 1,H*W,1) summing to one per image, or None."""
    if weights is None:
        return None
    flat = _as_float(weights).flatten(1).unsqueeze(-1).to(_as_float(features[:0]).dtype)
    return flat / (flat.sum(dim=1, keepdim=True) + EPS)


def _subsample(rows: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` rows of (N,C), a fixed pseudo-random choice (repeating rows if count > N)."""
    n = rows.shape[0]
    if count == n:
        return rows
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0)).to(rows.device)
    return rows[order[torch.arange(count, device=rows.device) % n]]


def style_statistics(features: torch.Tensor, kind: str,
                     pixel_weights: torch.Tensor | None = None) -> StyleStatistic:
    """One layer's style statistic of ``kind`` (gram, meancov, sliced); features (1,C,H,W).

    pixel_weights: (1,1,H,W) >= 0, a weighted average over pixels instead of the plain one
    (masks.py passes the squared guide, as its guided Gram matrices weight pixels); for
    ``sliced`` it only selects the pixels of weight > 0 (samples carry no weights).
    """
    if kind not in STYLE_LOSSES:
        raise ValueError(f"style_loss must be one of {', '.join(STYLE_LOSSES)}, got {kind!r}")
    x, w = _pixels(features), _pixel_weights(pixel_weights, features)
    if kind == "sliced":
        rows = x.reshape(-1, x.shape[-1])
        if w is not None:  # keep the pixels that count, each as often as its weight allows
            rows = rows[w.reshape(-1) > 0]
        return Samples(_subsample(rows, min(rows.shape[0], MAX_SAMPLES)))
    if w is None:
        moment, mean = gram_matrix(features), x.mean(dim=1)
    else:
        moment, mean = torch.bmm(x.transpose(1, 2), x * w), (x * w).sum(dim=1)
    return moment if kind == "gram" else MeanCov(mean, moment)


def blend_statistics(statistics: Sequence[StyleStatistic], weights: Sequence[float]
                     ) -> StyleStatistic:
    """The statistic of the mixture of several paintings' pixels, each weighted ``w / sum(w)``.

    Gram matrices and means are averaged; samples are pooled, each painting contributing a
    share of MAX_SAMPLES (or of all their samples, if fewer) in proportion to its weight.
    """
    total = float(sum(weights))
    first = statistics[0]
    if isinstance(first, Samples):
        count = min(MAX_SAMPLES, sum(s.features.shape[0] for s in statistics))
        parts = [_subsample(s.features, max(1, round(count * w / total)))
                 for s, w in zip(statistics, weights) if w > 0]
        return Samples(torch.cat(parts))
    if isinstance(first, MeanCov):
        return MeanCov(sum(s.mean * (w / total) for s, w in zip(statistics, weights)),
                       sum(s.moment * (w / total) for s, w in zip(statistics, weights)))
    return sum(s * (w / total) for s, w in zip(statistics, weights))


class _TraceSqrtm(torch.autograd.Function):
    """``tr(M^(1/2))`` of symmetric PSD matrices M: (B,C,C) -> (B,).

    The gradient ``M^(-1/2) / 2`` is formed from the eigendecomposition directly, with the
    eigenvalues floored, instead of autograd through ``eigh``, whose backward divides by
    eigenvalue gaps and is NaN where a layer has fewer pixels than channels (repeated zeros).
    """

    @staticmethod
    def forward(ctx, m: torch.Tensor) -> torch.Tensor:
        values, vectors = torch.linalg.eigh(m)
        floor = values.amax(dim=-1, keepdim=True).clamp_min(EPS) * 1e-6
        ctx.save_for_backward(values.clamp_min(floor), vectors)
        return values.clamp_min(0).sqrt().sum(dim=-1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        values, vectors = ctx.saved_tensors
        scaled = vectors * (0.5 / values.sqrt()).unsqueeze(-2)
        return grad[:, None, None] * (scaled @ vectors.transpose(-1, -2))


def _sqrtm(m: torch.Tensor) -> torch.Tensor:
    """Square root of symmetric PSD matrices (B,C,C), no gradient (targets only)."""
    values, vectors = torch.linalg.eigh(m)
    return (vectors * values.clamp_min(0).sqrt().unsqueeze(-2)) @ vectors.transpose(-1, -2)


def meancov_loss(features: torch.Tensor, target: MeanCov,
                 pixel_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Squared 2-Wasserstein distance between Gaussians fitted to the responses and to the
    painting, relative to the painting's ``E|f|^2`` (1 for zero responses, as for Gram).

    features: (B,C,H,W); target: MeanCov of (1,C) and (1,C,C) -> scalar (batch average)::

        W2^2 = |m - m_t|^2 + tr(S + S_t - 2 (S_t^(1/2) S S_t^(1/2))^(1/2))
    """
    x, w = _pixels(features), _pixel_weights(pixel_weights, features)
    if w is None:  # gram_matrix: the second moment with its one-matmul backward
        mean, moment = x.mean(dim=1), gram_matrix(features)
    else:
        mean, moment = (x * w).sum(dim=1), torch.bmm(x.transpose(1, 2), x * w)
    t_mean, t_moment = _as_float(target.mean).to(x), _as_float(target.moment).to(x)
    cov = moment - mean.unsqueeze(-1) * mean.unsqueeze(-2)
    with torch.no_grad():
        t_cov = t_moment - t_mean.unsqueeze(-1) * t_mean.unsqueeze(-2)
        root = _sqrtm(t_cov)
    cross = _TraceSqrtm.apply(root @ cov @ root)
    trace = lambda m: torch.diagonal(m, dim1=-2, dim2=-1).sum(-1)  # noqa: E731
    distance = ((mean - t_mean) ** 2).sum(-1) + trace(cov) + trace(t_cov) - 2 * cross
    return (distance / (trace(t_moment) + EPS)).mean()


def random_projections(channels: int, generator: torch.Generator, count: int | None = None
                       ) -> torch.Tensor:
    """``count`` (default: ``channels``, as Heitz et al.) random unit directions: (C,count)
    float32 on the CPU, drawn from ``generator``."""
    directions = torch.randn(channels, count or channels, generator=generator)
    return directions / directions.norm(dim=0, keepdim=True)


def sliced_loss(features: torch.Tensor, target: Samples, projections: torch.Tensor,
                pixel_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Sliced Wasserstein distance (Heitz, Vanhoey, Chambon & Belcour 2021, eq. 7) between
    the responses and the painting's, along the directions ``projections`` (C,K), relative to
    the painting's mean squared projection (1 for zero responses).

    features: (B,C,H,W); target: Samples (M,C); pixel_weights: (B or 1,1,H,W) or None ->
    scalar. Departure from the paper, which matches equal pixel counts sorted against
    sorted: the painting's sorted projections are read as a quantile function, interpolated
    at each pixel's (weighted) rank, so the painting may have any size and the image's pixels
    any weights (masks).
    """
    x, w = _pixels(features), _pixel_weights(pixel_weights, features)
    directions = projections.to(x)
    values, order = torch.sort(torch.matmul(x, directions).transpose(1, 2), dim=-1)  # (B,K,N)
    with torch.no_grad():
        reference = torch.sort((_as_float(target.features).to(x) @ directions).T, dim=-1).values
        n, m = values.shape[-1], reference.shape[-1]
        if w is None:
            share = torch.full((1, 1, n), 1.0 / n, dtype=x.dtype, device=x.device)
            rank = (torch.arange(n, dtype=x.dtype, device=x.device) + 0.5) / n
        else:
            share = torch.gather(w.transpose(1, 2).expand(values.shape[0], values.shape[1], n),
                                 -1, order)
            rank = torch.cumsum(share, dim=-1) - share / 2
        position = (rank * m - 0.5).clamp(0, m - 1)
        low = position.floor().long()
        frac = position - low
        high = (low + 1).clamp(max=m - 1)
        ref = reference.expand(*values.shape[:2], m)
        pick = lambda i: torch.gather(ref, -1, i.expand_as(values))  # noqa: E731
        quantiles = pick(low) * (1 - frac) + pick(high) * frac
        scale = reference.square().mean()
    distance = (share * (values - quantiles) ** 2).sum(-1).mean(-1)  # (B,)
    return (distance / (scale + EPS)).mean()


def style_distance(features: torch.Tensor, target: StyleStatistic, *,
                   pixel_weights: torch.Tensor | None = None,
                   projections: torch.Tensor | None = None) -> torch.Tensor:
    """The relative style loss of one layer against a statistic of any kind -> scalar.

    features: (B,C,H,W); pixel_weights: (1,1,H,W) >= 0 or None; projections: (C,K), needed
    (fresh every step) when target is Samples.
    """
    if isinstance(target, Samples):
        if projections is None:
            raise ValueError("the sliced style loss needs projections (see random_projections)")
        return sliced_loss(features, target, projections, pixel_weights)
    if isinstance(target, MeanCov):
        return meancov_loss(features, target, pixel_weights)
    if pixel_weights is None:
        return style_layer_loss(features, target)
    return relative_squared_error(style_statistics(features, "gram", pixel_weights), target)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels; image: (B,C,H,W) -> scalar.

    Not in the 2015 paper; a standard smoothness prior (Mahendran & Vedaldi 2015) that
    removes the high-frequency noise a purely feature-based objective leaves behind.
    """
    image = _as_float(image)
    dh = image[..., 1:, :] - image[..., :-1, :]
    dw = image[..., :, 1:] - image[..., :, :-1]
    return torch.mean(dh**2) + torch.mean(dw**2)


def grid_energy(pictures: torch.Tensor, period: int) -> torch.Tensor:
    """pictures (B,C,H,W) -> the mean square of each picture's fine detail averaged over
    the ``period`` x ``period`` cells that tile it: a (period, period) pattern per picture
    and channel, less its mean, which is near zero unless the same pattern repeats in every
    cell. Detail is the picture less its box blur of width ``period``, which takes out the
    shading and leaves any pattern of that period whole; it is taken where the box fits
    inside the picture, and only whole cells of it count."""
    if period < 2:
        return pictures.new_zeros(())
    blurred = torch.nn.functional.avg_pool2d(pictures, period, stride=1)  # no padding: no border effects
    b, c, h, w = blurred.shape
    left = (period - 1) // 2
    detail = pictures[..., left:left + h, left:left + w] - blurred
    rows, cols = h // period, w // period
    cells = detail[..., :rows * period, :cols * period].reshape(b, c, rows, period, cols, period)
    pattern = cells.mean(dim=(2, 4))
    # less its mean: an even box is off centre by half a pixel, so a slope leaves a constant
    return (pattern - pattern.mean(dim=(-2, -1), keepdim=True)).pow(2).mean()


def grid_levels(pictures: torch.Tensor, period: int) -> torch.Tensor:
    """pictures (B,C,H,W) in [0,1] -> the root mean square of ``grid_energy``'s pattern in
    8-bit levels, a () tensor: the faint screen an upsampling network can leave, measured as a
    person would see it. Photos measure about 0.1 every 4 px and 0.5 every 8."""
    return 255 * grid_energy(pictures, period).sqrt()


def temporal_loss(image: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Ruder, Dosovitskiy & Brox (2016, eq. 7): ``mean(c * (x - w)^2)``, the squared distance
    to the previous result warped onto this frame, weighted per pixel by ``c`` in [0,1]
    (0 where the flow is unreliable). image, target: (B,3,H,W); mask: (B or 1,1,H,W) -> scalar.
    """
    image, target, mask = _as_float(image), _as_float(target), _as_float(mask)
    return torch.mean(mask * (image - target) ** 2)


def weighted_sum(
    losses: Mapping[str, torch.Tensor], weights: Mapping[str, float]
) -> torch.Tensor:
    """``sum_l w_l * L_l`` over the layers in ``weights``; every layer must be in ``losses``."""
    terms = [losses[name] * weight for name, weight in weights.items()]
    return torch.stack(terms).sum()
