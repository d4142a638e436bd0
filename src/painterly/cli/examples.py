"""``painterly examples``: the bundled photos, paintings and masks, usable by name."""

from __future__ import annotations

import click

from ..examples import examples


@click.command("examples")
@click.option("--paths", is_flag=True, help="print each file's full path instead of its kind")
def examples_command(paths: bool) -> None:
    """List the bundled photos, paintings and masks.

    Each can be given by name wherever a command expects an image file (a file of that name
    in the current folder wins): painterly stylize chelsea_cat starry_night -o out.png
    """
    for example in examples():
        click.echo(f"{example.name}\t{example.path if paths else example.kind}")
