"""``painterly batch``: many photos, either engine, here, in local processes or on Ray.

Everything is checked before work starts (inputs found, manifests read, styles found, every
row's options valid, the output folder writable); then each photo is painted, written
atomically and recorded in ``OUTDIR/painterly-batch.jsonl``. A photo that fails is recorded
with its one-line error and the batch goes on; a rerun skips what the record says is done.
The engines (and PyTorch) are imported when the command runs, so ``--help`` answers at once.
"""

from __future__ import annotations

import sys
import typing
from pathlib import Path

import click
from tqdm import tqdm

from .common import (check_scale_out, config_options, make_config, runtime_options, scale_out_options,
                     setup)
from .group import EXIT_INTERRUPTED, EXIT_RUNTIME, PROG, STARTED

if typing.TYPE_CHECKING:
    from ..batch import Summary

OPTIMISER_OPTIONS = ("iterations", "scales", "style_weight", "content_weight", "tv_weight",
                     "style_scale", "style_layers", "content_layers", "optimizer", "init", "seed")


@click.command("batch", no_args_is_help=True)
@click.argument("inputs", nargs=-1, required=True, metavar="PHOTO|FOLDER|GLOB|MANIFEST...")
@click.option("-s", "--style", "style", multiple=True, metavar="STYLE[:WEIGHT]",
              help="style of every photo (a manifest row may name its own); repeat to blend")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="output folder: PHOTO.STYLE.FORMAT per photo, and the record "
                   "painterly-batch.jsonl")  # batch.RECORD_NAME, spelt out: no PyTorch
@click.option("--engine", type=click.Choice(["fast", "optimize"]), default="fast",
              show_default=True, help="fast: one pass (trained styles, painting pictures); "
                                      "optimize: the optimiser (Gatys et al.), slow, best")
@click.option("--size", type=click.IntRange(min=0), default=None,
              help="long edge of each output [default: 1024 fast, 512 optimize; 0 keeps the "
                   "photo's size with fast]")
@click.option("--strength", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="fast engine, painting pictures: how far each photo moves towards the painting")
@click.option("--preserve-color", type=click.Choice(["none", "luminance", "histogram"]),
              default="none", show_default=True, help="keep each photo's colours")
@config_options(OPTIMISER_OPTIONS)
@click.option("--format", "fmt", type=click.Choice(["png", "jpg", "webp", "tif"]), default="png",
              show_default=True, help="file type of the outputs")
@click.option("--retry-failed", is_flag=True, help="paint again the photos that failed before")
@scale_out_options(
    workers="N processes on this machine (0: in this process)",
    ray="run on the Ray cluster at ADDRESS (host:port; auto: the one this machine belongs to); "
        'needs pip install "painterly[ray]"',  # cluster.INSTALL_HINT
    cpus="CPUs each Ray task (optimize) or actor (fast) asks for",
    gpus="GPUs each Ray task or actor asks for (e.g. 1, or 0.5 to share one)")
@runtime_options
@click.option("--quiet", is_flag=True, help="no progress bar, no summary on stderr")
@click.option("-v", "--verbose", is_flag=True, help="log what happens; tracebacks for unexpected errors")
@click.pass_context
def batch_command(ctx, inputs, style, output, engine, size, strength, preserve_color, fmt,
                  retry_failed, workers, ray_address, ray_cpus, ray_gpus, device, precision,
                  quiet, verbose, **settings):
    """Paint many photos: folders, globs, or manifests (CSV with a header, or JSONL; one row
    per photo with its style and options). A rerun skips what is done.

    Examples: painterly batch holiday/ --style starry_night -o painted/

    painterly batch 'shots/*.jpg' --style great_wave --workers 2 -o painted/

    painterly batch photos.csv --engine optimize --iterations 200 --ray auto -o painted/

    Exit status 0 when every photo is painted (now or before), 1 when any failed.
    """
    from .. import batch
    from ..batch import cluster

    setup(ctx, verbose)
    check_scale_out(workers, ray_address)
    items = batch.gather(inputs, style, fmt)
    engine_ = _engine(engine, size, strength, preserve_color, device, precision, settings)
    if ray_address:
        cluster.connect(ray_address)  # before any work: a missing Ray or cluster is refused
    engine_.check(items)
    batch.runner.check_outputs(items, output)
    todo, before = batch.plan(items, output, retry_failed=retry_failed)
    if not quiet:
        where = f"Ray cluster at {ray_address}" if ray_address else (
            f"{workers} processes" if workers else _here(engine, device, precision))
        click.echo(f"{PROG}: {len(todo)} of {len(items)} photos to paint ({engine}) on {where}",
                   err=True)
    backend = _backend(engine_, workers, ray_address, ray_cpus, ray_gpus)
    ctx.meta[STARTED] = True
    with tqdm(total=len(todo), disable=quiet or not todo, file=sys.stderr, unit="photo",
              desc=PROG, dynamic_ncols=True) as bar:
        def report(result: batch.Result, summary: batch.Summary) -> None:
            bar.update(1)
            bar.set_postfix_str(f"{summary.failed} failed", refresh=False)
            if result.error is None:
                click.echo(str(output / result.key))

        try:
            summary = batch.run_batch(items, engine_, output, backend=backend,
                                      retry_failed=retry_failed, callback=report)
        except batch.BatchInterrupted as stop:
            bar.close()
            click.echo(f"{PROG}: interrupted; {stop.summary.done} photos painted in this run, "
                       "each complete and recorded; run the same command again to go on", err=True)
            ctx.exit(EXIT_INTERRUPTED)
    if not quiet:
        _report(summary, output)
    ctx.exit(0 if summary.ok else EXIT_RUNTIME)


def _here(engine: str, device: str, precision: str) -> str:
    """This process's runtime in words; a fast network runs nothing in fp32 beside it."""
    from ..devices import resolve_runtime

    fp32 = "losses" if engine == "optimize" else None
    return resolve_runtime(device, precision).describe(fp32=fp32)


def _engine(name, size, strength, preserve_color, device, precision, settings):
    from .. import batch

    if name == "fast":
        return batch.FastEngine(size=1024 if size is None else size, strength=strength,
                                preserve_color=preserve_color, device=device, precision=precision)
    if size == 0:
        raise ValueError("--size 0 (each photo's own size) is for the fast engine; give a size")
    config = make_config({**settings, "size": size or 512, "preserve_color": preserve_color,
                          "device": device, "precision": precision})
    return batch.OptimizeEngine(config)


def _backend(engine, workers, ray_address, cpus, gpus):
    from .. import batch
    from ..batch import cluster

    if ray_address:
        if isinstance(engine, batch.FastEngine):
            return cluster.data_backend(engine, ray_address, cpus=cpus, gpus=gpus)
        return cluster.task_backend(engine, ray_address, cpus=cpus, gpus=gpus)
    if workers:
        return batch.process_backend(engine, workers)
    return None


def _report(summary: Summary, output: Path) -> None:
    """The summary on stderr: counts, time, and each failure on its own line."""
    from ..batch import RECORD_NAME

    for photo, error in summary.errors:
        click.echo(f"{PROG}: failed: {photo}: {error}", err=True)
    rate = f", {summary.done / summary.seconds:.2f} photos/s" if summary.done and summary.seconds else ""
    click.echo(f"{PROG}: {summary.done} painted, {summary.failed} failed, {summary.skipped} done "
               f"before, {summary.failed_before} failed before (not retried) of {summary.total} "
               f"in {summary.seconds:.1f} s{rate}; record: {output / RECORD_NAME}", err=True)
