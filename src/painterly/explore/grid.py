"""Labelled grids: tiles in rows and columns, with a title, row and column labels, captions.

Text uses Pillow's bundled scalable font (``ImageFont.load_default(size=...)``, Pillow >= 10.1
with FreeType); without FreeType it falls back to Pillow's small bitmap font.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont, ImageOps

BACKGROUND, INK, GAP, PAD = (255, 255, 255), (20, 20, 20), 4, 6


@functools.lru_cache(maxsize=8)
def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's default font at ``size`` pixels (the fixed bitmap font without FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1 or no FreeType
        return ImageFont.load_default()


def _text_size(text: str, face) -> tuple[int, int]:
    if not text:
        return 0, 0
    left, top, right, bottom = ImageDraw.Draw(Image.new("RGB", (1, 1))).multiline_textbbox(
        (0, 0), text, font=face, spacing=2)
    return right - min(left, 0), bottom - min(top, 0)


def render_grid(
    tiles: Sequence[Image.Image],
    *,
    columns: int,
    title: str = "",
    row_labels: Sequence[str] = (),
    column_labels: Sequence[str] = (),
    captions: Sequence[str] = (),
    tile_size: tuple[int, int] | None = None,
    font_size: int | None = None,
) -> Image.Image:
    """Tiles laid out row by row, ``columns`` per row, on white with dark labels.

    tiles: PIL images, resized to ``tile_size`` (width, height; default: the first tile's).
    row_labels: one per row, left of it; column_labels: one per column, above it; captions:
    one per tile, under it. Labels may span lines ("\\n"). Returns an RGB image.
    """
    if not tiles:
        raise ValueError("a grid needs at least one tile")
    if columns < 1:
        raise ValueError(f"columns must be a positive integer, got {columns!r}")
    tw, th = tile_size or tiles[0].size
    rows = math.ceil(len(tiles) / columns)
    size = font_size or _fitting_font_size([*column_labels, *captions], tw,
                                           max(12, min(18, round(min(tw, th) / 10))))
    face, title_face = font(size), font(round(size * 1.3))
    label_w = max((_text_size(t, face)[0] for t in row_labels), default=0)
    label_w = label_w + PAD if label_w else 0
    head_h = max((_text_size(t, face)[1] for t in column_labels), default=0)
    head_h = head_h + PAD if head_h else 0
    cap_h = max((_text_size(t, face)[1] for t in captions), default=0)
    cap_h = cap_h + 3 if cap_h else 0
    title_h = _text_size(title, title_face)[1] + PAD if title else 0
    cell_w, cell_h = tw + GAP, th + cap_h + GAP
    width = max(PAD + label_w + columns * cell_w - GAP + PAD,
                PAD + _text_size(title, title_face)[0] + PAD)
    height = PAD + title_h + head_h + rows * cell_h - GAP + PAD
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.multiline_text((PAD, PAD), title, fill=INK, font=title_face, spacing=2)
    top, left = PAD + title_h + head_h, PAD + label_w
    for col, text in enumerate(column_labels[:columns]):
        w, h = _text_size(text, face)
        x = left + col * cell_w + (tw - w) // 2
        draw.multiline_text((x, top - PAD - h), text, fill=INK, font=face, spacing=2,
                            align="center")
    for row, text in enumerate(row_labels[:rows]):
        w, h = _text_size(text, face)
        y = top + row * cell_h + (th - h) // 2
        draw.multiline_text((left - PAD - w, y), text, fill=INK, font=face, spacing=2,
                            align="right")
    _paste_tiles(canvas, draw, tiles, captions, columns, (left, top), (cell_w, cell_h),
                 (tw, th), face)
    return canvas


def _paste_tiles(canvas, draw, tiles, captions, columns, origin, cell, tile_size, face) -> None:
    """Each tile at its place in the grid, its caption centred under it."""
    (left, top), (cell_w, cell_h), (tw, th) = origin, cell, tile_size
    for index, tile in enumerate(tiles):
        row, col = divmod(index, columns)
        x, y = left + col * cell_w, top + row * cell_h
        canvas.paste(_fit(tile, (tw, th)), (x, y))
        if index < len(captions) and captions[index]:
            w, _ = _text_size(captions[index], face)
            draw.multiline_text((x + (tw - w) // 2, y + th + 2), captions[index], fill=INK,
                                font=face, spacing=2, align="center")


def _fitting_font_size(texts: Sequence[str], width: int, start: int, smallest: int = 10) -> int:
    """The largest size from ``start`` down to ``smallest`` at which every text fits ``width``."""
    for size in range(start, smallest, -1):
        if all(_text_size(text, font(size))[0] <= width + GAP - 2 for text in texts):
            return size
    return smallest


def _fit(tile: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The tile at ``size``, centre-cropped first if its aspect ratio differs."""
    tile = tile.convert("RGB")
    if tile.size == size:
        return tile
    return ImageOps.fit(tile, size, Image.Resampling.LANCZOS)


def grid_shape(count: int, columns: int | None = None) -> tuple[int, int]:
    """(rows, columns) for ``count`` tiles: ``columns`` if given, else a grid a little wider
    than tall, with full rows where possible (8 -> 2x4, 9 -> 3x3, 10 -> 2x5, 16 -> 4x4)."""
    if columns is None:
        low, high = math.ceil(math.sqrt(count)), math.ceil(math.sqrt(2 * count))
        fitting = [c for c in range(low, high + 1) if count % c == 0]
        columns = max(fitting) if fitting else high
    columns = max(1, min(columns, count))
    return math.ceil(count / columns), columns
