"""``painterly fast``, ``train`` and ``export``: fast styles from the command line.

Every check (inputs readable, outputs writable, styles found) runs before the network loads,
so a bad argument costs nothing and writes nothing. The engine (and PyTorch) is imported when a
command runs: the options come from :mod:`painterly.fast.config`, so ``--help`` answers at once.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from pathlib import Path

import click
from tqdm import tqdm

from .. import __version__
from ..config import MAX_SIZE
from ..examples import input_image
from ..fast.config import (ADD_TO_STEPS, CHECKPOINT, DEFAULT_SIZE, DEFAULT_TILE, MAX_DILATION,
                           MIN_SIDE, ONE_PASS_SIDE, TrainConfig)
from ..style_folders import BUNDLED_DIR, is_style_folder, user_styles_dir
from .common import CommaList, ThreadRetuner, output_options, runtime_options, setup
from .group import EXIT_INTERRUPTED, PROG, STARTED



# ------------------------------------------------------------------------------ fast

@click.command("fast", no_args_is_help=True)
@click.argument("photos", nargs=-1, required=True, metavar="PHOTO|FOLDER...")
@click.option("-s", "--style", "style", multiple=True, required=True, metavar="STYLE[:WEIGHT]",
              help="a bundled or your own style name (see `painterly styles`), a style "
                   "folder, or a picture of any painting (no training needed); repeat to "
                   "blend by weight")
@click.option("--strength", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="for painting pictures: how far the photo moves towards the painting")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="output image for one photo; a folder for several photos or a folder")
@click.option("--size", type=click.IntRange(min=0), default=DEFAULT_SIZE, show_default=True,
              help="long edge of each output, in pixels (0 keeps each photo's size)")
@click.option("--preserve-color", type=click.Choice(["none", "luminance", "histogram"]),
              default="none", show_default=True,
              help="keep the photo's colours: luminance (paint lightness only) or histogram "
                   "(recolour the result to the photo's colours)")
@click.option("--format", "fmt", type=click.Choice(["png", "jpg", "webp", "tif"]), default="png",
              show_default=True, help="file type of the outputs written into a folder")
@click.option("--tile-size", type=click.IntRange(min=160), default=None,
              help="paint images larger than this on a side in tiles of this size (flat memory, "
                   f"no seams)  [default: one pass up to {ONE_PASS_SIDE} px, then tiles of "
                   f"{DEFAULT_TILE}]")
@runtime_options
@output_options
def fast_command(ctx, photos, style, output, size, strength, preserve_color, fmt, tile_size, device,
                 precision, overwrite, quiet, verbose):
    """Paint PHOTOs in one pass: with a fast style (a network trained for it), or with any
    picture of a painting (universal style transfer, no training).

    Examples: painterly fast photo.jpg --style starry_night -o out.png

    painterly fast chelsea_cat --style starry_night -o out.png   (a bundled photo by name)

    painterly fast photo.jpg --style my_painting.jpg --strength 0.8 -o out.png

    painterly fast holiday/ --style the_scream:0.7 --style great_wave:0.3 -o painted/
    """
    from .. import image_io
    from ..devices import resolve_runtime
    from ..fast import (PaintingPainter, are_painting_files, load_mix, make_painter,
                        mix_network, wct)
    from ..fast.decoders import check_decoders
    from ..fast.paint import parse_style_spec

    setup(ctx, verbose)
    if 0 < size < 16 or size > MAX_SIZE:
        raise ValueError(f"--size must be 0 (keep each photo's size) or from 16 to {MAX_SIZE}, "
                         f"got {size}")
    universal = are_painting_files(style)
    least = wct.MIN_SIDE if universal else MIN_SIDE
    inputs = _photo_files(photos)
    for source in inputs:
        width, height = image_io.check_image_file(source)
        w, h = image_io.size_for_long_edge(width, height, size or max(width, height))
        if min(w, h) < least:
            raise ValueError(f"{str(source)!r} ({width}x{height} px) is too narrow: painted at "
                             f"{w}x{h} px, and the network needs at least {least} px on each side")
    if universal:
        for spec in style:
            width, height = image_io.check_image_file(parse_style_spec(spec)[0])
            if min(width, height) < least:
                raise ValueError(f"painting {parse_style_spec(spec)[0]!r} ({width}x{height} px) "
                                 f"is too small: it needs at least {least} px on each side")
        check_decoders()
    else:
        load_mix(style)  # every style found before anything is written
    jobs = _output_paths(inputs, output, fmt, single=len(photos) == 1 and not Path(photos[0]).is_dir())
    for _, target in jobs:
        image_io.check_output_path(target, overwrite=overwrite, inputs=inputs)
    painter = make_painter(style, strength=strength, preserve_color=preserve_color,
                           runtime=resolve_runtime(device, precision), tile_size=tile_size)
    if not quiet:  # the painter's own runtime: a fast style keeps direct convolutions
        click.echo(f"{PROG}: {painter.describe()}", err=True)
    ctx.meta[STARTED] = True
    record = {"version": __version__, "engine": "fast", "styles": list(style), "size": size,
              "preserve_color": preserve_color}
    if isinstance(painter, PaintingPainter):
        record.update(engine="universal", strength=strength)
    else:
        record.update(network=mix_network(style))
    done = 0
    try:
        for source, target in tqdm(jobs, disable=quiet or len(jobs) == 1, file=sys.stderr,
                                   unit="photo", desc=PROG, dynamic_ncols=True):
            photo = image_io.load_image(source, long_edge=size or None)
            metadata = {"painterly": json.dumps(dict(record, content=str(source))),
                        "Software": f"painterly {__version__}"}
            image_io.save_image(painter(photo), target, metadata=metadata, overwrite=overwrite)
            done += 1
            click.echo(str(target))
    except KeyboardInterrupt:
        click.echo(f"{PROG}: interrupted; {done} of {len(jobs)} pictures were written, each "
                   "complete", err=True)
        ctx.exit(EXIT_INTERRUPTED)


def _photo_files(photos: tuple[str, ...]) -> list[Path]:
    """Files given (or bundled photos named), and the pictures directly inside folders given."""
    from .. import image_io

    files: list[Path] = []
    for name in photos:
        path = Path(input_image(name))
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in image_io.PICTURE_SUFFIXES and p.is_file())
            if not found:
                raise ValueError(f"no pictures ({', '.join(sorted(image_io.PICTURE_SUFFIXES))}) in folder {name!r}")
            files += found
        else:
            files.append(path)
    return files


def _output_paths(inputs: list[Path], output: Path, fmt: str, *, single: bool) -> list[tuple[Path, Path]]:
    """(photo, output file) pairs: OUTPUT itself for one photo, else OUTPUT/<stem>.<fmt>."""
    from .. import image_io

    if single:
        return [(inputs[0], output)]
    if output.suffix.lower() in image_io.OUTPUT_FORMATS and not output.is_dir():
        raise ValueError(f"several photos need a folder as -o, not the file name {str(output)!r}")
    stems = [p.stem for p in inputs]
    clash = {s for s in stems if stems.count(s) > 1}
    if clash:
        raise ValueError(f"two photos would both be written as {sorted(clash)[0]}.{fmt}; "
                         "paint them into different folders")
    if output.exists() and not output.is_dir():
        raise ValueError(f"-o {str(output)!r} exists and is not a folder")
    output.mkdir(parents=True, exist_ok=True)
    return [(p, output / f"{p.stem}.{fmt}") for p in inputs]


# ----------------------------------------------------------------------------- train

@click.command("train", no_args_is_help=True)
@click.argument("paintings", nargs=-1, required=True, metavar="PAINTING...")
@click.option("--photos", required=True, type=click.Path(path_type=Path),
              help="folder of training photos (any size or format, searched recursively)")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help=f"style folder to write (config.json, model.safetensors); put it under "
                   f"{user_styles_dir()} to use it by name")
@click.option("--name", "names", multiple=True,
              help="style name for each painting, in order (default: the file names)")
@click.option("--add-to", metavar="STYLE_FOLDER|bundled", default=None,
              help="add the paintings to this network, training only their own norm scales "
                   "and shifts (minutes, not hours); 'bundled' for painterly's own styles")
@click.option("--continue-from", metavar="STYLE_FOLDER|bundled", default=None,
              help="start from this network, trained on the same paintings or on more among "
                   "which these are (the network then serves these alone), and train all of "
                   "it further with these settings (a second phase); 'bundled' for painterly's")
@click.option("--resume", is_flag=True, help="continue the run whose checkpoint is in -o")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help=f"training steps (batches) [default: {TrainConfig.steps}; {ADD_TO_STEPS} with --add-to]")
@click.option("--batch-size", type=click.IntRange(min=1), default=TrainConfig.batch_size,
              show_default=True, help="photo crops per step")
@click.option("--crop-size", type=click.IntRange(32, 1024), default=TrainConfig.crop_size,
              show_default=True, help="side of each square training crop")
@click.option("--learning-rate", type=float, default=TrainConfig.learning_rate, show_default=True)
@click.option("--style-weight", type=float, default=TrainConfig.style_weight, show_default=True)
@click.option("--content-weight", type=float, default=TrainConfig.content_weight, show_default=True)
@click.option("--tv-weight", type=float, default=TrainConfig.tv_weight, show_default=True)
@click.option("--grid-weight", type=float, default=TrainConfig.grid_weight, show_default=True,
              help="penalise the faint screen that repeats every 4 px (the network's upsampling)")
@click.option("--content-layers", type=CommaList(str), default=",".join(TrainConfig.content_layers),
              show_default=True, help="VGG19 layers whose responses keep the photo's content")
@click.option("--style-layers", type=CommaList(str), default=",".join(TrainConfig.style_layers),
              show_default=True, help="VGG19 layers whose Gram matrices carry the style")
@click.option("--style-size", type=click.IntRange(min=32), default=TrainConfig.style_size,
              show_default=True, help="long edge of each painting when its Gram matrices are taken")
@click.option("--base-width", type=click.IntRange(min=1), default=TrainConfig.base_width,
              show_default=True, help="channels after a new network's first convolution; with "
                   "--continue-from, more than it has adds channels that start by changing nothing")
@click.option("--residual-blocks", type=click.IntRange(1, 64), default=TrainConfig.residual_blocks,
              show_default=True, help="residual blocks of a new network; with --continue-from, "
                   "more than it has appends blocks that start by changing nothing")
@click.option("--dilation", type=click.IntRange(1, MAX_DILATION), default=TrainConfig.dilation,
              show_default=True, help="spacing of the residual blocks' taps; 2 doubles what they see of the photo")
@click.option("--decay", type=click.FloatRange(0, 1), default=TrainConfig.decay, show_default=True,
              help="fraction of the steps, at the end, over which the learning rate falls to a tenth")
@click.option("--warmup", type=click.IntRange(min=0), default=TrainConfig.warmup, show_default=True,
              help="steps over which the learning rate rises to its full value; a few dozen "
                   "keep --continue-from's first steps from throwing the trained network off")
@click.option("--checkpoint-minutes", type=float, default=TrainConfig.checkpoint_minutes,
              show_default=True, help="minutes between checkpoints")
@click.option("--seed", type=int, default=0, show_default=True)
@runtime_options
@output_options
def train_command(ctx, paintings, photos, output, names, add_to, continue_from, resume, device, precision,
                  overwrite, quiet, verbose, **settings):
    """Train a fast style network on PAINTINGs (Johnson et al.; Dumoulin et al. for many styles).

    Example: painterly train monet.jpg --photos ~/Pictures -o ~/styles/monet

    Ctrl-C writes a checkpoint; the same command with --resume continues it.
    """
    from .. import image_io
    from ..fast import TrainingInterrupted, load_styles
    from ..fast.photos import find_photos
    from ..fast.train import check_continuable, style_names, train, training_runtime

    setup(ctx, verbose)
    paintings = [input_image(painting) for painting in paintings]  # a bundled one by name
    for painting in paintings:
        image_io.check_image_file(painting)
    find_photos(photos)
    if is_style_folder(output) and not (overwrite or resume):
        raise ValueError(f"{str(output)!r} already holds a style (use --overwrite to replace it)")
    if resume and not (output / CHECKPOINT).is_file():
        finished = " (its run has finished)" if is_style_folder(output) else ""
        raise ValueError(f"nothing to resume in {str(output)!r}{finished}: it has no {CHECKPOINT}")
    base = BUNDLED_DIR if add_to == "bundled" else add_to
    earlier = BUNDLED_DIR if continue_from == "bundled" else continue_from
    if earlier is not None:  # a missing folder or a painting it lacks: refused before work
        earlier = load_styles(earlier)
        check_continuable(style_names(paintings, list(names) or None), earlier)
    if settings["steps"] is None:
        settings["steps"] = ADD_TO_STEPS if add_to else TrainConfig.steps
    config = TrainConfig(device=device, precision=precision, **settings)
    if not quiet:
        click.echo(f"{PROG}: training on {training_runtime(device, precision).describe()}",
                   err=True)
    ctx.meta[STARTED] = True
    retune_threads = ThreadRetuner(ctx)
    with tqdm(total=config.steps, disable=quiet, file=sys.stderr, unit="step", desc=PROG,
              dynamic_ncols=True) as bar:
        def report(progress):
            retune_threads()
            bar.n = progress.step
            terms = " ".join(f"{k} {v:.3g}" for k, v in progress.losses.items())
            bar.set_postfix_str(terms + (" (checkpoint)" if progress.checkpointed else ""))
        try:
            with _term_as_interrupt():
                train(paintings, photos, output, config, names=list(names) or None, add_to=base,
                      continue_from=earlier, resume=resume, callback=report)
        except TrainingInterrupted as stop:
            bar.close()
            click.echo(f"{PROG}: interrupted after step {stop.step}; checkpoint saved in "
                       f"{stop.checkpoint}; run the same command with --resume to continue", err=True)
            ctx.exit(EXIT_INTERRUPTED)
    click.echo(str(output))


@contextlib.contextmanager
def _term_as_interrupt():
    """SIGTERM (a scheduler or `kill` stopping the run) checkpoints like Ctrl-C does."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave SIGTERM alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------------------- export

@click.command("export", no_args_is_help=True)
@click.argument("style", nargs=-1, required=True, metavar="STYLE[:WEIGHT]...")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="the .onnx file to write")
@click.option("--opset", type=int, default=None, help="ONNX opset (default: the exporter's)")
@click.option("--no-check", is_flag=True,
              help="skip running the file with onnxruntime against PyTorch's output")
@output_options
def export_command(ctx, style, output, opset, no_check, overwrite, quiet, verbose):
    """Write a fast style (or a blend) as an ONNX network with any height and width.

    The file takes `image` (1,3,H,W) float32 RGB in [0,1] and returns `painted`, the same.
    It is then run with onnxruntime on a few sizes and compared with PyTorch's output.
    Needs: pip install "painterly[onnx]".

    Example: painterly export starry_night -o starry_night.onnx
    """
    from ..fast import load_mix
    from ..fast.export import DEFAULT_OPSET, check_onnx, check_onnx_path, export_onnx

    setup(ctx, verbose)
    styles, mix = load_mix(style)
    check_onnx_path(output, overwrite=overwrite)
    ctx.meta[STARTED] = True
    path = export_onnx(styles, mix, output, opset=opset or DEFAULT_OPSET, overwrite=overwrite)
    if not no_check:
        check = check_onnx(path, styles, mix)
        if not quiet:
            click.echo(f"{PROG}: {check.describe()}", err=True)
        if not check.ok:
            raise ValueError(f"{path} does not paint as PyTorch does ({check.describe()})")
    click.echo(str(path))
