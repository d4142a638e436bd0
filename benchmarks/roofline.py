"""How close does one optimiser step come to what this CPU can multiply?

    python benchmarks/roofline.py                    # the cat at 512 px, painterly's runtime
    python benchmarks/roofline.py --size 256 --precision fp32

One step of the default objective (content at relu4_2, Gram style at relu1_1..relu5_1) is
objective plus gradient with respect to the pixels. Its arithmetic, counted from the layers'
shapes (multiply-adds x 2 = FLOP):

* VGG19's convolutions up to relu5_1, forward, and backward to the input only (the weights
  are frozen): the same multiply-adds again;
* the Gram matrices ``X^T X`` (N x C x C per layer) and their backward ``X dG`` (the same).

The ceiling is measured, not taken from a data sheet: the best of a few square matrix products
in the network's dtype (1024 and 2048 elements on a side), on the same threads. The
step is then timed (median of ``--repeat`` after ``--warmup``) and split by the profiler into
convolutions, Gram products and everything else (pooling, ReLU, casts, loss arithmetic).
Where the runtime runs the convolutions by Winograd's algorithm (fp32 on AVX2-only CPUs;
``models/winograd.py``) they are counted as the direct multiply-adds they stand for, so
their rate can pass the ceiling. Nothing is asserted; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import painterly  # noqa: F401  (first: it sets OpenMP's spin before PyTorch loads; cpuinfo.py)
import torch

from painterly import StyleConfig, examples, image_io
from painterly.cpuinfo import reuse_freed_memory
from painterly.devices import resolve_runtime
from painterly.models.winograd import WinogradConv2d
from painterly.optimize import compute_targets, objective
from painterly.pipeline import _prepare, load_vgg19, loss_weights


class ObjectiveStep:
    """One step of the default objective, objective and gradient with respect to the pixels,
    for ``content`` and ``style`` (bundled names or paths) at long edge ``size``; call it to
    run the step. Keeps the runtime, the prepared network, the loss weights and the photo
    (1,3,H,W) on the device."""

    def __init__(self, content: str, style: str, size: int, device: str, precision: str):
        config = StyleConfig(size=size, precision=precision, device=device)
        self.runtime = resolve_runtime(device, precision)
        self.net = _prepare(load_vgg19(None, "auto", config.pooling), config, self.runtime)
        self.weights = loss_weights(config)
        self.photo, painting = (
            image_io.load_image(examples.example_path(name) or name, long_edge=size)
            .to(self.runtime.device) for name in (content, style))
        self.targets = compute_targets(self.net, self.photo, [(painting, 1.0)], self.weights,
                                       self.runtime)
        self.pixels = self.photo.clone().requires_grad_(True)

    def __call__(self) -> None:
        self.pixels.grad = None
        terms = objective(self.net, self.pixels, self.targets, self.weights, self.runtime)
        terms["total"].backward()


def conv_macs(net, image: torch.Tensor, layers) -> tuple[int, dict]:
    """Multiply-adds of every convolution the objective runs (forward), counted by hooks, and
    the responses {layer: (B,C,h,w)}."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, (torch.nn.Conv2d, WinogradConv2d)):  # counted as direct
            k = module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * module.in_channels * k // module.groups

    hooks = [m.register_forward_hook(count) for m in net.modules()]
    with torch.no_grad():
        features = net(image, layers)
    for hook in hooks:
        hook.remove()
    return total, features


def gram_macs(features: dict, style_layers) -> int:
    """Multiply-adds of the Gram products: N x C x C per layer, for (B,C,H,W) responses."""
    return sum(f.shape[2] * f.shape[3] * f.shape[1] ** 2 for k, f in features.items()
               if k in style_layers)


def matmul_ceiling(dtype: torch.dtype, sides=(1024, 2048), repeat: int = 5,
                   device: torch.device = torch.device("cpu")) -> float:
    """FLOP/s of the fastest of ``repeat`` (n,n) x (n,n) products in ``dtype`` on ``device``,
    over ``sides`` (a GPU needs sides of several thousand to reach its peak)."""
    rates = []
    for n in sides:
        a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
        torch.mm(a, b)
        fastest = min(_seconds(lambda: torch.mm(a, b), device) for _ in range(repeat))
        rates.append(2 * n**3 / fastest)
    return max(rates)


def _seconds(fn, device: torch.device = torch.device("cpu")) -> float:
    """Wall seconds of fn(), with a GPU's queue drained before and after."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def step_flop(step: "ObjectiveStep") -> dict[str, int]:
    """FLOP of one objective-and-gradient step: {"convolutions", "Gram products"}, each its
    forward multiply-adds x 2 (backward to the input only, the same again) x 2 FLOP."""
    image = step.photo.to(dtype=step.runtime.dtype, memory_format=step.runtime.memory_format)
    convs, features = conv_macs(step.net, image, step.weights.layers)
    return {"convolutions": 2 * 2 * convs,
            "Gram products": 2 * 2 * gram_macs(features, step.weights.style)}


def split_by_kind(step, repeat: int) -> dict[str, float]:
    """Seconds per step in convolutions (forward and backward), Gram products and the rest."""
    with torch.profiler.profile() as prof:
        for _ in range(repeat):
            step()
    kinds = {"convolutions": 0.0, "Gram products": 0.0, "everything else": 0.0}
    for event in prof.key_averages():
        seconds = event.self_cpu_time_total / 1e6 / repeat
        if "convolution" in event.key:
            kinds["convolutions"] += seconds
        elif event.key == "aten::bmm":
            kinds["Gram products"] += seconds
        elif event.key.startswith("aten::"):
            kinds["everything else"] += seconds
    return kinds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--content", default="chelsea_cat")
    parser.add_argument("--style", default="starry_night")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=8)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    reuse_freed_memory()  # as the painterly command does: fresh activations pay no page faults
    print(f"load average before: {os.getloadavg()}; threads: {torch.get_num_threads()}")
    step = ObjectiveStep(args.content, args.style, args.size, "cpu", args.precision)
    runtime, photo = step.runtime, step.photo
    flop = step_flop(step)
    ceiling = matmul_ceiling(runtime.dtype)
    for _ in range(args.warmup):
        step()
    seconds = statistics.median(_seconds(step) for _ in range(args.repeat))
    kinds = split_by_kind(step, args.repeat)
    h, w = photo.shape[-2:]
    print(f"{runtime.describe()}; {w}x{h}; matmul ceiling {ceiling / 1e9:.0f} GFLOP/s "
          f"({str(runtime.dtype).removeprefix('torch.')})")
    print(f"step: {seconds:.3f} s, {sum(flop.values()) / 1e9:.0f} GFLOP, "
          f"{sum(flop.values()) / seconds / 1e9:.0f} GFLOP/s = "
          f"{sum(flop.values()) / seconds / ceiling:.0%} of the ceiling; "
          f"at the ceiling it would take {sum(flop.values()) / ceiling:.3f} s")
    print("| part | GFLOP | seconds (profiled) | GFLOP/s | of the ceiling |")
    print("|---|---:|---:|---:|---:|")
    for kind, spent in kinds.items():
        work = flop.get(kind)
        rate = f"{work / spent / 1e9:.0f} | {work / spent / ceiling:.0%}" if work else "– | –"
        print(f"| {kind} | {work / 1e9 if work else 0:.1f} | {spent:.3f} | {rate} |")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
