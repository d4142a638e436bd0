"""``painterly examples`` and ``styles``: what can be given by name, listed without loading
PyTorch (the bundled photos, paintings and masks; the bundled fast styles and your own)."""

from __future__ import annotations

import click

from ..examples import examples
from ..style_folders import (bundled_style_folder, bundled_styles, network_origin, user_styles,
                             user_styles_dir)


@click.command("examples")
@click.option("--paths", is_flag=True, help="print each file's full path instead of its kind")
def examples_command(paths: bool) -> None:
    """List the bundled photos, paintings and masks.

    Each can be given by name wherever a command expects an image file (a file of that name
    in the current folder wins): painterly stylize chelsea_cat starry_night -o out.png
    """
    for example in examples():
        click.echo(f"{example.name}\t{example.path if paths else example.kind}")


@click.command("styles")
@click.option("--dir", "show_dir", is_flag=True, help="print the folder searched for your own styles")
def styles_command(show_dir: bool) -> None:
    """List the fast styles, bundled and your own, each with the network that paints it
    alone: bundled/NAME (its own), bundled (the one all bundled styles share) or a folder."""
    if show_dir:
        click.echo(str(user_styles_dir()))
        return
    for name in bundled_styles():
        click.echo(f"{name}\t{network_origin(bundled_style_folder(name))}")
    for name, folder in user_styles().items():
        click.echo(f"{name}\t{folder}")
