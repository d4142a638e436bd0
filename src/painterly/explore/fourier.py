"""The image parameterisation and random transforms that make feature visualisations readable.

Optimising pixels directly to excite a neuron gives high-frequency noise that the network
happens to like (Szegedy et al. 2014). Olah, Mordvintsev & Schubert ("Feature Visualization",
Distill 2017) fix this with two priors, both used here:

* **A decorrelated parameterisation.** The image is the inverse FFT of learnable spectra
  scaled by 1/frequency, so every frequency gets a comparable step size (plain pixels learn
  high frequencies fastest); colour is mixed through the square root of ImageNet's colour
  covariance, so the optimiser works in decorrelated colour space; a sigmoid maps to [0,1].
* **Transformation robustness.** Each step sees the image randomly shifted, scaled and
  rotated, so only patterns that excite the neuron wherever they sit survive.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# sqrt of ImageNet's RGB colour covariance (its SVD's U * sqrt(S)), as in Lucid
# (lucid/optvis/param/color.py): columns are the decorrelated colour directions.
COLOR_CORRELATION_SQRT = ((0.26, 0.09, 0.02),
                          (0.27, 0.00, -0.05),
                          (0.27, -0.09, 0.03))


class FourierImage(torch.nn.Module):
    """A batch of images parameterised by scaled, colour-decorrelated Fourier spectra.

    batch, height, width: the images' shape. decay: the spectrum scale is ``1/f**decay``.
    generator: seeds the initial random spectra (small, so the images start near grey).
    ``forward()`` returns (B,3,H,W) float32 in (0,1).
    """

    def __init__(self, batch: int, height: int, width: int, *, decay: float = 1.0,
                 init_std: float = 0.01, generator: torch.Generator | None = None):
        super().__init__()
        self.size = (height, width)
        freqs = _frequencies(height, width)
        scale = 1.0 / torch.clamp(freqs, min=1.0 / max(height, width)) ** decay
        self.register_buffer("scale", (scale * math.sqrt(height * width)).float(),
                             persistent=False)
        shape = (batch, 3, *freqs.shape, 2)  # real and imaginary parts
        self.spectrum = torch.nn.Parameter(torch.randn(shape, generator=generator) * init_std)
        color = torch.tensor(COLOR_CORRELATION_SQRT)
        self.register_buffer("color", color / color.norm(dim=0).max(), persistent=False)

    def forward(self) -> torch.Tensor:
        """(B,3,H,W) float32 images in (0,1)."""
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        # Lucid divides by 4 so that the initial images have a gentle contrast.
        decorrelated = torch.fft.irfft2(spectrum, s=self.size) / 4.0
        rgb = torch.einsum("ij,bjhw->bihw", self.color, decorrelated)
        return torch.sigmoid(rgb)


def _frequencies(height: int, width: int) -> torch.Tensor:
    """(H, W//2+1) radial frequency of each rfft2 coefficient, in cycles per pixel."""
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    return torch.sqrt(fx * fx + fy * fy)


def random_transform(images: torch.Tensor, generator: torch.Generator, *, jitter: float = 0.06,
                     scale: tuple[float, float] = (0.9, 1.1), degrees: float = 5.0) -> torch.Tensor:
    """Each image shifted, scaled and rotated at random (its own draw), reflecting at the edges.

    images: (B,3,H,W) float. jitter: the largest shift, as a fraction of the image size.
    scale: range of zoom factors. degrees: the largest rotation either way.
    Returns (B,3,H,W), differentiable with respect to ``images``.
    """
    b = images.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(b, generator=generator)

    angle = uniform(-degrees, degrees) * (math.pi / 180)
    zoom = uniform(*scale)
    shift = uniform(-2 * jitter, 2 * jitter), uniform(-2 * jitter, 2 * jitter)  # grid is [-1,1]
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[0]], 1),
                         torch.stack([sin, cos, shift[1]], 1)], 1).to(images)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection",
                         align_corners=False)
