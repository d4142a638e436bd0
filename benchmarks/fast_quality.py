"""How close the fast styles come to the optimiser, by painterly's own fp32 objective.

    python benchmarks/fast_quality.py [--photos DIR] [--size 512] [--optimise 1] [--out DIR]
        [--reference chelsea_cat:starry_night:docs/demo.jpg] [--network STYLE_DIR]

For every photo in --photos (default: the five example photos, none of which the bundled
network was trained on) and every bundled style, it paints the photo with the fast network
and scores the result with ``painterly.pipeline.evaluate``: the default objective (content,
style, tv) in fp32 at the output size, against the painting the style was trained on. For
the first --optimise photos it also runs the optimiser with its defaults (``stylize``, the
same size) on every style listed in --optimise-styles and scores that; the table gives the
ratio of the fast result's style loss to the optimiser's. It writes contact sheets (photo,
then one column per style) and, for the optimised pairs, photo | fast | optimiser strips and
the optimiser's own picture (``optimiser_PHOTO_STYLE.png``, for ``--reference`` in a later
run: the optimiser's pictures do not depend on the network). ``--network`` scores another
network trained on the bundled paintings, a candidate phase, in place of the bundled one.
Each fast picture's grid is scored too (``losses.grid_levels``, every 4 pixels: the network's
upsampling), and the photos' beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import painterly  # noqa: F401  (first: it sets OpenMP's spin before PyTorch loads; cpuinfo.py)
import torch
from PIL import Image, ImageDraw

from painterly import StyleConfig, stylize
from painterly.fast import FastPainter, load_mix
from painterly.losses import grid_levels
from painterly.style_folders import BUNDLED_DIR
from painterly.image_io import load_image, pil_to_tensor, tensor_to_pil
from painterly.pipeline import evaluate

STYLES = Path(__file__).resolve().parent.parent / "src" / "painterly" / "data" / "style"
PHOTOS = Path(__file__).resolve().parent.parent.parent / "shared" / "images" / "content"


def main() -> None:
    args = _parse()
    out = Path(args.out or tempfile.mkdtemp(prefix="painterly-fast-quality-"))
    out.mkdir(parents=True, exist_ok=True)
    photos = sorted(p for p in Path(args.photos).iterdir() if p.suffix.lower() in (".jpg", ".png"))
    network = Path(args.network)
    paintings = _paintings(network)
    names = list(paintings)
    print(f"photos: {', '.join(p.name for p in photos)}; size {args.size}; "
          f"load {os.getloadavg()[0]:.2f}; output {out}")
    rows, sheet = [], []
    for index, photo in enumerate(photos):
        image = load_image(photo, long_edge=args.size)
        row = [tensor_to_pil(image)]
        for name in names:
            painter = FastPainter(*load_mix([str(network / name)]))
            painter(image)  # warm-up: the first call sets up PyTorch's kernels
            started = time.perf_counter()
            fast = painter(image)
            seconds = time.perf_counter() - started
            row.append(tensor_to_pil(fast))
            score = evaluate(fast, photo, paintings[name], StyleConfig(size=args.size))
            score["grid"] = grid_of(row[-1], painter.net.upsampling)
            record = {"photo": photo.name, "style": name, "fast": score, "fast_seconds": seconds,
                      "photo_grid": grid_of(row[0], painter.net.upsampling)}
            reference = args.reference.get((photo.stem, name))
            if reference:
                record.update(_score_reference(photo, paintings[name], args.size, out, row[-1],
                                               row[0], reference))
            elif index < args.optimise and name in args.optimise_styles:
                record.update(_optimise(photo, paintings[name], args.size, out, row[-1], row[0]))
            rows.append(record)
            _print(record)
        sheet.append(row)
    _contact_sheet(sheet, ["photo", *names], out / f"fast_styles_{args.size}.jpg")
    (out / "scores.json").write_text(json.dumps(rows, indent=1))
    _summary(rows)


def _optimise(photo, painting, size, out, fast_image, photo_image) -> dict:
    started = time.perf_counter()
    result = stylize(photo, painting, StyleConfig(size=size))
    seconds = time.perf_counter() - started
    result.save(out / f"optimiser_{photo.stem}_{Path(painting).stem}.png")
    score = evaluate(result, photo, painting, StyleConfig(size=size))
    strip = _strip([photo_image, fast_image, result], ["photo", "fast (one pass)", "optimiser (default)"])
    strip.save(out / f"compare_{photo.stem}_{Path(painting).stem}.jpg", quality=90)
    return {"optimiser": score, "optimiser_seconds": seconds}


def _score_reference(photo, painting, size, out, fast_image, photo_image, reference) -> dict:
    """Score an optimiser result made earlier (same photo, painting and size) instead of
    running the optimiser again."""
    result = Image.open(reference).convert("RGB")
    if max(result.size) != size:
        raise SystemExit(f"{reference} is {result.size}, not {size} px on its long edge")
    score = evaluate(result, photo, painting, StyleConfig(size=size))
    strip = _strip([photo_image, fast_image, result], ["photo", "fast (one pass)", "optimiser (default)"])
    strip.save(out / f"compare_{photo.stem}_{Path(painting).stem}.jpg", quality=90)
    return {"optimiser": score, "optimiser_seconds": float("nan"), "reference": str(reference)}


def _paintings(network: Path) -> dict[str, Path]:
    """Each style of the network's name -> the bundled painting it was trained on."""
    config = json.loads((network / "config.json").read_text())
    return {s["name"]: STYLES / s["painting"] for s in config["styles"]}


def _print(record: dict) -> None:
    fast = record["fast"]
    line = (f"{record['photo']:<18} {record['style']:<22} fast: style {fast['style']:.3f} "
            f"content {fast['content']:.3f} grid {fast['grid']:.2f} ({record['fast_seconds']:.2f} s)")
    if "optimiser" in record:
        opt = record["optimiser"]
        line += (f" | optimiser: style {opt['style']:.3f} content {opt['content']:.3f} "
                 f"({record['optimiser_seconds']:.0f} s) | style ratio fast/optimiser "
                 f"{fast['style'] / opt['style']:.2f}")
    print(line, flush=True)


def _summary(rows: list[dict]) -> None:
    compared = [r for r in rows if "optimiser" in r]
    if compared:
        ratios = [r["fast"]["style"] / r["optimiser"]["style"] for r in compared]
        content = [r["fast"]["content"] / r["optimiser"]["content"] for r in compared]
        within = sum(ratio <= 2 for ratio in ratios)
        print(f"\nstyle loss, fast / optimiser default: median {statistics.median(ratios):.2f}, "
              f"best {min(ratios):.2f}, worst {max(ratios):.2f}; within 2x on {within} of "
              f"{len(ratios)} pairs (the goal)")
        print(f"content loss, fast / optimiser default: median {statistics.median(content):.2f}, "
              f"best {min(content):.2f}, worst {max(content):.2f}")
    styles = dict.fromkeys(r["style"] for r in rows)
    print("median grid by style (8-bit levels, repeating every 4 px): " + ", ".join(
        f"{name} {statistics.median(r['fast']['grid'] for r in rows if r['style'] == name):.2f}"
        for name in styles) + f"; the photos {statistics.median(r['photo_grid'] for r in rows):.2f}")
    seconds = [r["fast_seconds"] for r in rows]
    print(f"fast painting time per image (in-process, after loading and one warm-up call): median "
          f"{statistics.median(seconds):.2f} s")


def grid_of(picture: Image.Image, period: int) -> float:
    """``losses.grid_levels`` of a picture: the 8-bit levels of its detail repeating every
    ``period`` pixels."""
    return grid_levels(pil_to_tensor(picture), period).item()


def _strip(images: list[Image.Image], labels: list[str]) -> Image.Image:
    height = min(im.height for im in images)
    scaled = [im.resize((round(im.width * height / im.height), height)) for im in images]
    strip = Image.new("RGB", (sum(im.width for im in scaled), height + 20), "white")
    draw, x = ImageDraw.Draw(strip), 0
    for im, label in zip(scaled, labels):
        strip.paste(im, (x, 20))
        draw.text((x + 4, 4), label, fill="black")
        x += im.width
    return strip


def _contact_sheet(rows, labels, path: Path, cell: int = 200) -> None:
    sheet = Image.new("RGB", (cell * len(labels), 20 + cell * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for j, label in enumerate(labels):
        draw.text((j * cell + 4, 4), label, fill="black")
    for i, row in enumerate(rows):
        for j, im in enumerate(row):
            thumb = im.copy()
            thumb.thumbnail((cell, cell))
            sheet.paste(thumb, (j * cell + (cell - thumb.width) // 2, 20 + i * cell + (cell - thumb.height) // 2))
    sheet.save(path, quality=88)
    print(f"wrote {path}")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", default=str(PHOTOS))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--optimise", type=int, default=1, help="photos also run through the optimiser")
    parser.add_argument("--optimise-styles", default="starry_night,the_scream",
                        type=lambda s: s.split(","))
    parser.add_argument("--reference", action="append", default=[], metavar="PHOTO:STYLE:FILE",
                        help="score FILE, an optimiser result made earlier at --size for that photo "
                             "(file stem) and style, instead of running the optimiser")
    parser.add_argument("--network", default=str(BUNDLED_DIR), metavar="STYLE_DIR",
                        help="a network trained on the bundled paintings (default: the bundled one)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    args.reference = {tuple(r.split(":")[:2]): r.split(":", 2)[2] for r in args.reference}
    return args


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
