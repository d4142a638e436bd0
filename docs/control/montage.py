"""Side-by-side JPEGs for docs/control from the PNGs written by the commands in the README
("How these images were made").

Usage: python docs/control/montage.py FOLDER_WITH_PNGS [CAT_4096.png]
Only puts painterly's outputs next to each other (and crops/downscales the 4096 px result);
it paints nothing itself.
"""

import sys
from pathlib import Path

from PIL import Image

from painterly import tiling

HERE = Path(__file__).parent
ROWS = {
    "color.jpg": ["color_none.png", "color_luminance.png", "color_histogram.png"],
    "blend.jpg": ["color_none.png", "wave.png", "blend.png"],
    "style_scale.jpg": ["scale_0.5.png", "color_none.png", "scale_2.png"],
    "regions.jpg": ["@labels", "labels.png", "mask_cat_only.png"],
}
LABELS = HERE.parent.parent / "src/painterly/data/masks/chelsea_cat_labels.png"
TILE, OVERLAP = 1024, 64  # the tiles the 4096 px run used (its log says "15 tiles of 1024 px")


def row(paths: list[Path], height: int = 300, gap: int = 6) -> Image.Image:
    images = [Image.open(p).convert("RGB") for p in paths]
    images = [im.resize((round(im.width * height / im.height), height), Image.LANCZOS)
              for im in images]
    out = Image.new("RGB", (sum(im.width for im in images) + gap * (len(images) - 1), height),
                    "white")
    x = 0
    for im in images:
        out.paste(im, (x, 0))
        x += im.width + gap
    return out


def main(folder: str, big: str | None = None) -> None:
    src = Path(folder)
    for name, files in ROWS.items():
        paths = [LABELS if f == "@labels" else src / f for f in files]
        row(paths).save(HERE / name, quality=85, optimize=True)
    if big:
        Image.MAX_IMAGE_PIXELS = None  # our own 11 M pixel output
        image = Image.open(big).convert("RGB")
        small = image.resize((1024, round(1024 * image.height / image.width)), Image.LANCZOS)
        small.save(HERE / "cat_4096_small.jpg", quality=85, optimize=True)
        image.crop(tile_corner(image.height, image.width)).save(
            HERE / "cat_4096_tile_corner.jpg", quality=85, optimize=True)


def tile_corner(height: int, width: int, half: tuple[int, int] = (192, 288)) -> tuple:
    """A crop (left, top, right, bottom) centred where the 2nd and 3rd tile columns and the
    2nd and 3rd tile rows cross-fade, so four tiles meet in it."""
    ys = tiling.tile_starts(height, TILE, OVERLAP)
    xs = tiling.tile_starts(width, TILE, OVERLAP)
    cy, cx = (ys[2] + ys[1] + TILE) // 2, (xs[2] + xs[1] + TILE) // 2
    return cx - half[1], cy - half[0], cx + half[1], cy + half[0]

if __name__ == "__main__":
    main(*sys.argv[1:])
