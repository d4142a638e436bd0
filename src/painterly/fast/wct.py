"""Any painting in one pass: universal style transfer (Li et al. 2017).

Li, Fang, Yang, Wang, Lu & Yang (2017, "Universal Style Transfer via Feature Transforms"):
encode the photo with VGG19 to ``reluN_1``, *whiten* its features (remove their correlations),
*colour* them with the painting's covariance and mean, and decode with a network trained only
to invert VGG19 (:mod:`.decoders`). Done coarse to fine (relu4_1, then relu3_1 of that
result, ... relu1_1), deep levels move the large structures, shallow ones the fine texture.
No network is trained on paintings, so any painting works at once.

Departures from Li et al.: no relu5_1 level (see ``decoders.DECODER_LAYERS``); eigenvalues
are cut relative to the largest one instead of at an absolute 1e-5, as painterly's features
are on Caffe's 0-255 scale; several paintings blend by the weighted sum of their transformed
features (Li et al.'s Sec. 4 interpolation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import color
from ..devices import Runtime, resolve_runtime
from ..models.vgg import FeatureExtractor
from .decoders import DECODER_LAYERS, Decoders, load_decoders

RELATIVE_EIGEN_FLOOR = 1e-5
"""Eigenvalues below this fraction of the largest are treated as zero (no division by them)."""


@dataclass(frozen=True)
class FeatureStats:
    """A painting's features at one layer: mean (C,1) and colouring matrix (C,C), the
    symmetric square root of their covariance."""

    mean: torch.Tensor
    colouring: torch.Tensor


def _moments(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """features (1,C,h,w) -> mean (C,1) and covariance (C,C), float32."""
    flat = features[0].flatten(1).float()
    mean = flat.mean(dim=1, keepdim=True)
    centred = flat - mean
    return mean, centred @ centred.T / max(flat.shape[1] - 1, 1)


def _matrix_power(covariance: torch.Tensor, power: float) -> torch.Tensor:
    """Symmetric ``covariance ** power`` (C,C) for power ±1/2, in float32; directions whose
    variance is below ``RELATIVE_EIGEN_FLOOR`` of the largest are dropped (set to zero), so a
    flat or rank-deficient picture never divides by zero."""
    values, vectors = torch.linalg.eigh(covariance.float())
    keep = values > values.max().clamp_min(0) * RELATIVE_EIGEN_FLOOR
    scaled = torch.where(keep, values.clamp_min(1e-30).pow(power), torch.zeros_like(values))
    return (vectors * scaled) @ vectors.T


def feature_stats(features: torch.Tensor) -> FeatureStats:
    """A painting's :class:`FeatureStats` from its features (1,C,h,w)."""
    mean, covariance = _moments(features)
    return FeatureStats(mean, _matrix_power(covariance, 0.5))


def whiten_colour(content: torch.Tensor, styles: Sequence[tuple[FeatureStats, float]],
                  strength: float = 1.0) -> torch.Tensor:
    """The WCT of Li et al. (Sec. 3.2): content (1,C,h,w) -> (1,C,h,w) float32 features whose
    mean and covariance are the painting's (for one painting at strength 1).

    styles: (stats, weight) pairs, weights summing to 1; strength α in [0,1] blends the
    result with the content features (α f_cs + (1-α) f_c, Li et al.'s eq. 3).
    """
    shape = content.shape
    flat = content[0].flatten(1).float()
    mean, covariance = _moments(content)
    whitened = _matrix_power(covariance, -0.5) @ (flat - mean)
    coloured = sum(weight * (stats.colouring @ whitened + stats.mean) for stats, weight in styles)
    out = strength * coloured + (1 - strength) * flat
    return out.reshape(1, *shape[1:])


class UniversalPainter:
    """VGG19 (max pooling, as the decoders were trained) and the decoders, ready to paint.

    ``painter.style(painting)`` computes a painting's statistics once (reuse them for many
    photos or frames); ``painter.paint(photo, [(stats, weight), ...], strength)`` paints.
    Images are (1,3,H,W) float in [0,1]; any H and W of at least 16 pixels.
    """

    def __init__(self, decoders: Decoders | None = None, extractor: FeatureExtractor | None = None,
                 runtime: Runtime | None = None, levels: Sequence[str] = DECODER_LAYERS[::-1]):
        self.runtime = runtime or resolve_runtime("auto", "fp32")
        decoders = decoders or load_decoders()
        missing = [layer for layer in levels if layer not in decoders.nets]
        if missing:
            raise ValueError(f"no decoder for {', '.join(missing)}; these decoders invert "
                             f"{', '.join(decoders.nets)}")
        if extractor is None:
            from ..pipeline import load_vgg19
            extractor = load_vgg19(None, "auto", "max")
        self.levels = tuple(levels)
        deepest = max(self.levels, key=extractor.names.index)
        device, dtype = self.runtime.device, self.runtime.dtype
        self.encoder = extractor.truncated(deepest).to(device, dtype)
        self.decoders = {layer: decoders.nets[layer].to(device, dtype) for layer in self.levels}

    @torch.inference_mode()
    def style(self, painting: torch.Tensor) -> dict[str, FeatureStats]:
        """painting (1,3,h,w) in [0,1] -> its statistics at every level."""
        features = self._encode(painting, self.levels)
        return {layer: feature_stats(features[layer]) for layer in self.levels}

    @torch.inference_mode()
    def paint(self, photo: torch.Tensor, styles: Sequence[tuple[dict[str, FeatureStats], float]],
              strength: float = 1.0, preserve_color: str = "none") -> torch.Tensor:
        """photo (1,3,H,W) in [0,1] -> (1,3,H,W) float32 in [0,1] on the CPU.

        styles: (statistics from :meth:`style`, weight) pairs; the weights are normalised.
        strength: α in [0,1], how far each level moves towards the paintings.
        preserve_color: "none", "luminance" (the result's lightness with the photo's
        colours) or "histogram" (the result recoloured to the photo's colour statistics).
        """
        if not 0 <= strength <= 1:
            raise ValueError(f"strength must be between 0 and 1, got {strength!r}")
        total = sum(weight for _, weight in styles)
        if not styles or not total > 0:
            raise ValueError("give at least one painting with a positive weight")
        pairs = [(stats, weight / total) for stats, weight in styles if weight > 0]
        photo = photo.to(self.runtime.device, torch.float32)
        image = _pad_to_multiple(photo, 8)
        for layer in self.levels:
            features = self._encode(image, [layer])[layer]
            moved = whiten_colour(features, [(stats[layer], w) for stats, w in pairs], strength)
            image = self.decoders[layer](moved.to(self.runtime.dtype)).float().clamp_(0, 1)
        painted = image[..., :photo.shape[-2], :photo.shape[-1]]
        return _preserve(painted, photo, preserve_color).cpu()

    def _encode(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        return self.encoder(image.to(self.runtime.device, self.runtime.dtype), layers)


def _pad_to_multiple(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflection-pad (1,3,H,W) on the bottom and right so H and W divide by ``multiple``
    (relu4_1 is 1/8 of the picture: the decoder's output then has the padded size)."""
    h, w = image.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if not (pad_h or pad_w):
        return image
    return F.pad(image, (0, pad_w, 0, pad_h), mode="reflect")


def _preserve(painted: torch.Tensor, photo: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "luminance":
        return color.recombine_chroma(painted, photo).clamp_(0, 1)
    if mode == "histogram":
        return color.match_color(painted, photo)
    if mode != "none":
        raise ValueError(f"preserve_color must be none, luminance or histogram; got {mode!r}")
    return painted
