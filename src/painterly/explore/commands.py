"""``painterly explore``: the command-line front end of :mod:`painterly.explore`.

Each subcommand parses its options, checks the output paths before any work, calls one
library function with a progress bar on stderr, and writes one PNG (the labelled grid, with
its numbers in a ``painterly`` text chunk) plus, with ``--json PATH``, the numbers as JSON.
The output path is printed on stdout.

Errors are ValueErrors with one-line messages; the main ``painterly`` group turns them into
``painterly: error: ...`` and exit code 2 (register with ``cli.add_command(explore)``).
The library (and PyTorch) is imported when a command runs, so ``--help`` answers at once.
"""

from __future__ import annotations

import json
import sys
import typing
from collections.abc import Sequence
from pathlib import Path

import click
from tqdm import tqdm

from .. import __version__
from .. import explore as library  # its functions are imported when first called
from ..cli.group import STARTED
from ..examples import input_image
from ..models.layers import deepest
from ..multiscale import min_short_side
from .defaults import (NEURON_CHANNELS, NEURON_STEPS, PAPER_CONTENT_LAYERS, PAPER_STYLE_LAYERS,
                       RECONSTRUCT_SIZE, RECONSTRUCT_STEPS, TRADEOFF_STYLE_WEIGHTS)

if typing.TYPE_CHECKING:
    from .common import ExploreProgress


def _layer_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"expected comma-separated numbers, got {text!r}") from None


def _common(size: int, steps: int | None):
    """Decorator: the options every grid command shares (defaults differ per command)."""
    options = [
        click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
                     help="the grid image to write (PNG; other image extensions work too)"),
        click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
                     metavar="PATH", help="also write the numbers (losses, channels, "
                     "statistics, settings) to this JSON file"),
        click.option("--size", type=click.IntRange(min=16), default=size, show_default=True,
                     help="image size in pixels (long edge)"),
        click.option("--seed", type=int, default=0, show_default=True, help="random seed"),
        click.option("--device", default="auto", show_default=True,
                     help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, mps"),
        click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
                     default="auto", show_default=True, help="the network's precision"),
        click.option("--overwrite", is_flag=True, help="replace existing output files"),
        click.option("--quiet", is_flag=True, help="no progress bar, no device line"),
        click.pass_context,
    ]
    if steps is not None:
        options.insert(3, click.option("--steps", type=click.IntRange(min=1), default=steps,
                                       show_default=True, help="optimiser steps per image"))

    def decorate(func):
        for option in reversed(options):
            func = option(func)
        return func
    return decorate


class ProgressBar:
    """A tqdm bar on stderr fed by :class:`ExploreProgress` reports; restarts for each run.

    The bar appears at the first report, so nothing is drawn for a run that fails its checks.
    """

    def __init__(self, ctx: click.Context, quiet: bool):
        self.ctx, self.quiet, self.bar = ctx, quiet, None

    def __call__(self, progress: ExploreProgress) -> None:
        # errors from here on exit 1 (failed while running), before it 2: the library
        # checks every argument before its first progress report
        self.ctx.meta[STARTED] = True
        total = progress.stages * progress.steps
        if self.bar is None:
            self.bar = tqdm(total=total, disable=self.quiet, file=sys.stderr, unit="step",
                            dynamic_ncols=True)
        elif self.bar.total != total or (progress.stage, progress.step) == (1, 1):
            self.bar.reset(total=total)
        self.bar.set_description_str(progress.task, refresh=False)
        losses = " ".join(f"{k} {v:.3g}" for k, v in progress.losses.items()
                          if v != 0 or k == "total")
        self.bar.set_postfix_str(f"{progress.stage}/{progress.stages} {losses}", refresh=False)
        self.bar.update((progress.stage - 1) * progress.steps + progress.step - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _image(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An image argument: a path or a bundled example's name (None: the command's default)."""
    return None if value is None else input_image(value)


def _check_outputs(output: Path, json_path: Path | None, overwrite: bool, inputs=()) -> None:
    """Fail before any work: image extension, existing files, folders, JSON path."""
    from .. import image_io

    image_io.check_output_path(output, overwrite=overwrite, inputs=inputs)
    if json_path is None:
        return
    if json_path.suffix.lower() != ".json":
        raise ValueError(f"cannot write '{json_path}': the --json file must end in .json")
    if json_path.resolve() == output.resolve():
        raise ValueError(f"cannot write '{json_path}': it is also the image output")
    if json_path.exists() and not overwrite:
        raise ValueError(f"cannot write '{json_path}': file already exists (use --overwrite)")
    if not json_path.parent.is_dir():
        raise ValueError(f"cannot write '{json_path}': folder '{json_path.parent}' does not exist")


def _check_shape(path: str, size: int, layers: Sequence[str]) -> None:
    """Refuse a picture whose short side at ``size`` (its long edge) is too small for VGG19
    up to the deepest of ``layers``, naming it, before any work starts."""
    from .. import image_io

    need = min_short_side(layers)
    width, height = image_io.check_image_file(path)
    w, h = image_io.size_for_long_edge(width, height, size)
    if min(w, h) < need:
        raise ValueError(f"{path!r} ({width}x{height} px) is too narrow: at --size {size} it is "
                         f"{w}x{h} px, and VGG19 needs at least {need} px on each side up to "
                         f"{deepest(layers)}; use a larger --size or crop it")


def _run(ctx, call, *, output: Path, json_path: Path | None, overwrite: bool, quiet: bool,
         device: str, precision: str, size: int, layers: Sequence[str], inputs=()) -> None:
    """Check inputs, paths and device, run ``call(callback)`` with a bar, write PNG (+ JSON),
    echo. size and layers: the long edge the inputs are used at, and the layers they go to."""
    from .. import image_io
    from ..devices import resolve_runtime
    from .common import write_json

    inputs = [i for i in inputs if i is not None]
    for path in inputs:
        _check_shape(path, size, layers)
    _check_outputs(output, json_path, overwrite, inputs)
    runtime = resolve_runtime(device, precision)
    if not quiet:
        click.echo(f"painterly: {runtime.describe()}", err=True)
    bar = ProgressBar(ctx, quiet)
    try:
        result = call(bar)
    finally:
        bar.close()
    record = {"version": __version__, "command": ctx.info_name, **result.to_json()}
    metadata = {"painterly": json.dumps(record), "Software": f"painterly {__version__}"}
    image_io.save_image(result.image, output, metadata=metadata, overwrite=overwrite)
    if json_path is not None:
        write_json(record, json_path)
    click.echo(str(output))


@click.group(context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Examples: painterly explore neurons --layer conv5_1 -o conv5_1.png; "
                    "painterly explore reconstruct photo.jpg -o layers.png --json layers.json; "
                    "painterly explore figures --out docs/figures")
def explore() -> None:
    """See what the network sees: neurons, layer reconstructions and the paper's figures.

    Layer names are painterly's: convB_I is a convolution before its ReLU, reluB_I after
    it. Gatys et al.'s "conv4_2" is painterly's relu4_2 (Caffe's ReLU runs in place).
    """


@explore.command(short_help="images that excite single channels (feature visualisation)")
@click.option("--layer", default="conv3_1", show_default=True, help="the layer to look into")
@click.option("--channels", default=NEURON_CHANNELS, show_default=True,
              help="channels to show: 0-15, 3,7,12 or 0-3,8")
@click.option("--top", type=click.IntRange(min=1), default=None,
              help="instead of --channels, the K channels most active on --image")
@click.option("--image", type=click.Path(dir_okay=False), default=None, callback=_image,
              help="image for --top [default: the bundled cat photo]")
@click.option("--columns", type=click.IntRange(min=1), default=None, help="grid columns")
@click.option("--pooling", type=click.Choice(["max", "avg"]), default="max", show_default=True,
              help="VGG pooling: max as trained (clearer features) or avg as in the paper")
@_common(size=128, steps=NEURON_STEPS)
def neurons(ctx, layer, channels, top, image, columns, pooling, output, json_path, size, steps,
            seed, device, precision, overwrite, quiet):
    """Images that excite single channels most (feature visualisation), one per channel."""
    _run(ctx, lambda callback: library.visualize_neurons(
        layer, channels, top=top, image=image, size=size, steps=steps, columns=columns,
        seed=seed, device=device, precision=precision, pooling=pooling, callback=callback),
        output=output, json_path=json_path, overwrite=overwrite, quiet=quiet, device=device,
        precision=precision, size=size, layers=[layer],
        inputs=[image])


@explore.command(short_help="an image rebuilt from one layer at a time (Fig. 1, top)")
@click.argument("content", required=False, type=click.Path(dir_okay=False),
                callback=_image)
@click.option("--layers", default=",".join(PAPER_CONTENT_LAYERS), show_default=True,
              help="layers to reconstruct from, each on its own")
@click.option("--tv-weight", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="total-variation smoothing (the paper uses none)")
@_common(size=RECONSTRUCT_SIZE, steps=RECONSTRUCT_STEPS)
def reconstruct(ctx, content, layers, tv_weight, output, json_path, size, steps, seed, device,
                precision, overwrite, quiet):
    """Rebuild CONTENT from white noise using one layer's responses each (paper Fig. 1, top).

    CONTENT defaults to the bundled cat photo.
    """
    _run(ctx, lambda callback: library.reconstruct_content(
        content, _layer_list(layers), size=size, steps=steps, tv_weight=tv_weight, seed=seed,
        device=device, precision=precision, callback=callback),
        output=output, json_path=json_path, overwrite=overwrite, quiet=quiet, device=device,
        precision=precision, size=size, layers=_layer_list(layers),
        inputs=[content])


@explore.command(short_help="textures from growing sets of style layers (Fig. 1, bottom)")
@click.argument("style", required=False, type=click.Path(dir_okay=False),
                callback=_image)
@click.option("--layers", default=",".join(PAPER_STYLE_LAYERS), show_default=True,
              help="column k matches the Gram matrices of the first k of these layers")
@click.option("--style-size", type=click.IntRange(min=16), default=None,
              help="long edge the painting is analysed at [default: 2 x --size]")
@_common(size=RECONSTRUCT_SIZE, steps=RECONSTRUCT_STEPS)
def style(ctx, style, layers, style_size, output, json_path, size, steps, seed, device,
          precision, overwrite, quiet):
    """Textures from white noise matching STYLE's Gram matrices on growing sets of layers
    (paper Fig. 1, bottom). STYLE defaults to the bundled Starry Night."""
    _run(ctx, lambda callback: library.reconstruct_style(
        style, _layer_list(layers), size=size, style_size=style_size, steps=steps, seed=seed,
        device=device, precision=precision, callback=callback),
        output=output, json_path=json_path, overwrite=overwrite, quiet=quiet, device=device,
        precision=precision, size=size, layers=_layer_list(layers),
        inputs=[style])


@explore.command(short_help="style weight against style depth (Fig. 3)")
@click.argument("content", required=False, type=click.Path(dir_okay=False),
                callback=_image)
@click.argument("style", required=False, type=click.Path(dir_okay=False),
                callback=_image)
@click.option("--style-weights", default=",".join(f"{w:g}" for w in TRADEOFF_STYLE_WEIGHTS),
              show_default=True, help="one column per painterly style weight (content weight 1)")
@click.option("--layers", default=",".join(PAPER_STYLE_LAYERS), show_default=True,
              help="row k matches the style of the first k of these layers")
@click.option("--content-layer", default="relu4_2", show_default=True)
@_common(size=128, steps=100)
def tradeoff(ctx, content, style, style_weights, layers, content_layer, output, json_path,
             size, steps, seed, device, precision, overwrite, quiet):
    """Stylisations by style weight (columns) and deepest style layer (rows) (paper Fig. 3).

    CONTENT and STYLE default to the bundled cat photo and Kandinsky's Composition VII.
    """
    weights = _float_list(style_weights)
    _run(ctx, lambda callback: library.tradeoff_grid(
        content, style, style_weights=weights, style_layers=_layer_list(layers),
        content_layer=content_layer, size=size, steps=steps, seed=seed, device=device,
        precision=precision, callback=callback),
        output=output, json_path=json_path, overwrite=overwrite, quiet=quiet, device=device,
        precision=precision, size=size, layers=_layer_list(layers) + (content_layer,),
        inputs=[content, style])


@explore.command(short_help="where a layer's strongest channels respond on an image")
@click.argument("image", required=False, type=click.Path(dir_okay=False),
                callback=_image)
@click.option("--layer", default="conv4_1", show_default=True, help="the layer to look into")
@click.option("--top", type=click.IntRange(min=1), default=9, show_default=True,
              help="how many of the strongest channels to show")
@click.option("--columns", type=click.IntRange(min=1), default=None, help="grid columns")
@_common(size=256, steps=None)
def activations(ctx, image, layer, top, columns, output, json_path, size, seed, device,
                precision, overwrite, quiet):
    """Where the strongest channels of a layer respond on IMAGE (default: the bundled cat)."""
    _run(ctx, lambda callback: library.activation_maps(
        image, layer, top, size=size, columns=columns, device=device, precision=precision,
        callback=callback),
        output=output, json_path=json_path, overwrite=overwrite, quiet=quiet, device=device,
        precision=precision, size=size, layers=[layer],
        inputs=[image])


@explore.command(short_help="regenerate all the README's figures as JPEGs")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="folder for the figures (created if missing)")
@click.option("--quick", is_flag=True, help="tiny sizes and few steps: a smoke test, not figures")
@click.option("--seed", type=int, default=0, show_default=True, help="random seed")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, mps")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
              default="auto", show_default=True, help="the network's precision")
@click.option("--overwrite", is_flag=True, help="replace existing figures")
@click.option("--quiet", is_flag=True, help="no progress bar, no device line")
@click.pass_context
def figures(ctx, out_dir, quick, seed, device, precision, overwrite, quiet):
    """Regenerate every figure of the README's "What the network sees" as JPEGs in --out.

    Neuron grids for conv1_1 ... conv5_1, content and style reconstructions, the
    content/style trade-off and activation maps, on the bundled images, plus figures.json.
    """
    from ..devices import resolve_runtime

    runtime = resolve_runtime(device, precision)
    if not quiet:
        click.echo(f"painterly: {runtime.describe()}", err=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    bar = ProgressBar(ctx, quiet)
    try:
        written = library.make_figures(out_dir, quick=quick, seed=seed, device=device,
                               precision=precision, overwrite=overwrite, callback=bar)
    finally:
        bar.close()
    for path in written:
        click.echo(str(path))


__all__ = ["explore"]
