"""``painterly video``: paint a clip with a fast style (flow-guided blending) or with the
optimiser (Ruder et al. 2016), resumably.

PyAV and OpenCV are imported only when the command runs, so ``painterly`` works without the
``video`` extra; without it the command exits 2 with one line naming the extra.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from .. import image_io
from ..devices import resolve_runtime
from ..examples import input_image
from .common import EXIT_INTERRUPTED, PROG, STARTED, output_options, runtime_options, setup


@click.command("video", no_args_is_help=True)
@click.argument("clip", metavar="IN")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="output clip: .mp4, .webm, .mov or .gif (the extension chooses)")
@click.option("-s", "--style", "style", multiple=True, required=True, metavar="STYLE[:WEIGHT]",
              help="fast engine: a style name, style folder or painting picture (as for "
                   "`painterly fast`); optimize engine: a painting picture or bundled painting")
@click.option("--engine", type=click.Choice(["fast", "optimize"]), default="fast", show_default=True,
              help="fast: one pass per frame, blended along the flow; optimize: Gatys et al. "
                   "per frame with Ruder et al.'s warped start and temporal loss")
@click.option("--size", type=click.IntRange(min=0), default=512, show_default=True,
              help="long edge of the painted frames, in pixels (0 keeps the clip's)")
@click.option("--start", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="first second painted")
@click.option("--end", type=click.FloatRange(min=0), default=None, help="last second painted (default: the end)")
@click.option("--blend", type=click.FloatRange(0, 1, max_open=True), default=0.6, show_default=True,
              help="fast: share of the previous painted frame kept where the flow is reliable "
                   "(0 paints each frame alone)")
@click.option("--temporal-weight", type=click.FloatRange(min=0), default=100.0, show_default=True,
              help="optimize: weight of the temporal loss (0: warped start only)")
@click.option("--iterations", type=click.IntRange(min=0), default=30, show_default=True,
              help="optimize: optimiser steps per frame")
@click.option("--flow", type=click.Choice(["dis", "farneback"]), default="dis", show_default=True,
              help="OpenCV optical flow method")
@click.option("--strength", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="fast with painting pictures: how far each frame moves towards the painting")
@click.option("--work", type=click.Path(path_type=Path), default=None,
              help="folder for the painted frames (default: .OUTPUT.painterly-work next to the "
                   "output); rerun the same command to resume")
@click.option("--keep-work", is_flag=True, help="keep the work folder after the output is written")
@click.option("--save-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="every N frames, write the latest painted frame to OUTPUT.preview.png")
@runtime_options
@output_options
def video_command(ctx, clip, output, style, engine, size, start, end, blend, temporal_weight,
                  iterations, flow, strength, work, keep_work, save_every, device, precision,
                  overwrite, quiet, verbose):
    """Paint the clip IN into OUTPUT, frame by frame, without flicker.

    Example: painterly video walk.mp4 --style starry_night -o walk_painted.mp4

    Frames are kept in a work folder as they are painted: after Ctrl-C, run the same command
    again to carry on. Frame rate, duration, audio and rotation are kept.
    """
    setup(ctx, verbose)
    if 0 < size < 16:
        raise ValueError(f"--size must be 0 (the clip's own) or at least 16, got {size}")
    if end is not None and end <= start:
        raise ValueError(f"--end ({end:g} s) must be after --start ({start:g} s)")
    from .. import video  # ImportError naming the extra: one line, exit 2

    out = video.clips.check_video_output(output, overwrite=overwrite, inputs=[clip])
    info = video.probe(clip, start=start, end=end)
    runtime = resolve_runtime(device, precision)
    if not quiet:
        click.echo(f"{PROG}: {runtime.describe()}; {info.frames} frames at "
                   f"{float(info.rate):g} frames/s", err=True)
    paint = _engine(engine, style, strength, runtime, blend, temporal_weight, iterations, flow,
                    device, precision)
    settings = {"engine": engine, "styles": list(style), "blend": blend, "flow": flow,
                "temporal_weight": temporal_weight, "iterations": iterations, "strength": strength}
    preview = out.with_name(out.name + ".preview.png")
    bar = tqdm(total=info.frames, disable=quiet, file=sys.stderr, unit="frame", desc=PROG,
               dynamic_ncols=True)

    def report(progress) -> None:
        bar.update(progress.frame - bar.n)
        if progress.eta is not None:
            bar.set_postfix_str(f"{progress.fps:.2f} frames/s, ETA {progress.eta:.0f} s")
        if save_every and progress.image is not None and progress.frame % save_every == 0:
            image_io.save_image(video.temporal.to_tensor(progress.image), preview, overwrite=True)

    ctx.meta[STARTED] = True
    try:
        video.paint_clip(info, out, paint, long_edge=size or None, start=start, end=end,
                         work=work, settings=settings, overwrite=overwrite, keep_work=keep_work,
                         callback=report)
    except KeyboardInterrupt:
        bar.close()
        folder = work or video.run.default_work_folder(out)
        click.echo(f"{PROG}: interrupted; the frames painted so far are kept in {str(folder)!r}: "
                   "run the same command again to carry on", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    bar.close()
    click.echo(str(out))


def _engine(engine, style, strength, runtime, blend, temporal_weight, iterations, flow,
            device, precision):
    """The per-frame video engine for the options (styles checked before any frame)."""
    from ..video import BlendingEngine, RuderEngine

    if engine == "fast":
        from ..fast import make_painter

        return BlendingEngine(make_painter(style, strength=strength, runtime=runtime),
                              blend=blend, flow=flow)
    from ..config import StyleConfig
    from .stylize import parse_style

    pairs = [(input_image(path), weight) for path, weight in map(parse_style, style)]
    for path, _ in pairs:
        image_io.check_image_file(path)
    config = StyleConfig(iterations=iterations, scales=1, device=device, precision=precision)
    return RuderEngine(pairs, config, temporal_weight=temporal_weight, flow=flow)
