"""A clip in segments: frames/s of ``painterly video`` in this process (one pass), in local
worker processes and on a two-node local Ray cluster (127.0.0.1, started and stopped here).

    python benchmarks/segments.py [--frames 48] [--size 256] [--engine optimize]
                                  [--iterations 20] [--workers 2]

The clip is a pan over the bundled cat, encoded once. Each run paints it from an empty work
folder, as ``paint_clip`` does for ``painterly video --workers N`` / ``--ray``; the time is
the whole run (workers' start-up, decoding, the lead-in frames painted twice, and encoding
included). Progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_batch_ray import LocalCluster  # noqa: E402  (the tests' local cluster)

from painterly import image_io  # noqa: E402
from painterly.batch import cluster, process_backend  # noqa: E402
from painterly.examples import example_path  # noqa: E402
from painterly.video import EngineRecipe, paint_clip, probe, write_clip  # noqa: E402
from painterly.video.run import OVERLAP  # noqa: E402


def pan_clip(path: Path, frames: int, width: int) -> Path:
    """A pan of 3 px a frame over the cat, ``width`` x 9/16 of it, at 25 frames/s."""
    height = width * 9 // 16 // 2 * 2
    cat = image_io.load_image(example_path("chelsea_cat"), long_edge=width + 3 * frames)
    photo = (cat[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    photo = cv2.resize(photo, (width + 3 * frames, max(height, photo.shape[0])))
    clip = (np.ascontiguousarray(photo[:height, 3 * t:3 * t + width]) for t in range(frames))
    return write_clip(path, clip, rate=Fraction(25), size=(width, height))


def timed(label: str, clip: Path, out: Path, recipe: EngineRecipe, **parallel) -> float:
    """Frames/s of painting ``clip`` from scratch into ``out``."""
    begun = time.perf_counter()
    paint_clip(probe(clip), out, recipe, **parallel)
    seconds = time.perf_counter() - begun
    frames = probe(clip).frames
    print(f"  {label}: {frames / seconds:.3f} frames/s ({seconds:.1f} s)", file=sys.stderr)
    return frames / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--engine", choices=["fast", "optimize"], default="optimize")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    recipe = EngineRecipe(args.engine, ("starry_night",), iterations=args.iterations,
                          device="cpu", precision="fp32")
    load, results = os.getloadavg()[0], {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clip = pan_clip(root / "pan.mp4", args.frames, args.size)
        out = iter(root / f"out{n}.mp4" for n in range(10))
        results["one pass, this process"] = timed("one pass", clip, next(out), recipe)
        results[f"{args.workers} processes"] = timed(
            f"{args.workers} processes", clip, next(out), recipe, segments=args.workers,
            backend=functools.partial(process_backend, workers=args.workers))
        nodes = LocalCluster(head_cpus=1, worker_cpus=1)
        try:
            results["Ray, 2 nodes (one machine)"] = timed(
                "Ray, 2 nodes", clip, next(out), recipe, segments=2,
                backend=functools.partial(cluster.task_backend, address=nodes.address))
        finally:
            nodes.stop()
    print(f"painterly video: {args.frames} frames at {args.size} px, {args.engine}"
          + (f" ({args.iterations} iterations a frame)" if args.engine == "optimize" else "")
          + f", segments crossfaded over {OVERLAP} frames; {len(os.sched_getaffinity(0))} cores, "
          f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")
    base = results["one pass, this process"]
    print(f"{'run':32} {'frames/s':>9} {'speed-up':>9}")
    for name, rate in results.items():
        print(f"{name:32} {rate:9.3f} {rate / base:8.2f}x")


if __name__ == "__main__":
    main()
