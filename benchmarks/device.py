"""painterly on one device, every engine, in one short run: the check to take to a GPU.

    python benchmarks/device.py --device cuda --out /tmp/gpu         # a few minutes on a GPU
    python benchmarks/device.py --device cpu --size 128 --steps 3    # the same code, here

In one process, on ``--device`` in painterly's automatic precision for it:

1. **the optimiser**: the default run (``stylize`` with ``StyleConfig(size=--size)``) of the
   cat and The Starry Night, its wall time after the network is loaded, and its result scored
   by painterly's fp32 objective on the CPU (``pipeline.evaluate``); then the same run in
   fp32 on that device, to show what the precision costs in quality;
2. **a step**: objective and gradient at ``--size`` (median of ``--repeat`` after a warm-up);
3. **fast styles**: one picture of ``--fast-size`` (W x H) through a bundled style, median ms;
4. **any painting**: universal style transfer of the cat at ``--size``, median ms;
5. **training**: ``--steps`` steps of fast-style training on the bundled photos, s per step.

Prints a Markdown table and writes the pictures to ``--out``. Nothing is asserted; on a GPU
every time is taken after ``torch.cuda.synchronize()``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from painterly import StyleConfig, examples, image_io, stylize
from painterly.devices import resolve_runtime
from painterly.fast import TrainConfig, make_painter
from painterly.fast.train import train
from painterly.pipeline import evaluate, load_vgg19

sys.path.insert(0, str(Path(__file__).resolve().parent))
from roofline import ObjectiveStep  # noqa: E402 (benchmarks/roofline.py)

PHOTO, PAINTING = "chelsea_cat", "starry_night"


def timed(fn, device: torch.device) -> tuple[float, object]:
    """(seconds, result) of fn(), synchronising the device before and after."""
    _sync(device)
    start = time.perf_counter()
    result = fn()
    _sync(device)
    return time.perf_counter() - start, result


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn, device: torch.device, repeat: int) -> float:
    fn()  # warm-up: kernels chosen, caches filled
    return statistics.median(timed(fn, device)[0] for _ in range(repeat))


def optimiser_runs(args, out: Path) -> list[tuple[str, str]]:
    rows = []
    photo, painting = examples.example_path(PHOTO), examples.example_path(PAINTING)
    load_vgg19(None, "auto", "avg")  # cached: the runs below time painting, not loading
    for precision in ("auto", "fp32"):
        config = StyleConfig(size=args.size, device=args.device, precision=precision,
                             **({"iterations": args.iterations} if args.iterations else {}))
        runtime = resolve_runtime(args.device, precision)
        seconds, image = timed(lambda: stylize(photo, painting, config), runtime.device)
        path = out / f"stylize_{precision}.png"
        image.save(path)
        score = evaluate(path, photo, painting, StyleConfig(size=args.size))
        rows.append((f"default run, {runtime.describe()}",
                     f"{seconds:.1f} s; fp32 objective {score['total']:.3f} "
                     f"(content {score['content']:.3f}, style {score['style']:.3f})"))
    return rows


def step_time(args) -> tuple[str, str]:
    step = ObjectiveStep(PHOTO, PAINTING, args.size, args.device, "auto")
    h, w = step.photo.shape[-2:]
    return (f"objective + gradient, {w}x{h}",
            f"{median_seconds(step, step.runtime.device, args.repeat) * 1e3:.1f} ms")


def one_pass_times(args, out: Path) -> list[tuple[str, str]]:
    runtime = resolve_runtime(args.device, "auto")
    rows = []
    width, height = (int(v) for v in args.fast_size.split("x"))
    photo = image_io.load_image(examples.example_path(PHOTO))
    frame = torch.nn.functional.interpolate(photo, size=(height, width), mode="bilinear")
    cases = [("fast style starry_night", "fast_style", ["starry_night"], frame),
             ("any painting (universal)", "any_painting",
              [str(examples.example_path("the_scream"))],
              image_io.resize_long_edge(photo, args.size))]
    for label, stem, styles, image in cases:
        painter = make_painter(styles, runtime=runtime)
        seconds = median_seconds(lambda: painter(image), runtime.device, args.repeat)
        image_io.tensor_to_pil(painter(image)).save(out / f"{stem}.png")
        h, w = image.shape[-2:]
        rows.append((f"{label}, {w}x{h}", f"{seconds * 1e3:.1f} ms"))
    return rows


def training_time(args, out: Path) -> tuple[str, str]:
    photos = examples.example_path(PHOTO).parent
    config = TrainConfig(steps=args.steps, device=args.device, checkpoint_minutes=1e6)
    runtime = resolve_runtime(args.device, "auto")
    seconds, _ = timed(lambda: train([examples.example_path("the_scream")], photos, out / "style",
                                     config), runtime.device)
    return (f"fast-style training, batch {config.batch_size} of {config.crop_size} px",
            f"{seconds / args.steps:.2f} s a step ({args.steps} steps, start-up included)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=0, help="0: the default")
    parser.add_argument("--fast-size", default="1024x576")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--steps", type=int, default=100, help="training steps")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="painterly-device-"))
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_runtime(args.device, "auto").device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {device} ({name}); torch {torch.__version__}; pictures in {out}", flush=True)
    rows = optimiser_runs(args, out)
    rows.append(step_time(args))
    rows += one_pass_times(args, out)
    rows.append(training_time(args, out))
    print("| what | measured |\n|---|---|")
    for what, value in rows:
        print(f"| {what} | {value} |")


if __name__ == "__main__":
    main()
