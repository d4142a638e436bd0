"""painterly on one device, every engine, in one short run: the check to take to a GPU.

    python benchmarks/device.py --device cuda --out /tmp/gpu         # a few minutes on a GPU
    python benchmarks/device.py --device cpu --size 128 --steps 3    # the same code, here

In one process, on ``--device`` in painterly's automatic precision for it:

1. **the optimiser**: the default run (``stylize`` with ``StyleConfig(size=--size)``) of the
   cat and The Starry Night, its wall time after the network is loaded, and its result scored
   by painterly's fp32 objective on the CPU (``pipeline.evaluate``); then the same run in
   fp32 on that device, to show what the precision costs in quality, and the first run
   again, now that the device has started;
2. **a step**: objective and gradient at each of ``--step-sizes`` (median of ``--repeat``
   after a warm-up), with its arithmetic rate against the device's best matrix product in the
   network's dtype (as ``benchmarks/roofline.py`` counts it);
3. **fast styles**: one picture of each of ``--fast-sizes`` (W x H) through a bundled style,
   median ms and frames per second;
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
import traceback
from pathlib import Path

import painterly  # noqa: F401  (first: it sets OpenMP's spin before PyTorch loads; cpuinfo.py)
import torch

from painterly import StyleConfig, examples, image_io, stylize
from painterly.devices import resolve_runtime
from painterly.fast import TrainConfig, make_painter
from painterly.fast.train import train
from painterly.pipeline import evaluate, load_vgg19

sys.path.insert(0, str(Path(__file__).resolve().parent))
from roofline import ObjectiveStep, matmul_ceiling, step_flop  # noqa: E402 (benchmarks/roofline.py)

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
    # The first run pays the device's start (kernels loaded on first use); the third repeats
    # it in a process that has painted before, as a batch worker's has.
    for when, precision in (("first", "auto"), ("second", "fp32"), ("third", "auto")):
        config = StyleConfig(size=args.size, device=args.device, precision=precision,
                             **({"iterations": args.iterations} if args.iterations else {}))
        runtime = resolve_runtime(args.device, precision)
        seconds, image = timed(lambda: stylize(photo, painting, config), runtime.device)
        path = out / f"stylize_{precision}.png"
        image.save(path)
        score = evaluate(path, photo, painting, StyleConfig(size=args.size))
        rows.append((f"default run, {runtime.describe()}, the process's {when}",
                     f"{seconds:.1f} s; fp32 objective {score['total']:.3f} "
                     f"(content {score['content']:.3f}, style {score['style']:.3f})"))
    return rows


def step_times(args) -> list[tuple[str, str]]:
    runtime = resolve_runtime(args.device, "auto")
    sides = (4096, 8192) if runtime.device.type == "cuda" else (1024, 2048)
    ceiling = matmul_ceiling(runtime.dtype, sides, device=runtime.device)
    dtype = str(runtime.dtype).removeprefix("torch.")
    rows = [(f"matrix product ceiling, {dtype}", f"{ceiling / 1e12:.1f} TFLOP/s")]
    for size in args.step_sizes:
        step = ObjectiveStep(PHOTO, PAINTING, size, args.device, "auto")
        seconds = median_seconds(step, runtime.device, args.repeat)
        rate = sum(step_flop(step).values()) / seconds
        h, w = step.photo.shape[-2:]
        rows.append((f"objective + gradient, {w}x{h}",
                     f"{seconds * 1e3:.1f} ms; {rate / 1e12:.1f} TFLOP/s, "
                     f"{rate / ceiling:.0%} of the ceiling"))
        del step
    return rows


def one_pass_times(args, out: Path) -> list[tuple[str, str]]:
    runtime = resolve_runtime(args.device, "auto")
    rows = []
    photo = image_io.load_image(examples.example_path(PHOTO))
    cases = [("fast style starry_night", f"fast_style_{width}x{height}", ["starry_night"],
              torch.nn.functional.interpolate(photo, size=(height, width), mode="bilinear"))
             for width, height in args.fast_sizes]
    cases.append(("any painting (universal)", "any_painting",
                  [str(examples.example_path("the_scream"))],
                  image_io.resize_long_edge(photo, args.size)))
    for label, stem, styles, image in cases:
        painter = make_painter(styles, runtime=runtime)
        seconds = median_seconds(lambda: painter(image), runtime.device, args.repeat)
        image_io.tensor_to_pil(painter(image)).save(out / f"{stem}.png")
        h, w = image.shape[-2:]
        rows.append((f"{label}, {w}x{h}", f"{seconds * 1e3:.1f} ms, {1 / seconds:.1f} frames/s"))
    return rows


def training_time(args) -> tuple[str, str]:
    photos = examples.example_path(PHOTO).parent
    config = TrainConfig(steps=args.steps, device=args.device, checkpoint_minutes=1e6)
    runtime = resolve_runtime(args.device, "auto")
    with tempfile.TemporaryDirectory() as folder:  # the network is not kept: only its time
        seconds, _ = timed(lambda: train([examples.example_path("the_scream")], photos,
                                         Path(folder) / "style", config), runtime.device)
    return (f"fast-style training, batch {config.batch_size} of {config.crop_size} px",
            f"{seconds / args.steps:.2f} s a step ({args.steps} steps, start-up included)")


def _sizes(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def _frames(text: str) -> list[tuple[int, int]]:
    return [tuple(int(v) for v in frame.split("x")) for frame in text.split(",")]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=0, help="0: the default")
    parser.add_argument("--step-sizes", type=_sizes, default="512,1024",
                        help="long edges of the timed steps, comma-separated")
    parser.add_argument("--fast-sizes", type=_frames, default="1024x576,1920x1080",
                        help="W x H of the fast style's frames, comma-separated")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--steps", type=int, default=100, help="training steps")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="painterly-device-"))
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_runtime(args.device, "auto").device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {device} ({name}); torch {torch.__version__}; pictures in {out}", flush=True)
    rows = []
    for part in (lambda: optimiser_runs(args, out), lambda: step_times(args),
                 lambda: one_pass_times(args, out), lambda: [training_time(args)]):
        try:
            rows += part()
        except Exception:  # one engine's failure must not hide the others' figures
            traceback.print_exc()
            rows.append(("(a part failed)", "see the traceback above"))
    print("| what | measured |\n|---|---|")
    for what, value in rows:
        print(f"| {what} | {value} |")


if __name__ == "__main__":
    main()
