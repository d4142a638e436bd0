"""The ``painterly`` command: one module per group of subcommands.

``stylize``/``demo`` (the optimiser), ``fast``/``train``/``styles``/``export`` (fast styles),
``explore`` and ``studio``. Errors become one-line messages in exactly one place,
:class:`~painterly.cli.common.Painterly`.
"""

from __future__ import annotations

import click

from .. import __version__
from ..explore.commands import explore
from ..web.server import studio_command
from .common import PROG, Painterly, param_type
from .fast import export_command, fast_command, styles_command, train_command
from .stylize import default_demo_output, demo, parse_style, stylize


@click.group(cls=Painterly, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Exit codes: 0 done, 2 refused before starting (bad arguments or files), "
                    "1 failed while running, 130 interrupted.")
@click.version_option(__version__, prog_name=PROG, message="%(prog)s %(version)s")
def cli() -> None:
    """Neural style transfer (Gatys, Ecker & Bethge) that works offline."""


for command in (stylize, demo, fast_command, train_command, styles_command, export_command,
                explore, studio_command):
    cli.add_command(command)


def main() -> None:
    """Console entry point (``painterly``, ``python -m painterly``)."""
    cli.main(prog_name=PROG)


__all__ = ["cli", "main", "default_demo_output", "param_type", "parse_style"]
