"""The measurements ``speed.py`` runs, each in a fresh process of its own.

``python benchmarks/workers.py TASK JSON`` runs one task and prints one line
``RESULT {...}`` (JSON) on stdout. One process per task keeps each contender's peak memory
its own and stops one contender's threads or allocator state from touching the next.

Tasks:
  steps     per-step times of painterly (bf16 or fp32) or the tutorial-style reference
  stylize   painterly's default run (``painterly.stylize`` with ``StyleConfig`` defaults)
  evaluate  one fp32 objective for finished images, plus a side-by-side PNG
"""

from __future__ import annotations

import copy
import json
import statistics
import sys
import time

import painterly  # noqa: F401  (first: it sets OpenMP's spin before PyTorch loads; cpuinfo.py)
import torch

from painterly import StyleConfig, image_io, multiscale, pipeline
from painterly import stylize as painterly_stylize
from painterly.devices import resolve_runtime
from painterly.models.layers import deepest
from painterly.models.weights import load_weights
from painterly.optimize import compute_targets, objective, optimize, prepare_extractor
from reference import TutorialStyleTransfer, run_lbfgs  # benchmarks/, this script's folder


class StepTimer:
    """Seconds taken by each optimiser step, and by the forward + backward pass inside it.

    Call ``start()`` before the first step and the instance after each; pass the loss
    function through ``wrap``: the pass runs from its call until the image's gradient is
    ready (a hook on the image, the leaf that backward reaches last).
    """

    def __init__(self) -> None:
        self.times: list[float] = []
        self.passes: list[float] = []
        self._last = self._pass_start = time.perf_counter()
        self._hooked = False

    def start(self) -> None:
        self._last = time.perf_counter()

    def __call__(self, *_args) -> None:
        now = time.perf_counter()
        self.times.append(now - self._last)
        self._last = now

    def wrap(self, loss_fn):
        def timed(image: torch.Tensor):
            if not self._hooked:
                image.register_hook(self._gradient_ready)
                self._hooked = True
            self._pass_start = time.perf_counter()
            return loss_fn(image)
        return timed

    def _gradient_ready(self, _grad) -> None:
        self.passes.append(time.perf_counter() - self._pass_start)


def _inputs(content: str, style: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Photo and painting as contiguous (NCHW) (1,3,H,W) in [0,1], long edge ``size``."""
    return tuple(image_io.load_image(path, long_edge=size).contiguous() for path in (content, style))


def _painterly_steps(content, style, precision: str, steps: int, timer: StepTimer) -> str:
    """painterly's own pieces, as ``stylize`` puts them together for one scale."""
    config = StyleConfig(size=max(content.shape[-2:]), precision=precision, device="cpu")
    runtime = resolve_runtime("cpu", precision)
    full = pipeline.load_vgg19(None, "auto", config.pooling)
    net = prepare_extractor(
        copy.deepcopy(full.truncated(deepest(config.content_layers + config.style_layers))), runtime)
    weights = pipeline.loss_weights(config)
    targets = compute_targets(net, content, [(style, 1.0)], weights, runtime)
    timer.start()
    optimize(content, timer.wrap(lambda x: objective(net, x, targets, weights, runtime)),
             steps=steps, on_step=timer)
    return runtime.describe()


def _reference_steps(content, style, steps: int, timer: StepTimer) -> str:
    config = StyleConfig()
    tutorial = TutorialStyleTransfer(
        load_weights(None), content, style, content_layers=config.content_layers,
        style_layers=config.style_layers, content_weight=config.content_weight,
        style_weight=config.style_weight, tv_weight=config.tv_weight, pooling=config.pooling)
    timer.start()
    run_lbfgs(timer.wrap(tutorial.objective), content, steps, on_step=timer)
    return "cpu, fp32 network and losses, NCHW, autograd's own Gram backward"


def steps(args: dict) -> dict:
    """Time ``warmup + repeat`` L-BFGS steps; report the median of the last ``repeat``."""
    content, style = _inputs(args["content"], args["style"], args["size"])
    timer, n = StepTimer(), args["warmup"] + args["repeat"]
    if args["contender"] == "reference":
        runtime = _reference_steps(content, style, n, timer)
    else:
        runtime = _painterly_steps(content, style, args["precision"], n, timer)
    steps_s, passes_s = timer.times[args["warmup"]:], timer.passes[args["warmup"]:]
    return {"hw": list(content.shape[-2:]), "steps": steps_s, "passes": passes_s,
            "s_per_iter": statistics.median(steps_s), "s_per_pass": statistics.median(passes_s),
            "threads": torch.get_num_threads(), "runtime": runtime}


def stylize(args: dict) -> dict:
    """painterly's default run; wall time per scale from the progress callback."""
    scale_end: dict[int, float] = {}

    def on_progress(p) -> None:
        scale_end[p.scale] = p.elapsed

    start = time.perf_counter()
    config = StyleConfig(size=args["size"])
    image = painterly_stylize(args["content"], args["style"], config, callback=on_progress)
    seconds = time.perf_counter() - start
    image.save(args["output"])
    ends = [scale_end[k] for k in sorted(scale_end)]
    per_scale = [b - a for a, b in zip([0.0, *ends], ends)]
    stages = [(s.long_edge, s.steps) for s in multiscale.schedule(
        config.size, config.scales, config.iterations, config.iterations_per_scale)]
    return {"seconds": seconds, "hw": [image.height, image.width],
            "stages": [[edge, n, t] for (edge, n), t in zip(stages, per_scale)]}


def evaluate(args: dict) -> dict:
    """painterly's objective in fp32 (``pipeline.evaluate``) for each image, at ``size``."""
    config = StyleConfig(size=args["size"])
    photo = image_io.load_image(args["content"], long_edge=args["size"])
    images = {"photo": args["photo_output"], **args["images"]}
    image_io.tensor_to_pil(photo).save(images["photo"])  # the start of both runs, scored too
    scores = {name: pipeline.evaluate(path, args["content"], args["style"], config)
              for name, path in images.items()}
    sizes = {name: list(image_io.open_image(path).size[::-1]) for name, path in images.items()}
    _side_by_side(images, args["captions"], args["side_by_side"])
    return {"scores": scores, "hw": sizes}


def _side_by_side(images: dict[str, str], captions: dict[str, str], output: str) -> None:
    """The images in a row, each captioned, as one PNG."""
    from PIL import Image, ImageDraw

    tiles = [(captions.get(name, name), image_io.open_image(path)) for name, path in images.items()]
    height = max(img.height for _, img in tiles)
    tiles = [(c, img.resize((round(img.width * height / img.height), height), Image.Resampling.LANCZOS))
             for c, img in tiles]
    canvas = Image.new("RGB", (sum(img.width for _, img in tiles), height + 24), "white")
    x = 0
    for caption, img in tiles:
        canvas.paste(img, (x, 24))
        ImageDraw.Draw(canvas).text((x + 4, 6), caption, fill="black")
        x += img.width
    canvas.save(output)


TASKS = {"steps": steps, "stylize": stylize, "evaluate": evaluate}

if __name__ == "__main__":
    task, payload = sys.argv[1], json.loads(sys.argv[2])
    result = TASKS[task](payload)
    print("RESULT " + json.dumps(result), flush=True)
    sys.exit(0)
