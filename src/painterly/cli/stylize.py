"""``painterly stylize`` and ``painterly demo``: the optimiser (Gatys et al.) from the command line.

The options of both commands are generated from :class:`~painterly.config.StyleConfig`'s
fields (name, type, default and help), so the help text and the library cannot drift apart.
These commands only parse, check, call :func:`painterly.pipeline.stylize` and render progress.
PyTorch and the modules that need it are imported inside the functions that use them, so that
``painterly stylize --help`` answers at once.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import typing
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import get_args

import click
from tqdm import tqdm

from .. import __version__
from ..config import InitKind, StyleConfig
from ..examples import input_image
from ..examples import parse_picture_spec as parse_style
from .common import ThreadRetuner, config_options, make_config, output_options, setup
from .group import EXIT_INTERRUPTED, PROG, STARTED

if typing.TYPE_CHECKING:
    from ..multiscale import Scale
    from ..optimize import Progress

DEMO_CONTENT, DEMO_STYLE = "content/chelsea_cat.png", "style/starry_night.jpg"
DEMO_OVERRIDES = ("size", "iterations", "device", "precision")
MAX_SAVES = 10_000
"""Most intermediate images one run may write with --save-every."""


# ------------------------------------------------------------------- checks, then run

def intermediate_path(out: Path, step: int) -> Path:
    """Where ``--save-every`` writes global step ``step``: ``out.step0050.png`` next to OUT."""
    return out.with_name(f"{out.stem}.step{step:04d}{out.suffix}")


def _check_run(content, styles, config: StyleConfig, out: Path, overwrite: bool,
               save_every: int, mask_files: typing.Sequence[str] = (),
               masked: bool = False) -> list[Scale]:
    """Fail fast, before the network loads: inputs, weights file, output paths, device, memory.

    Returns the stages with their steps (per tile times tiles, where a scale is tiled)."""
    from .. import image_io, masks, multiscale, pipeline
    from ..models.weights import check_weights_file

    if sum(weight for _, weight in styles) <= 0:
        raise ValueError("style weights must have a positive sum")
    inputs = [content, *(path for path, _ in styles)]
    if config.init not in get_args(InitKind):
        inputs.append(config.init)
    inputs += list(mask_files)
    sizes = [image_io.check_image_file(path) for path in inputs]
    for path, size in zip(mask_files, sizes[len(sizes) - len(mask_files):]):
        masks.check_aspect(size, sizes[0], repr(str(path)))
    if config.weights is not None:
        check_weights_file(config.weights)
    kept = sum(1 for _, weight in styles if weight > 0)
    plans = pipeline.plan(sizes[0], sizes[1:len(styles) + 1], config, masks=kept if masked else 0,
                          names=[repr(str(path)) for path in inputs[:len(styles) + 1]])
    stages = [multiscale.Scale(plan.long_edge, plan.total_steps) for plan in plans]
    image_io.check_output_path(out, overwrite=overwrite, inputs=inputs)
    _check_intermediates(out, sum(stage.steps for stage in stages), save_every, overwrite, inputs)
    return stages


def _check_intermediates(out: Path, total: int, every: int, overwrite: bool, inputs) -> None:
    """The ``--save-every`` files: a bounded count; the first and last names (folder, format,
    name length) and any of them that already exist, found by listing the folder once."""
    from .. import image_io

    if not every:
        return
    count = total // every
    if count > MAX_SAVES:
        raise ValueError(f"--save-every {every} would write {count} intermediate images "
                         f"(at most {MAX_SAVES}); use --save-every {-(-total // MAX_SAVES)} or more")
    if count == 0:
        return
    paths = {intermediate_path(out, every), intermediate_path(out, count * every)}
    prefix, suffix = f"{out.stem}.step", out.suffix
    folder = out.parent if str(out.parent) else Path(".")
    try:
        existing = [p for p in folder.iterdir() if p.name.startswith(prefix) and p.name.endswith(suffix)]
    except OSError:
        existing = []  # the folder is checked with the output path
    for path in existing:
        number = path.name[len(prefix):len(path.name) - len(suffix)]
        if number.isascii() and number.isdigit() and int(number) % every == 0 \
                and 0 < int(number) <= total and path == intermediate_path(out, int(number)):
            paths.add(path)
    for path in sorted(paths):
        image_io.check_output_path(path, overwrite=overwrite, inputs=inputs)


def _metadata(content, styles, config: StyleConfig, **extra) -> dict[str, str]:
    """What the output records about its making (PNG text chunk, EXIF elsewhere)."""
    record = {"version": __version__, "content": str(content),
              "styles": [[str(path), weight] for path, weight in styles],
              "config": config.to_dict(), **extra}
    return {"painterly": json.dumps(record), "Software": f"painterly {__version__}"}


class _Reporter:
    """Progress callback: advances the bar, writes every ``every``-th step's image and lets
    ``retune_threads`` (a :class:`ThreadRetuner`) look at the free cores."""

    def __init__(self, bar: tqdm, stages, out: Path, every: int, save: Callable,
                 retune_threads: Callable[[], None]):
        self.bar, self.out, self.every, self.save = bar, out, every, save
        self.retune_threads = retune_threads
        self.offsets = list(itertools.accumulate([0] + [stage.steps for stage in stages]))

    def __call__(self, progress: Progress) -> None:
        self.retune_threads()
        step = self.offsets[progress.scale - 1] + progress.step
        self.bar.set_postfix_str(_postfix(progress), refresh=False)
        self.bar.update(1)
        if self.every and step % self.every == 0:
            self.save(progress.preview(), intermediate_path(self.out, step), step=step)


def _postfix(progress: Progress) -> str:
    """``scale 1/3 128x96 content 1.2e+03 style 45.6 tv 0.1 total 1.25e+03``."""
    terms = " ".join(f"{name} {progress.losses.get(name, math.nan):.3g}"
                     for name in ("content", "style", "tv", "total"))
    width, height = progress.size
    return f"scale {progress.scale}/{progress.scales} {width}x{height} {terms}"


def _render(ctx: click.Context, content, styles, config: StyleConfig, out: Path, *,
            overwrite: bool, save_every: int = 0, quiet: bool, masks=None,
            mask_files: typing.Sequence[str] = (), **extra) -> Path:
    """Check everything, run the optimisation with a progress bar, save; returns the path.

    masks: one per style for ``pipeline.stylize`` (None: no masks); mask_files: the files they
    come from, checked like every input."""
    from .. import image_io, pipeline
    from ..devices import resolve_runtime

    stages = _check_run(content, styles, config, out, overwrite, save_every, mask_files,
                        masked=masks is not None)
    runtime = resolve_runtime(config.device, config.precision)
    if not quiet:
        click.echo(f"{PROG}: {runtime.describe()}", err=True)

    def save(image, path: Path, **more) -> Path:
        metadata = _metadata(content, styles, config, **extra, **more)
        return image_io.save_image(image, path, metadata=metadata, overwrite=overwrite)

    ctx.meta[STARTED] = True
    with tqdm(total=sum(s.steps for s in stages), disable=quiet, file=sys.stderr,
              unit="step", desc=PROG, dynamic_ncols=True) as bar:
        try:
            image = pipeline.stylize(content, list(styles), config,
                                     callback=_Reporter(bar, stages, out, save_every, save,
                                                        ThreadRetuner(ctx)),
                                     **({} if masks is None else {"masks": masks}))
        except pipeline.Interrupted as stop:
            bar.close()
            if stop.image is None:  # no step was done: nothing painted to keep
                click.echo(f"{PROG}: interrupted before the first step; nothing was written",
                           err=True)
                ctx.exit(EXIT_INTERRUPTED)
            save(stop.image, out, interrupted=True)
            click.echo(f"{PROG}: interrupted; saved the image so far to {out}", err=True)
            ctx.exit(EXIT_INTERRUPTED)
    return save(image, out)


# ------------------------------------------------------------------------- commands

@click.command(no_args_is_help=True)
@click.argument("content")
@click.argument("styles", nargs=-1, required=True, metavar="STYLE[:WEIGHT]...")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="output image; the extension picks PNG, JPEG, WebP or TIFF")
@click.option("--save-every", type=click.IntRange(min=0), default=0, show_default=True,
              metavar="N", help="also write OUT.stepNNNN.EXT every N steps (0: off)")
@click.option("--mask", "mask", multiple=True, metavar="MASK",
              help="one per STYLE, in order: paint that style where the image is white "
                   "(greyscale, the photo's aspect ratio); 'all' for everywhere. Where every mask "
                   "is black the photo is kept")
@click.option("--labels", metavar="LABELS", default=None,
              help="instead of --mask: a PNG with one colour per STYLE (sorted by RGB value: "
                   "darkest first) and black where the photo is kept")
@config_options()
@output_options
def stylize(ctx, content, styles, output, save_every, mask, labels, overwrite, quiet, verbose,
            **settings):
    """Paint CONTENT in the style of the STYLE paintings (blended by their weights).

    Example: painterly stylize photo.jpg wave.jpg:0.7 scream.jpg:0.3 -o out.png

    Regions: painterly stylize cat.png wave.jpg scream.jpg --labels regions.png -o out.png

    Images may also be the names of bundled examples (see `painterly examples`):
    painterly stylize chelsea_cat starry_night -o out.png
    """
    setup(ctx, verbose)
    content = input_image(content)
    pairs = [(input_image(path), weight) for path, weight in map(parse_style, styles)]
    config = make_config(settings)
    found, files, record = _masks(mask, labels, len(pairs))
    out = _render(ctx, content, pairs, config, output, overwrite=overwrite,
                  save_every=save_every, quiet=quiet, masks=found, mask_files=files, **record)
    click.echo(str(out))


def _masks(mask: tuple[str, ...], labels: str | None, styles: int):
    """(masks for the library or None, files to check, what the output's metadata records)."""
    from .. import image_io, masks

    if mask and labels:
        raise ValueError("give either --mask (one per style) or --labels, not both")
    if labels is not None:
        labels = input_image(labels)
        image_io.check_image_file(labels)
        return masks.from_labels(labels, styles), [labels], {"regions": {"labels": labels}}
    if not mask:
        return None, [], {}
    if len(mask) != styles:
        raise ValueError(f"give one --mask per style ('all' for everywhere): "
                         f"{len(mask)} masks for {styles} styles")
    mask = tuple(m if m == "all" else input_image(m) for m in mask)
    files = [m for m in mask if m != "all"]
    return [None if m == "all" else m for m in mask], files, {"regions": {"masks": list(mask)}}


def default_demo_output() -> Path:
    """``<user data dir>/painterly/demo/chelsea_cat_starry_night.png``."""
    import platformdirs

    return Path(platformdirs.user_data_dir(PROG)) / "demo" / "chelsea_cat_starry_night.png"


def _is_demo_output(path: Path) -> bool:
    """True for a PNG that an earlier ``painterly demo`` wrote (safe to replace)."""
    from .. import image_io

    try:
        return json.loads(image_io.read_png_metadata(path)["painterly"]).get("demo") is True
    except (ValueError, KeyError, OSError, AttributeError):
        return False


@click.command()
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="output image [default: painterly's user data folder, "
                   "demo/chelsea_cat_starry_night.png]")
@config_options(DEMO_OVERRIDES)
@output_options
def demo(ctx, output, overwrite, quiet, verbose, **settings):
    """Paint the bundled cat photo like The Starry Night (library defaults).

    The default output is replaced by the next demo; a file given with -o is never replaced
    without --overwrite."""
    from .. import image_io

    setup(ctx, verbose)
    data = resources.files(PROG) / "data"
    content, style = str(data / DEMO_CONTENT), str(data / DEMO_STYLE)
    out = output or default_demo_output()
    if out.suffix.lower() in image_io.OUTPUT_FORMATS and not out.parent.exists():
        out.parent.mkdir(parents=True)
    # Only the default output, in painterly's own folder, is replaced without --overwrite
    # (when an earlier demo wrote it); a file named with -o is the user's, as for stylize.
    overwrite = overwrite or (output is None and _is_demo_output(out))
    out = _render(ctx, content, [(style, 1.0)], make_config(settings), out,
                  overwrite=overwrite, quiet=quiet, demo=True)
    click.echo(str(out))
