"""The fast engine's entry points: which painter a list of ``--style`` values asks for, and
painting one photo in one call."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from .. import image_io
from ..devices import Runtime, resolve_runtime
from .config import DEFAULT_SIZE
from .paint import FastPainter, load_mix, parse_style_spec
from .wct import PaintingPainter


def are_painting_files(styles: Sequence[str]) -> bool:
    """True when every ``--style`` value (``PATH[:WEIGHT]``) names a picture file (paintings
    for universal style transfer), False when none does (trained styles); ValueError when
    the two kinds are mixed."""
    files = [_names_a_picture(Path(parse_style_spec(spec)[0])) for spec in styles]
    if any(files) and not all(files):
        raise ValueError("blend either trained styles or painting files, not both")
    return bool(files) and all(files)


def _names_a_picture(path: Path) -> bool:
    """A picture file, or a name that can only mean one (``missing.jpg``: reading it then
    says the file is missing, rather than that no fast style has that name)."""
    return path.is_file() or (not path.is_dir() and path.suffix.lower() in image_io.PICTURE_SUFFIXES)


def make_painter(styles: Sequence[str], *, strength: float = 1.0, preserve_color: str = "none",
                 runtime: Runtime | None = None, tile_size: int | None = None,
                 video: bool = False) -> FastPainter | PaintingPainter:
    """The one-pass engine for ``NAME|FOLDER|PICTURE[:WEIGHT]`` values: trained styles (blended
    by weight in their network), or picture files of paintings (universal style transfer at
    ``strength``; ``video``: painted for a clip's frames, see :class:`PaintingPainter`). Mixing
    the two kinds is refused. Call the result on (B,3,H,W) in [0,1]. tile_size: see
    :class:`FastPainter` (None: one pass up to ONE_PASS_SIDE, tiles of DEFAULT_TILE beyond)."""
    runtime = runtime or resolve_runtime()
    if not are_painting_files(styles):
        if strength != 1.0:
            raise ValueError("strength applies to painting files, not to trained styles")
        found, mix = load_mix(list(styles))
        return FastPainter(found, mix, runtime=runtime, tile_size=tile_size,
                           preserve_color=preserve_color)
    paintings = []
    for spec in styles:
        path, weight = parse_style_spec(spec)
        paintings.append((image_io.load_image(path), weight))
    if not sum(weight for _, weight in paintings) > 0:
        raise ValueError("style weights must have a positive sum")
    return PaintingPainter(paintings, strength=strength, preserve_color=preserve_color,
                           runtime=runtime, tile_size=tile_size, video=video)


def fast_stylize(
    content: str | os.PathLike | Image.Image | torch.Tensor,
    style: str | Sequence[str],
    *,
    size: int | None = DEFAULT_SIZE,
    strength: float = 1.0,
    preserve_color: str = "none",
    device: str = "auto",
    precision: str = "auto",
    tile_size: int | None = None,
) -> Image.Image:
    """Paint ``content`` in one pass; returns an RGB PIL image.

    style: a bundled or user style name, a style folder, or several ``NAME[:WEIGHT]`` to blend;
    or one or several picture files of paintings (``PATH[:WEIGHT]``), painted with no training
    (Li et al. 2017) at ``strength`` in [0,1].
    size: long edge of the output (None: the photo's own size). Larger than ``tile_size``
    pixels on a side (None: 2048 px, then tiles of 1024), the image is painted in tiles (no
    seams, flat memory).
    For many photos, build one painter with :func:`make_painter` and call it on each.
    """
    if size is not None and (not isinstance(size, int) or size < 16):
        raise ValueError(f"size must be an integer of at least 16 pixels, got {size!r}")
    painter = make_painter([style] if isinstance(style, str) else list(style), strength=strength,
                           preserve_color=preserve_color, runtime=resolve_runtime(device, precision),
                           tile_size=tile_size)
    photo = image_io.load_image(content, long_edge=size)
    return image_io.tensor_to_pil(painter(photo))
