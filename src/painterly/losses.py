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

from collections.abc import Mapping

import torch


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


class _Gram(torch.autograd.Function):
    """``G = X^T X / N`` for X: (B,N,C) with a one-matmul backward ``dX = X (dG + dG^T) / N``.

    Autograd's generic backward would run two matmuls (one per operand) and add them.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return torch.bmm(x.transpose(1, 2), x) / x.shape[1]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        # Scale the small (C,C) factor, not the large (N,C) result.
        return torch.bmm(x, (grad + grad.transpose(1, 2)) / x.shape[1])


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Channel correlations of a layer's responses.

    features: (B,C,H,W) -> (B,C,C), ``G_ij = sum_k F_ik F_jk / (H W)``, in float32 (float64 if
    given float64) whatever the features' dtype.

    Gatys et al. (2015, eq. 3) use the unnormalised sum and divide by ``M_l^2 = (HW)^2`` in the
    loss (eq. 4); dividing here instead makes the matrix independent of image size, so a
    painting's statistics can be computed at one size and matched at another.
    """
    b, c, h, w = features.shape
    # (B,H,W,C) order: a free view for channels_last tensors, the layout the network runs in.
    pixels_by_channels = _as_float(features.permute(0, 2, 3, 1).reshape(b, h * w, c))
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


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels; image: (B,C,H,W) -> scalar.

    Not in the 2015 paper; a standard smoothness prior (Mahendran & Vedaldi 2015) that
    removes the high-frequency noise a purely feature-based objective leaves behind.
    """
    image = _as_float(image)
    dh = image[..., 1:, :] - image[..., :-1, :]
    dw = image[..., :, 1:] - image[..., :, :-1]
    return torch.mean(dh**2) + torch.mean(dw**2)


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
