"""Training photos: a folder of any size and format, sampled as random crops, scales and flips.

Every photo is decoded once, shrunk so its long edge is at most ``max_edge`` pixels and
kept in memory as 8-bit RGB (80 photos of 1024 px take about 200 MB), so sampling a batch
costs only a crop and a resize. Unreadable files are skipped with a warning; a folder with
no readable photo is an error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..image_io import PICTURE_SUFFIXES, ImageError, open_image

log = logging.getLogger(__name__)



def find_photos(folder: str | os.PathLike) -> list[Path]:
    """Picture files under ``folder`` (recursively, sorted); ValueError if there are none."""
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"photos folder {str(root)!r} does not exist or is not a folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in PICTURE_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"no photos ({', '.join(sorted(PICTURE_SUFFIXES))}) in {str(root)!r}")
    return files


class PhotoPool:
    """Photos held in memory, sampled as random square crops.

    photos: the files to load; max_edge: long edge each is shrunk to once, on loading.
    """

    def __init__(self, photos: Sequence[Path], *, max_edge: int = 1024):
        self.images: list[torch.Tensor] = []   # each (3,H,W) uint8
        self.names: list[str] = []
        for path in photos:
            try:
                image = open_image(path, at_least=2 * max_edge)  # a large JPEG decodes reduced
            except ImageError as error:
                log.warning("skipping %s", error)
                continue
            image.thumbnail((max_edge, max_edge), Image.Resampling.LANCZOS)
            self.images.append(torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1))
            self.names.append(path.name)
        if not self.images:
            raise ValueError("none of the photos could be read")

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, batch: int, crop: int, generator: torch.Generator,
               long_edge: tuple[int, int] = (320, 1024)) -> torch.Tensor:
        """(batch,3,crop,crop) float32 in [0,1]: random photo, scale, crop and mirror.

        Each photo is first rescaled so its long edge is uniform in ``long_edge`` (never
        below what the crop needs), so a crop shows what a picture of about that size shows.
        """
        out = torch.empty(batch, 3, crop, crop)
        for i in range(batch):
            image = self.images[_randint(len(self.images), generator)]
            out[i] = self._random_crop(image, crop, generator, long_edge)
        return out

    def _random_crop(self, image: torch.Tensor, crop: int, generator: torch.Generator,
                     long_edge: tuple[int, int]) -> torch.Tensor:
        h, w = image.shape[-2:]
        low, high = long_edge
        target = low + torch.rand((), generator=generator).item() * (high - low)
        scale = max(target / max(h, w), crop / min(h, w))
        # Crop the needed window first, at source resolution, then resize only that window.
        src = crop / scale
        top = torch.rand((), generator=generator).item() * max(0.0, h - src)
        left = torch.rand((), generator=generator).item() * max(0.0, w - src)
        y0, x0 = int(top), int(left)
        y1, x1 = min(h, int(top + src) + 1), min(w, int(left + src) + 1)
        window = image[:, y0:y1, x0:x1].float().div_(255).unsqueeze(0)
        window = F.interpolate(window, size=(crop, crop), mode="bilinear", antialias=scale < 1,
                               align_corners=False)[0]
        if torch.rand((), generator=generator).item() < 0.5:
            window = window.flip(-1)
        return window.clamp_(0, 1)


def _randint(high: int, generator: torch.Generator) -> int:
    return int(torch.randint(high, (), generator=generator).item())
