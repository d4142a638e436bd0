"""Colour preservation (Gatys, Bethge, Hertzmann & Shechtman 2016, "Preserving Color in
Neural Artistic Style Transfer").

Two ways to keep the photo's colours, as pure functions on float images ``(B,3,H,W)`` in [0,1]:

* **luminance-only transfer** (the paper's Sec. 3): run the transfer on luminance images
  (the luminance replicated to three channels) and give the result the photo's chroma
  (:func:`luminance_inputs`, then :func:`recombine_chroma`). The painting's luminance is first
  matched to the photo's mean and standard deviation (the paper's eq. 3).
* **colour histogram matching** (the paper's Sec. 2): recolour the painting so that the mean
  and covariance of its RGB values equal the photo's (:func:`match_color`), then transfer as
  usual.

The paper works in YIQ, so this module does too (NTSC coefficients).
"""

from __future__ import annotations

from typing import Literal

import torch

# NTSC RGB -> YIQ; Y's row sums to one, so a grey pixel (r = g = b = v) has Y = v, I = Q = 0.
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114],
                            [0.595716, -0.274453, -0.321263],
                            [0.211456, -0.522591, 0.311135]], dtype=torch.float64)
# The exact inverse (not the rounded textbook matrix), so RGB -> YIQ -> RGB round-trips.
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)

MatchMethod = Literal["analogies", "cholesky"]
_EPS = 1e-5


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Multiply each pixel's 3-vector by ``matrix`` (3,3); image: (B,3,H,W)."""
    _check(image)
    return torch.einsum("ij,bjhw->bihw", matrix.to(image.device, image.dtype), image)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """RGB (B,3,H,W) in [0,1] -> YIQ (B,3,H,W): Y in [0,1], I in ±0.596, Q in ±0.523."""
    return _apply(_RGB_TO_YIQ, image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """YIQ (B,3,H,W) -> RGB (B,3,H,W), not clamped (out-of-gamut YIQ gives values outside [0,1])."""
    return _apply(_YIQ_TO_RGB, image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """Y of RGB (B,3,H,W) in [0,1] -> (B,1,H,W) in [0,1]."""
    return rgb_to_yiq(image)[:, :1]


def grey(y: torch.Tensor) -> torch.Tensor:
    """Luminance (B,1,H,W) -> a 3-channel grey image (B,3,H,W), clamped to [0,1]."""
    return y.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def match_luminance(style_y: torch.Tensor, content_y: torch.Tensor) -> torch.Tensor:
    """The painting's luminance with the photo's mean and standard deviation (the paper's eq. 3).

    ``L_s' = sigma_c / sigma_s * (L_s - mu_s) + mu_c``; style_y (1,1,h,w), content_y (1,1,H,W)
    -> (1,1,h,w), not clamped.
    """
    mu_s, sigma_s = style_y.mean(), style_y.std(unbiased=False)
    mu_c, sigma_c = content_y.mean(), content_y.std(unbiased=False)
    return (style_y - mu_s) * (sigma_c / (sigma_s + _EPS)) + mu_c


def luminance_inputs(content: torch.Tensor, styles: list[torch.Tensor]
                     ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Grey versions of the photo and of each painting (its luminance matched to the photo's).

    content: (1,3,H,W); styles: [(1,3,h,w), ...], all in [0,1]. Returns new tensors of the
    same shapes, each channel equal to the image's luminance.
    """
    content_y = luminance(content)
    return grey(content_y), [grey(match_luminance(luminance(s), content_y)) for s in styles]


def recombine_chroma(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The result's luminance with the photo's chroma (I and Q), as RGB (B,3,H,W).

    result, content: (B,3,H,W) of the same size. Not clamped: the returned tensor's I and Q
    equal the photo's exactly (to float rounding); clamping to [0,1] afterwards changes the
    chroma only of pixels that fall outside the RGB gamut.
    """
    if result.shape != content.shape:
        raise ValueError(f"result {tuple(result.shape)} and photo {tuple(content.shape)} differ in shape")
    yiq = torch.cat([luminance(result), rgb_to_yiq(content)[:, 1:]], dim=1)
    return yiq_to_rgb(yiq)


def match_color(style: torch.Tensor, content: torch.Tensor,
                method: MatchMethod = "analogies") -> torch.Tensor:
    """Recolour the painting so its RGB mean and covariance equal the photo's (paper's Sec. 2).

    ``x' = A (x - mu_s) + mu_c`` for every pixel x of the painting, with
    ``A = Sigma_c^(1/2) Sigma_s^(-1/2)`` (symmetric square roots: the "Image Analogies" variant
    the paper prefers) or ``A = L_c L_s^-1`` (Cholesky factors). style: (1,3,h,w), content:
    (1,3,H,W) in [0,1] -> (1,3,h,w) clamped to [0,1].
    """
    _check(style)
    _check(content)
    mu_s, cov_s = _moments(style)
    mu_c, cov_c = _moments(content)
    if method == "analogies":
        a = _sqrtm(cov_c) @ torch.linalg.inv(_sqrtm(cov_s))
    elif method == "cholesky":
        a = torch.linalg.cholesky(cov_c) @ torch.linalg.inv(torch.linalg.cholesky(cov_s))
    else:
        raise ValueError(f"method must be analogies or cholesky, got {method!r}")
    pixels = style.double().flatten(2)  # (1,3,N)
    matched = a @ (pixels - mu_s) + mu_c
    return matched.reshape(style.shape).clamp(0, 1).to(style.dtype)


def _moments(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (3,1) and covariance (3,3) of the pixels, in float64, the covariance regularised
    (by 1e-4 of its mean variance) so that flat or single-hue images stay invertible."""
    pixels = image.double().flatten(2)[0]  # (3,N)
    mean = pixels.mean(dim=1, keepdim=True)
    centred = pixels - mean
    cov = centred @ centred.T / pixels.shape[1]
    ridge = 1e-4 * cov.diagonal().mean() + 1e-10
    return mean, cov + ridge * torch.eye(3, dtype=cov.dtype, device=cov.device)


def _sqrtm(matrix: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric positive-definite (3,3) matrix."""
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T


def _check(image: torch.Tensor) -> None:
    if image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(f"expected an image tensor (B,3,H,W), got shape {tuple(image.shape)}")
