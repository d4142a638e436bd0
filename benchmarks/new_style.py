"""A style trained by ``painterly train`` on a new painting, judged on photos it never saw:
each engine's picture scored by painterly's own fp32 objective against that painting.

    painterly train PAINTING --photos DIR --add-to bundled -o /tmp/nine      # about a minute
    painterly train PAINTING --photos DIR -o /tmp/scratch                    # a new network
    python benchmarks/new_style.py PAINTING --engine "add-to=/tmp/nine/NAME" \\
        --engine "from scratch=/tmp/scratch" --photos /tmp/photos/heldout --out /tmp/new-style

Every ``--engine LABEL=STYLE`` is anything ``painterly fast --style`` takes (a style folder,
FOLDER/NAME, or a picture file for the one-pass any-painting path); the painting itself is
always added as ``any painting``. For the first ``--optimise`` photos the optimiser's default
run (``stylize``) is scored too, and each engine's style loss is given as a multiple of it.
Writes ``sheet.jpg`` (photo, each engine, the optimiser where run, the painting) and
``scores.json`` into ``--out``; prints one line per picture and the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

from painterly import StyleConfig, stylize
from painterly.fast import fast_stylize
from painterly.image_io import PICTURE_SUFFIXES, load_image, tensor_to_pil
from painterly.pipeline import evaluate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fast_quality import _contact_sheet  # benchmarks/fast_quality.py


def main(argv=None) -> None:
    args = _parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    engines = dict(spec.split("=", 1) for spec in args.engine)
    engines["any painting"] = str(args.painting)
    photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in PICTURE_SUFFIXES)
    config = StyleConfig(size=args.size)
    columns = [*engines, *(["optimiser"] if args.optimise else [])]
    painting = Image.open(args.painting).convert("RGB")
    blank = Image.new("RGB", painting.size, "white")
    rows, sheet = [], []
    for index, photo in enumerate(photos[: args.limit]):
        results = {label: fast_stylize(photo, style, size=args.size)
                   for label, style in engines.items()}
        if index < args.optimise:
            started = time.perf_counter()
            results["optimiser"] = stylize(photo, args.painting, config)
            print(f"{photo.name}: optimiser {time.perf_counter() - started:.0f} s", flush=True)
        for label, picture in results.items():
            score = evaluate(picture, photo, args.painting, config)
            rows.append({"photo": photo.name, "engine": label, "style": score["style"],
                         "content": score["content"]})
            print(f"{photo.name:<36} {label:<16} style {score['style']:.3f} "
                  f"content {score['content']:.3f}", flush=True)
        sheet.append([tensor_to_pil(load_image(photo, long_edge=args.size)),
                      *(results.get(label, blank) for label in columns), painting])
    _contact_sheet(sheet, ["photo", *columns, "painting"], args.out / "sheet.jpg", cell=args.cell)
    (args.out / "scores.json").write_text(json.dumps(rows, indent=1))
    _summary(rows)


def _summary(rows: list[dict]) -> None:
    print("\nmedian over the photos:")
    for label in dict.fromkeys(r["engine"] for r in rows):
        mine = [r for r in rows if r["engine"] == label]
        line = (f"  {label:<16} style {statistics.median(r['style'] for r in mine):.3f} "
                f"content {statistics.median(r['content'] for r in mine):.3f}")
        optimised = {r["photo"]: r["style"] for r in rows if r["engine"] == "optimiser"}
        ratios = [r["style"] / optimised[r["photo"]] for r in mine if r["photo"] in optimised]
        if ratios and label != "optimiser":
            line += f"; style / optimiser's {statistics.median(ratios):.2f} ({len(ratios)} photos)"
        print(line)


def _parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("painting", type=Path)
    parser.add_argument("--engine", action="append", default=[], metavar="LABEL=STYLE")
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--optimise", type=int, default=1,
                        help="photos also run through the optimiser")
    parser.add_argument("--cell", type=int, default=200, help="side of a sheet cell, in pixels")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if any("=" not in spec for spec in args.engine):
        parser.error("--engine takes LABEL=STYLE")
    return args


if __name__ == "__main__":
    main()
