"""Does starting the optimiser from a one-pass painting (``--init fast``) get to a good picture
sooner than starting from the photo (``--init content``, Gatys et al.)?

    python benchmarks/init.py --photos A.jpg B.jpg --paintings X.png Y.png [--size 256]
        [--iterations 150] [--scales 1] [--out DIR]

For every photo × painting, both runs use the same settings but ``init``. The clock starts
before ``painterly.stylize`` is called, so the fast start's own cost (loading the decoders,
painting the photo in one pass) counts against it. At the output size, each optimiser step's
total loss (the objective both runs minimise) is recorded with the time. Printed per pair:

* ``content``: the photo-started run's final loss, and its time;
* ``fast``: the time the fast-started run first reached that loss (``never`` if it did not),
  and its own final loss;
* ``speed-up``: the first time over the second.

Paintings without a trained fast style are started by universal style transfer (Li et al.
2017). Use photos and paintings that no training or tuning saw, and say which. Writes
``init.json`` and one strip per pair (photo | painting | content start | fast start, each
after all its steps) into --out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from fast_quality import _strip  # this folder is on the path when the script runs
from PIL import Image

from painterly import StyleConfig, stylize
from painterly.image_io import load_image, tensor_to_pil


def main() -> None:
    args = _parse()
    out = Path(args.out or tempfile.mkdtemp(prefix="painterly-init-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"size {args.size}; {args.iterations} steps at the output size, {args.scales} scale(s); "
          f"load {os.getloadavg()[0]:.2f}; output {out}")
    rows = []
    for photo in args.photos:
        for painting in args.paintings:
            rows.append(_pair(photo, painting, args, out))
    (out / "init.json").write_text(json.dumps(rows, indent=1))
    speedups = [r["speedup"] for r in rows if r["speedup"] is not None]
    print(f"\nspeed-up to the photo-started run's final loss: median "
          f"{statistics.median(speedups) if speedups else float('nan'):.2f}x over {len(speedups)} "
          f"of {len(rows)} pairs (the others never reached it)")


def _pair(photo: Path, painting: Path, args, out: Path) -> dict:
    runs = {init: _run(photo, painting, init, args) for init in ("content", "fast")}
    (content_curve, content_image), (fast_curve, fast_image) = runs["content"], runs["fast"]
    target, content_seconds = content_curve[-1][1], content_curve[-1][0]
    reached = next((t for t, loss in fast_curve if loss <= target), None)
    record = {"photo": photo.name, "painting": painting.name, "content_final": target,
              "content_seconds": content_seconds, "fast_final": fast_curve[-1][1],
              "fast_seconds": fast_curve[-1][0], "fast_reached_seconds": reached,
              "speedup": content_seconds / reached if reached else None,
              "curves": {"content": content_curve, "fast": fast_curve}}
    photo_image = tensor_to_pil(load_image(photo, long_edge=args.size))
    _strip([photo_image, Image.open(painting).convert("RGB"), content_image, fast_image],
           ["photo", "painting", f"init content, {args.iterations} steps",
            f"init fast, {args.iterations} steps"]).save(out / f"{photo.stem}__{painting.stem}.jpg",
                                                         quality=90)
    when = f"{reached:.1f} s" if reached else "never"
    print(f"{photo.name:<26} {painting.name:<30} content: {target:.4g} at {content_seconds:.1f} s | "
          f"fast: reached it {when}, final {fast_curve[-1][1]:.4g} at {fast_curve[-1][0]:.1f} s"
          + (f" | speed-up {record['speedup']:.2f}x" if reached else ""), flush=True)
    return record


def _run(photo: Path, painting: Path, init: str, args) -> tuple[list[tuple[float, float]], Image.Image]:
    """[(seconds since the call, total loss)] at the output size, and the finished picture."""
    config = StyleConfig(size=args.size, iterations=args.iterations, scales=args.scales, init=init)
    curve: list[tuple[float, float]] = []
    started = time.perf_counter()

    def record(progress) -> None:
        if progress.scale == progress.scales:
            curve.append((time.perf_counter() - started, progress.losses["total"]))

    image = stylize(photo, [(painting, 1.0)], config, callback=record)
    return curve, image


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, nargs="+", required=True)
    parser.add_argument("--paintings", type=Path, nargs="+", required=True)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--scales", type=int, default=1)
    parser.add_argument("--out", default=None)
    return parser.parse_args()


if __name__ == "__main__":
    main()
