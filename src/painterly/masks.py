"""Spatial control: each region of the output gets its own painting (Gatys, Ecker, Bethge,
Hertzmann & Shechtman 2017, "Controlling Perceptual Factors in Neural Style Transfer", Sec. 4).

A *guide* is a mask over the photo, ``(1,1,H,W)`` in [0,1], one per painting. Where the guides
of every painting are 0, the photo is kept: only the content and smoothness terms act there.

Guided Gram matrices (the paper's Sec. 4.1): at every style layer the guide is brought to the
layer's resolution by average pooling (the paper's simple propagation, not its "inside"
erosion), the features are weighted by it, and the Gram matrix is normalised by the guide's
mass, so that it is a weighted *average* over the region and matches the painting's
size-independent Gram matrix (see ``losses.gram_matrix``)::

    G_r = (F * T_r)^T (F * T_r) / sum(T_r^2)

Departure from the paper, which weights each region's loss by a free constant: region r's loss
is multiplied by ``mean(T_r^2)``, the share of the image it covers, which makes the pull on
each pixel independent of the size of its region (and a guide of ones the unguided loss).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import image_io, losses
from .devices import Runtime
from .models.vgg import FeatureExtractor
from .optimize import LossWeights, objective, run_network

MaskInput = Union[str, os.PathLike, Image.Image, torch.Tensor]
ASPECT_TOLERANCE = 0.02
"""How much a mask's aspect ratio may differ from the photo's (rounding of resized files)."""


@dataclass(frozen=True)
class GuidedTargets:
    """What the image should match at one scale, region by region.

    content: {layer: (1,C,h,w)} responses to the photo.
    styles: one {layer: statistic} per painting: (1,C,C) Gram matrices, or ``losses.MeanCov``
    / ``losses.Samples``.
    style_weights: one loss weight per painting.
    guides: (S,1,H,W) in [0,1], one guide per painting, at the image's size.
    """

    content: Mapping[str, torch.Tensor]
    styles: tuple[Mapping[str, torch.Tensor], ...]
    style_weights: tuple[float, ...]
    guides: torch.Tensor

    def crop(self, box: tuple[int, int, int, int], content: Mapping[str, torch.Tensor]
             ) -> GuidedTargets:
        """The same targets for the tile ``box`` (top, left, bottom, right) with its own content."""
        top, left, bottom, right = box
        return GuidedTargets(content, self.styles, self.style_weights,
                             self.guides[..., top:bottom, left:right])


def load_mask(source: MaskInput) -> torch.Tensor:
    """A mask file, PIL image or tensor -> (1,1,h,w) float32 in [0,1] at its own size.

    Files and PIL images are read as greyscale (white = 1). Tensors may be (h,w), (1,h,w) or
    (1,1,h,w), floats in [0,1] or booleans; they are copied, never modified.
    """
    if isinstance(source, torch.Tensor):
        mask = source.detach().float()
        while mask.dim() < 4:
            mask = mask.unsqueeze(0)
        if mask.dim() != 4 or mask.shape[:2] != (1, 1) or min(mask.shape[-2:]) < 1:
            raise ValueError(f"a mask tensor must be (H,W), (1,H,W) or (1,1,H,W), got {tuple(source.shape)}")
        if not (mask.min() >= 0 and mask.max() <= 1):
            raise ValueError("mask values must be in [0,1]")
        return mask.clone()
    grey = image_io.open_image(source).convert("L")
    return torch.from_numpy(np.asarray(grey, dtype=np.float32) / 255)[None, None]


def from_labels(source: str | os.PathLike | Image.Image, n_styles: int) -> list[torch.Tensor]:
    """Split a label image into one mask (1,1,h,w) per painting.

    Black (0,0,0) marks the parts that keep the photo; every other colour is one region. The
    colours, sorted by (R,G,B) value (for grey labels: darkest first), go to the paintings in
    order, so the image must have exactly ``n_styles`` colours besides black. Save label images
    as PNG: JPEG's compression invents colours.
    """
    pixels = np.asarray(image_io.open_image(source))  # (h,w,3) uint8
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    regions = [tuple(c) for c in colours if tuple(c) != (0, 0, 0)]
    if len(regions) != n_styles:
        name = f" {_name(source)}" if isinstance(source, (str, os.PathLike)) else ""
        raise ValueError(
            f"the label image{name} has {len(regions)} colour{'s' * (len(regions) != 1)} "
            f"besides black but there are {n_styles} styles; it needs one colour per style "
            "(saved as PNG)")
    return [torch.from_numpy(np.all(pixels == c, axis=-1).astype(np.float32))[None, None]
            for c in regions]


def _name(source: object) -> str:
    return repr(str(source))


def check_aspect(mask_size: tuple[int, int], photo_size: tuple[int, int], name: str) -> None:
    """ValueError naming the mask unless its (width, height) has the photo's aspect ratio
    (within ASPECT_TOLERANCE). ``name``: how the message calls it, e.g. ``mask 'sky.png'``."""
    (w, h), (width, height) = mask_size, photo_size
    if abs((w / h) / (width / height) - 1) > ASPECT_TOLERANCE:
        raise ValueError(f"{name} is {w}x{h} but the photo is {width}x{height}; "
                         "a mask needs the photo's aspect ratio")


def fit_guides(masks: Sequence[MaskInput | None], size: tuple[int, int]) -> torch.Tensor:
    """One guide per painting at the photo's size (H,W): (S,1,H,W) float32 in [0,1].

    ``None`` stands for the whole image. Each mask must have the photo's aspect ratio.
    """
    height, width = size
    guides = []
    for index, source in enumerate(masks, start=1):
        if source is None:
            guides.append(torch.ones(1, 1, height, width))
            continue
        mask = load_mask(source)
        h, w = mask.shape[-2:]
        named = isinstance(source, (str, os.PathLike))
        check_aspect((w, h), (width, height), f"mask {_name(source) if named else index}")
        guides.append(resize_guides(mask, size))
    return torch.cat(guides)


def resize_guides(guides: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(S,1,h,w) -> (S,1,H,W): area average when shrinking (a mask of ones stays exactly
    ones), bilinear when enlarging; clamped to [0,1]."""
    if tuple(guides.shape[-2:]) == tuple(size):
        return guides.clone()
    if size[0] <= guides.shape[-2] and size[1] <= guides.shape[-1]:
        return F.adaptive_avg_pool2d(guides, size)
    return F.interpolate(guides, size=size, mode="bilinear", align_corners=False).clamp(0, 1)


def guided_gram(features: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """Gram matrix over a region: features (1,C,h,w), guide (1,1,h',w') -> (1,C,C) float32.

    The guide is average-pooled to the layer's (h,w); a guide of ones gives ``gram_matrix``.
    """
    guide = resize_guides(guide.float(), tuple(features.shape[-2:]))
    mass = guide.square().mean()
    return losses.gram_matrix(features.float() * guide) / (mass + losses.EPS)


@torch.no_grad()
def compute_guided_targets(
    extractor: FeatureExtractor,
    content: torch.Tensor,
    styles: Sequence[tuple[torch.Tensor, float]],
    guides: torch.Tensor,
    weights: LossWeights,
    runtime: Runtime,
) -> GuidedTargets:
    """Responses to the photo and each painting's own style statistics (not blended): Gram
    matrices, or those of ``weights.style_loss``.

    content: (1,3,H,W); styles: [((1,3,h,w), weight), ...]; guides: (S,1,H,W), one per style.
    """
    if guides.shape[0] != len(styles) or tuple(guides.shape[-2:]) != tuple(content.shape[-2:]):
        raise ValueError(f"guides {tuple(guides.shape)} do not match {len(styles)} styles "
                         f"and a photo of {tuple(content.shape[-2:])}")
    content_feats = run_network(extractor, content, weights.content, runtime)
    grams = tuple({name: losses.style_statistics(f, weights.style_loss) for name, f in
                   run_network(extractor, image, weights.style, runtime).items()}
                  for image, _ in styles)
    return GuidedTargets({k: v.float() for k, v in content_feats.items()}, grams,
                         tuple(float(w) for _, w in styles), guides.to(content.device))


def guided_style_loss(features: torch.Tensor, targets: GuidedTargets, layer: str,
                      projections: torch.Tensor | None = None) -> torch.Tensor:
    """``sum_r w_r * mean(T_r^2) * relative error of G_r`` for one layer -> scalar.

    For the mean-and-covariance and sliced losses (``losses.style_distance``), region r's
    pixels are weighted by ``T_r^2`` as in G_r; projections: (C,K) for sliced targets.
    """
    total = features.new_zeros((), dtype=torch.float32)
    for guide, grams, weight in zip(targets.guides, targets.styles, targets.style_weights):
        guide = resize_guides(guide[None], tuple(features.shape[-2:]))
        share = guide.square().mean()
        if weight == 0 or share == 0:
            continue
        if isinstance(grams[layer], torch.Tensor):
            loss = losses.relative_squared_error(guided_gram(features, guide), grams[layer])
        else:
            loss = losses.style_distance(features, grams[layer], pixel_weights=guide.square(),
                                         projections=projections)
        total = total + loss * (weight * share)
    return total


def guided_objective(
    extractor: FeatureExtractor,
    image: torch.Tensor,
    targets: GuidedTargets,
    weights: LossWeights,
    runtime: Runtime,
    *,
    projections: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """``optimize.objective`` with guided style terms; image (1,3,H,W) -> weighted scalars.

    projections: {layer: (C,K)} directions for sliced targets, fresh every step."""
    return objective(extractor, image, targets, weights, runtime,
                     style_loss=lambda f, layer: guided_style_loss(
                         f, targets, layer, (projections or {}).get(layer)))
