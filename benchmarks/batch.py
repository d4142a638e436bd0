"""``painterly batch`` throughput: in this process, and on a one-node and a two-node local
Ray cluster (127.0.0.1, started and stopped here), for both engines.

    python benchmarks/batch.py [--photos 8] [--size 64] [--iterations 10]

Prints images/s for each (steady state: first result to last) and, for the optimiser, Ray's overhead per image against a local
run as a ratio: one task at a time with all this machine's cores, against the same run in
this process. Progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_batch_ray import LocalCluster  # noqa: E402  (the tests' local cluster)

from painterly import StyleConfig, batch  # noqa: E402
from painterly.batch import cluster  # noqa: E402
from painterly.examples import example_path  # noqa: E402


def photos(folder: Path, count: int) -> list[batch.Item]:
    cat = Image.open(example_path("chelsea_cat")).convert("RGB")
    for n in range(count):
        cat.rotate(n * 7).save(folder / f"photo{n:03d}.png")
    return batch.gather([str(folder)], ["starry_night"], "png")


def timed(label: str, items, engine, out: Path, backend=None) -> float:
    """Seconds per image in the steady state: from the first result to the last, over the
    images between (a worker's start-up and network loading are not counted)."""
    stamps: list[float] = []
    summary = batch.run_batch(items, engine, out, backend=backend,
                              callback=lambda result, summary: stamps.append(time.perf_counter()))
    assert summary.ok and summary.done == len(items), summary
    seconds = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
    print(f"  {label}: {1 / seconds:.2f} images/s ({seconds:.2f} s per image)", file=sys.stderr)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    optimise = batch.OptimizeEngine(StyleConfig(size=args.size, iterations=args.iterations,
                                                device="cpu", precision="fp32"))
    fast = batch.FastEngine(size=args.size * 4, device="cpu", precision="fp32")
    results: dict[str, float] = {}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        items = photos(root / "in", args.photos + 1)
        out = iter(root / f"out{n}" for n in range(100))
        print("local", file=sys.stderr)
        results["local optimise"] = timed("optimise", items, optimise, next(out))
        results["local fast"] = timed("fast", items, fast, next(out))
        for name, (head, worker) in {"1 node": (cores, 0), "2 nodes": (1, 1)}.items():
            print(f"Ray, {name}", file=sys.stderr)
            nodes = LocalCluster(head_cpus=head, worker_cpus=worker)
            try:
                if name == "1 node":  # Ray's own cost: one task at a time, all the cores
                    results["ray 1 task optimise"] = timed(
                        "optimise, one task at a time", items, optimise, next(out),
                        cluster.task_backend(optimise, nodes.address, cpus=cores, in_flight=1))
                results[f"ray {name} optimise"] = timed(
                    "optimise", items, optimise, next(out),
                    cluster.task_backend(optimise, nodes.address, cpus=1))
                results[f"ray {name} fast"] = timed(
                    "fast", items, fast, next(out),
                    cluster.data_backend(fast, nodes.address, cpus=1, batch_size=2))
            finally:
                nodes.stop()
    report(results, args, cores, load, os.getloadavg()[0])


def report(results: dict[str, float], args, cores: int, before: float, after: float) -> None:
    print(f"painterly batch: {args.photos} photos, optimise {args.size} px x {args.iterations} "
          f"iterations, fast {args.size * 4} px; {cores} cores, load average {before:.2f} "
          f"before, {after:.2f} after")
    print(f"{'run':32} {'images/s':>9} {'s/image':>8}")
    for name, seconds in results.items():
        print(f"{name:32} {1 / seconds:9.2f} {seconds:8.2f}")
    local = results["local optimise"]
    ratio = results["ray 1 task optimise"] / local
    print(f"Ray overhead per image, optimiser (one task at a time / local): {ratio:.3f} "
          f"({(ratio - 1) * 100:+.1f}%)")
    for name in ("1 node", "2 nodes"):
        print(f"Ray {name} / local, images/s: optimise "
              f"{local / results[f'ray {name} optimise']:.2f}, fast "
              f"{results['local fast'] / results[f'ray {name} fast']:.2f}")


if __name__ == "__main__":
    main()
