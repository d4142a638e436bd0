"""Winograd against direct convolutions on this CPU, side by side, in one process.

    python benchmarks/winograd.py                       # steps at 128 to 1024 px, universal
    python benchmarks/winograd.py --sizes 512 --repeat 10

painterly runs VGG19's 3x3 convolutions by Winograd's algorithm through NNPACK on fp32 CPUs
with AVX2 and no AVX-512 (``models/winograd.py``). This measures what that buys here, in
fp32 whatever the CPU, against the same networks with direct (oneDNN) convolutions:

* one optimiser step, objective and gradient, of --content and --style at each long edge of
  --sizes, the two networks taking turns (median of --repeat, after one untimed step each);
* one universal picture (any painting, one pass) of the same pair at --universal-size, the
  painting's statistics included, the two painters taking turns.

It prints a table with each ratio (above 1: Winograd is faster). Nothing is asserted; the
load average is printed before and after. Needs NNPACK (PyTorch's x86 builds).
"""

from __future__ import annotations

import painterly  # noqa: F401  (first: it sets OpenMP's spin before PyTorch loads; cpuinfo.py)

import argparse
import dataclasses
import os
import statistics
import time

from roofline import ObjectiveStep  # this folder is on the path when the script runs

from painterly import StyleConfig, examples, image_io
from painterly.cpuinfo import reuse_freed_memory
from painterly.devices import resolve_runtime
from painterly.fast.wct import UniversalPainter
from painterly.models.winograd import available
from painterly.pipeline import _prepare, load_vgg19


def step_seconds(content: str, style: str, size: int, repeat: int) -> dict[str, float]:
    """Median seconds of one objective-and-gradient step: {"direct", "Winograd"}."""
    step = ObjectiveStep(content, style, size, "cpu", "fp32")
    winograd = dataclasses.replace(step.runtime, winograd=True)
    config = StyleConfig(size=size, precision="fp32", device="cpu")
    variants = {kind: (runtime, _prepare(load_vgg19(None, "auto", config.pooling), config, runtime))
                for kind, runtime in (("direct", dataclasses.replace(winograd, winograd=False)),
                                      ("Winograd", winograd))}
    return alternate({kind: lambda v=v: _step(step, *v) for kind, v in variants.items()}, repeat)


def _step(step: ObjectiveStep, runtime, net) -> None:
    step.runtime, step.net = runtime, net
    step()


def universal_seconds(content: str, style: str, size: int, repeat: int) -> dict[str, float]:
    """Median seconds of one universal picture, the painting's statistics included."""
    photo, painting = (image_io.load_image(examples.example_path(name) or name, long_edge=size)
                       for name in (content, style))
    base = dataclasses.replace(resolve_runtime("cpu", "fp32"), winograd=False)
    painters = {"direct": UniversalPainter(runtime=base),
                "Winograd": UniversalPainter(runtime=dataclasses.replace(base, winograd=True))}

    def paint(painter: UniversalPainter) -> None:
        painter.paint(photo, [(painter.style(painting), 1.0)])

    return alternate({kind: lambda p=p: paint(p) for kind, p in painters.items()}, repeat)


def alternate(runs: dict, repeat: int) -> dict[str, float]:
    """Each run once untimed, then ``repeat`` rounds taking turns; median seconds of each."""
    for run in runs.values():
        run()
    seconds: dict[str, list[float]] = {kind: [] for kind in runs}
    for _ in range(repeat):
        for kind, run in runs.items():
            start = time.perf_counter()
            run()
            seconds[kind].append(time.perf_counter() - start)
    return {kind: statistics.median(values) for kind, values in seconds.items()}


def print_table(rows: list[tuple[str, dict[str, float]]], old: str, new: str,
                milliseconds: bool = False) -> None:
    """A Markdown table of (what, {old: seconds, new: seconds}) rows with old / new (above 1:
    the new way is faster), then the load average."""
    unit, scale, digits = ("ms", 1e3, 1) if milliseconds else ("s", 1.0, 3)
    print(f"| what | {old} {unit} | {new} {unit} | × |\n|---|---:|---:|---:|")
    for what, seconds in rows:
        print(f"| {what} | {seconds[old] * scale:.{digits}f} | {seconds[new] * scale:.{digits}f} | "
              f"{seconds[old] / seconds[new]:.2f} |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--content", default="chelsea_cat")
    parser.add_argument("--style", default="starry_night")
    parser.add_argument("--sizes", default="128,256,512,1024",
                        help="long edges of the timed steps, comma-separated")
    parser.add_argument("--universal-size", type=int, default=512, help="0: skip it")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    if not available():
        raise SystemExit("this PyTorch has no NNPACK (x86 builds have it)")
    reuse_freed_memory()  # as the painterly command does
    print(f"load average before: {os.getloadavg()}; GOMP_SPINCOUNT "
          f"{os.environ.get('GOMP_SPINCOUNT', 'unset')}")
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append((f"optimiser step, {size} px",
                     step_seconds(args.content, args.style, size, args.repeat)))
    if args.universal_size:
        rows.append((f"universal picture, {args.universal_size} px",
                     universal_seconds(args.content, args.style, args.universal_size,
                                       args.repeat)))
    print_table(rows, "direct", "Winograd")

if __name__ == "__main__":
    main()
