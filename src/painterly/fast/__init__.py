"""Fast styles: networks that paint a photo in one forward pass (Johnson et al. 2016),
many styles in one network (Dumoulin et al. 2017), trained by painterly itself.

>>> import painterly
>>> image = painterly.fast_stylize("photo.jpg", "starry_night", size=1024)
>>> image.save("out.png")
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from PIL import Image

from .. import image_io
from ..devices import resolve_runtime
from .paint import DEFAULT_TILE, FastPainter, load_mix
from .store import FastStyles, StyleError, bundled_styles, load_styles, save_styles, user_styles
from .train import TrainConfig, TrainingInterrupted, TrainProgress, train

DEFAULT_SIZE = 1024


def fast_stylize(
    content: str | os.PathLike | Image.Image | torch.Tensor,
    style: str | Sequence[str],
    *,
    size: int | None = DEFAULT_SIZE,
    preserve_color: str = "none",
    device: str = "auto",
    precision: str = "auto",
    tile_size: int = DEFAULT_TILE,
) -> Image.Image:
    """Paint ``content`` with fast style(s) in one pass; returns an RGB PIL image.

    style: a bundled or user style name, a style folder, or several ``NAME[:WEIGHT]`` to blend.
    size: long edge of the output (None: the photo's own size). Larger than ``tile_size``
    pixels on a side, the image is painted in tiles (no seams, flat memory).
    For many photos, build one :class:`FastPainter` and call it on each.
    """
    if size is not None and (not isinstance(size, int) or size < 16):
        raise ValueError(f"size must be an integer of at least 16 pixels, got {size!r}")
    styles, mix = load_mix([style] if isinstance(style, str) else list(style))
    painter = FastPainter(styles, mix, runtime=resolve_runtime(device, precision),
                          tile_size=tile_size, preserve_color=preserve_color)
    photo = image_io.load_image(content, long_edge=size)
    return image_io.tensor_to_pil(painter(photo))


__all__ = ["fast_stylize", "FastPainter", "FastStyles", "StyleError", "TrainConfig",
           "TrainProgress", "TrainingInterrupted", "bundled_styles", "load_mix", "load_styles",
           "save_styles", "train", "user_styles", "DEFAULT_SIZE"]
