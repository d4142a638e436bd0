#!/usr/bin/env python3
"""Gather paintings that no training or tuning of painterly has seen, from Debian's archive.

    python scripts/gather_paintings.py OUT_DIR

GCompris (package ``gcompris-qt-data``) has a jigsaw activity of public-domain paintings; its
Qt resource file holds each painting cut into pieces, and one QML board per painting gives
each piece's centre. This script unpacks the package with ``dpkg-deb -x`` (nothing is
installed), reads the resource file, lays the pieces out again and fills the hair-thin seams
between them from a blurred copy. It writes

    OUT_DIR/<artist_title>.png   one per painting (about 600 x 450 px)
    OUT_DIR/PAINTINGS.csv        file, title as GCompris gives it, board
    OUT_DIR/copyright            the package's copyright file

The works are public domain; Debian's copyright file credits the reproductions to WebMuseum
under GPL-3+. Two boards are left out: the Great Wave (painterly ships it) and a photograph of
Michelangelo's Pieta (a sculpture, not a painting).
"""

from __future__ import annotations

import csv
import re
import shutil
import struct
import sys
import tempfile
import unicodedata
import zlib
from pathlib import Path

from gather_photos import _unpack_deb  # this folder is on the path when the script runs
from PIL import Image, ImageFilter

PACKAGE = "gcompris-qt-data"
RESOURCE = "usr/share/gcompris-qt/rcc/paintings.rcc"
LEFT_OUT = ("Great Wave", "Pieta")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        root = _unpack_deb(PACKAGE, Path(work))
        files = read_resource((root / RESOURCE).read_bytes())
        shutil.copy(root / "usr/share/doc" / PACKAGE / "copyright", out / "copyright")
    rows = []
    for board, text in sorted(files.items()):
        if not re.fullmatch(r"board\d+_0\.qml", board):
            continue
        title, picture = assemble(text.decode(), files)
        if any(word in title for word in LEFT_OUT):
            continue
        name = file_name(title)
        picture.save(out / name)
        rows.append({"file": name, "title": title, "board": board})
    with open(out / "PAINTINGS.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} paintings in {out}")


def file_name(title: str) -> str:
    """"Vincent Van Gogh, Village Street in Auvers - 1890" -> "gogh_village_street_in_auvers.png"."""
    artist, _, work = title.split(" - ")[0].partition(", ")
    words = " ".join([artist.split()[-1], *work.split()[:4]])
    plain = unicodedata.normalize("NFKD", words).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", plain.lower()).strip("_") + ".png"


def read_resource(data: bytes) -> dict[str, bytes]:
    """The files of a Qt resource (.rcc, format 2 or 3) by base name.

    Layout: a header (b"qres", version, then offsets of the tree, the data and the names);
    22-byte tree entries (name offset, flags, then a directory's child count and first
    child, or a file's locale and data offset, then a timestamp); each name is a length,
    a hash and UTF-16 text; each file's data is a length and bytes (flag 1: zlib with a
    4-byte length in front).
    """
    magic, version, tree, blobs, names = struct.unpack(">4sIIII", data[:20])
    if magic != b"qres" or version not in (2, 3):
        raise ValueError(f"not a Qt resource file of format 2 or 3 ({magic!r}, {version})")
    files: dict[str, bytes] = {}

    def name(offset: int) -> str:
        (length,) = struct.unpack(">H", data[names + offset:names + offset + 2])
        return data[names + offset + 6:names + offset + 6 + 2 * length].decode("utf-16-be")

    def walk(index: int) -> None:
        entry = tree + 22 * index
        name_offset, flags = struct.unpack(">IH", data[entry:entry + 6])
        if flags & 2:
            count, first = struct.unpack(">II", data[entry + 6:entry + 14])
            for child in range(first, first + count):
                walk(child)
            return
        (offset,) = struct.unpack(">I", data[entry + 10:entry + 14])
        (size,) = struct.unpack(">I", data[blobs + offset:blobs + offset + 4])
        blob = data[blobs + offset + 4:blobs + offset + 4 + size]
        files[name(name_offset)] = zlib.decompress(blob[4:]) if flags & 1 else blob

    walk(0)
    return files


def assemble(board: str, files: dict[str, bytes]) -> tuple[str, Image.Image]:
    """(title, RGB picture) of one board: its pieces pasted at their centres, given as
    fractions of the board's size, then cropped to the pieces and the seams filled."""
    import io

    title = re.search(r'qsTr\("(.*?)"\)', board).group(1)
    width = int(re.search(r'"width": (\d+)', board).group(1))
    height = int(re.search(r'"height": (\d+)', board).group(1))
    canvas = Image.new("RGBA", (width, height))
    for piece, x, y in re.findall(
            r'"pixmapfile" : "image/([^"]+\.webp)",\s*"x" : "([\d.]+)",\s*"y" : "([\d.]+)"', board):
        image = Image.open(io.BytesIO(files[piece])).convert("RGBA")
        canvas.alpha_composite(image, (round(float(x) * width - image.width / 2),
                                       round(float(y) * height - image.height / 2)))
    canvas = canvas.crop(canvas.getchannel("A").getbbox())
    # Seams: the blurred copy, premultiplied over grey, gives each gap its neighbours' colour.
    filled = Image.alpha_composite(Image.new("RGBA", canvas.size, (128, 128, 128, 255)),
                                   canvas.filter(ImageFilter.GaussianBlur(3)))
    filled.alpha_composite(canvas)
    return title, filled.convert("RGB")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
