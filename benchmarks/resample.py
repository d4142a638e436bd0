"""The painting-only rewrites of ``fast/resample.py`` against the plain layers, side by side.

    python benchmarks/resample.py                        # this CPU's own precision
    python benchmarks/resample.py --precision fp32 --repeat 25

When painting (never when training or exporting), painterly runs each resize-convolution
(nearest 2x upsampling, then a 3x3 convolution) as four 2x2 convolutions of the small map,
one per output phase, and the fast network's last 9x9 convolution to RGB on 2x2 blocks of
pixels folded into channels. Both are exact to float rounding. This times what they buy on
this CPU, the plain and the rewritten forms taking turns in one process (median of --repeat
after one untimed run each):

* the bundled fast network (--style) on a random picture at each of --sizes;
* one universal picture (any painting, one pass) of --content and --painting at
  --universal-size, the painting's statistics included (the decoders' upsamplings).

It prints a table with each ratio (above 1: the rewrites are faster). Nothing is asserted; the
load average is printed before and after.
"""

from __future__ import annotations

import painterly  # noqa: F401  (first: it sets OpenMP's spin before PyTorch loads; cpuinfo.py)

import argparse
import contextlib
import os
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from winograd import alternate, print_table  # this folder is on the path when the script runs

from painterly import examples, image_io
from painterly.cpuinfo import reuse_freed_memory
from painterly.devices import resolve_runtime
from painterly.fast import decoders, network
from painterly.fast.paint import FastPainter, load_mix
from painterly.fast.wct import PaintingPainter, UniversalPainter


def _plain_upsample_conv(x: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor:
    """What ``resample.upsample_conv`` rewrites: upsample, reflect-pad, convolve."""
    return conv(F.pad(F.interpolate(x, scale_factor=2.0, mode="nearest"), (1,) * 4, mode="reflect"))


@contextlib.contextmanager
def plain_layers(plain: bool) -> Iterator[None]:
    """Within: the networks paint with the plain layers (plain=True) or the rewrites."""
    saved = network.upsample_conv, network.space_to_depth_conv, decoders.upsample_conv
    if plain:
        network.upsample_conv = decoders.upsample_conv = _plain_upsample_conv
        network.space_to_depth_conv = lambda x, conv: conv(x)
    try:
        yield
    finally:
        network.upsample_conv, network.space_to_depth_conv, decoders.upsample_conv = saved


def plain_and_rewritten(run: Callable[[], object], repeat: int) -> dict[str, float]:
    """Median seconds of ``run`` with the plain layers and with the rewrites, taking turns."""
    def within(plain: bool) -> Callable[[], None]:
        def timed() -> None:
            with plain_layers(plain):
                run()
        return timed
    return alternate({"plain": within(True), "rewritten": within(False)}, repeat)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="512x288,1024x576", help="WIDTHxHEIGHT,... for the fast network")
    parser.add_argument("--style", default="starry_night", help="bundled fast style")
    parser.add_argument("--content", default="chelsea_cat")
    parser.add_argument("--painting", default="starry_night")
    parser.add_argument("--universal-size", type=int, default=512, help="0: skip the universal picture")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    reuse_freed_memory()  # as the painterly command does
    runtime = resolve_runtime("cpu", args.precision)
    print(f"{runtime.describe()}; load average {os.getloadavg()[0]:.2f}")
    rows = []
    fast = FastPainter(*load_mix([args.style]), runtime=runtime)
    for size in args.sizes.split(","):
        width, height = (int(side) for side in size.split("x"))
        picture = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
        rows.append((f"fast style, {width}×{height}", plain_and_rewritten(lambda: fast(picture), args.repeat)))
    if args.universal_size:
        photo, painting = (image_io.load_image(examples.resolve_image(name),
                                               long_edge=args.universal_size)
                           for name in (args.content, args.painting))
        universal = UniversalPainter(runtime=runtime)
        rows.append((f"universal picture, {args.universal_size} px",
                     plain_and_rewritten(
                         lambda: PaintingPainter([(painting, 1.0)], universal=universal)(photo),
                         args.repeat)))
    print_table(rows, "plain", "rewritten", milliseconds=True)

if __name__ == "__main__":
    main()
