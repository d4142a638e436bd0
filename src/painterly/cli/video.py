"""``painterly video``: paint a clip with a fast style (flow-guided blending) or with the
optimiser (Ruder et al. 2016), resumably.

PyAV, OpenCV and PyTorch are imported only when the command runs, so ``painterly`` works without
the ``video`` extra (without it the command exits 2 with one line naming the extra) and
``--help`` answers at once.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from .common import check_scale_out, output_options, runtime_options, scale_out_options, setup
from .group import EXIT_INTERRUPTED, PROG, STARTED


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
@scale_out_options(
    workers="paint the clip in N segments at once, in N processes on this machine (0: in this "
            "process)",
    ray="paint the clip's segments as tasks on the Ray cluster at ADDRESS; the work folder "
        "must be on a path every node shares",
    cpus="CPUs each Ray task asks for", gpus="GPUs each Ray task asks for")
@click.option("--segments", type=click.IntRange(min=1), default=None, metavar="N",
              help="with --workers or --ray: segments to cut the clip into, crossfaded over a "
                   "few frames where they meet [default: one per worker, or per task the "
                   "cluster can run at once]")
@runtime_options
@output_options
def video_command(ctx, clip, output, style, engine, size, start, end, blend, temporal_weight,
                  iterations, flow, strength, work, keep_work, save_every, workers, ray_address,
                  ray_cpus, ray_gpus, segments, device, precision, overwrite, quiet, verbose):
    """Paint the clip IN into OUTPUT, frame by frame, without flicker.

    Example: painterly video walk.mp4 --style starry_night -o walk_painted.mp4

    Frames are kept in a work folder as they are painted: after Ctrl-C, run the same command
    again to carry on. Frame rate, duration, audio and rotation are kept. A long clip can be
    cut into segments painted at once, by local processes (--workers) or on a Ray cluster
    (--ray).
    """
    setup(ctx, verbose)
    check_scale_out(workers, ray_address)
    if segments and not (workers or ray_address):
        raise ValueError("--segments needs --workers or --ray: in this process the clip is "
                         "painted in one pass")
    if 0 < size < 16:
        raise ValueError(f"--size must be 0 (the clip's own) or at least 16, got {size}")
    if end is not None and end <= start:
        raise ValueError(f"--end ({end:g} s) must be after --start ({start:g} s)")
    from .. import fast, image_io, video  # ImportError naming the extra: one line, exit 2

    out = video.clips.check_video_output(output, overwrite=overwrite, inputs=[clip])
    info = video.probe(clip, start=start, end=end)
    recipe = video.EngineRecipe(engine, tuple(style), strength=strength, blend=blend,
                                temporal_weight=temporal_weight, iterations=iterations, flow=flow,
                                device=device, precision=precision)
    engine_ = recipe.build()  # every style checked here, before any frame
    backend, segments, where = _backend(workers, ray_address, ray_cpus, ray_gpus, segments)
    if not quiet:
        where = where or engine_.describe()
        click.echo(f"{PROG}: {info.frames} frames at {float(info.rate):g} frames/s on {where}",
                   err=True)
    settings = {"engine": engine, "styles": list(style), "blend": blend, "flow": flow,
                "temporal_weight": temporal_weight, "iterations": iterations, "strength": strength}
    if engine == "fast" and not fast.are_painting_files(style):  # frames of one network only
        settings["network"] = fast.mix_network(style)
    preview = out.with_name(out.name + ".preview.png")
    bar = tqdm(total=info.frames, disable=quiet, file=sys.stderr, unit="frame", desc=PROG,
               dynamic_ncols=True)
    saved_at = 0

    def report(progress) -> None:
        nonlocal saved_at
        bar.total = progress.frames
        bar.update(progress.frame - bar.n)
        if progress.eta is not None:
            bar.set_postfix_str(f"{progress.fps:.2f} frames/s, ETA {progress.eta:.0f} s")
        if save_every and progress.image is not None and progress.frame - saved_at >= save_every:
            image_io.save_image(video.temporal.to_tensor(progress.image), preview, overwrite=True)
            saved_at = progress.frame

    ctx.meta[STARTED] = True
    try:
        video.paint_clip(info, out, recipe, long_edge=size or None, start=start, end=end,
                         work=work, settings=settings, overwrite=overwrite, keep_work=keep_work,
                         callback=report, segments=segments, backend=backend)
    except KeyboardInterrupt:
        bar.close()
        folder = work or video.workfolder.default_work_folder(out)
        click.echo(f"{PROG}: interrupted; the frames painted so far are kept in {str(folder)!r}: "
                   "run the same command again to carry on", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    bar.close()
    click.echo(str(out))


def _backend(workers, ray_address, cpus, gpus, segments):
    """(a batch backend for the clip's segments or None, how many segments, where they are
    painted, in words, or None for this process)."""
    import functools

    from ..batch import cluster, process_backend

    if ray_address:
        ray, _ = cluster.connect(ray_address)  # before any work: a missing cluster is refused
        slots = cluster.slots(ray, cpus, gpus)
        return (functools.partial(cluster.task_backend, address=ray_address, cpus=cpus, gpus=gpus),
                segments or slots, f"the Ray cluster at {ray_address} ({slots} tasks at once)")
    if workers:
        return (functools.partial(process_backend, workers=workers), segments or workers,
                f"{workers} processes")
    return None, 1, None
