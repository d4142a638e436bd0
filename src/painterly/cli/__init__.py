"""The ``painterly`` command: one module per group of subcommands.

``stylize``/``demo`` (the optimiser), ``fast``/``train``/``styles``/``export`` (fast styles),
``examples``, ``explore``, ``studio`` and ``batch`` (many photos, resumable, here or on Ray).
Errors become one-line messages in exactly one place, :class:`~painterly.cli.common.Painterly`.
"""

import signal  # first, before anything slow to import (no __future__ import here for that)
import sys


def _exit_on_ctrl_c(signum, frame):
    """Ctrl-C while the commands (and PyTorch) are still importing: one line, no traceback."""
    sys.stderr.write("painterly: interrupted\n")
    raise SystemExit(130)


def _guard_imports() -> bool:
    """Answer Ctrl-C with :func:`_exit_on_ctrl_c` until the imports below are done; only where
    Python's own handler is in place, in the main thread. True if the guard was set."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return False
    try:
        signal.signal(signal.SIGINT, _exit_on_ctrl_c)
    except ValueError:  # not the main thread
        return False
    return True


_GUARD = _guard_imports()

import click  # noqa: E402  (the imports below take a second or two: PyTorch)

from .. import __version__
from ..devices import reuse_freed_memory
from ..explore.commands import explore
from ..web.server import studio_command
from .batch import batch_command
from .common import EXIT_INTERRUPTED, PROG, Painterly, add_threads_option, param_type
from .examples import examples_command
from .fast import export_command, fast_command, styles_command, train_command
from .stylize import default_demo_output, demo, parse_style, stylize
from .video import video_command


@click.group(cls=Painterly, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Exit codes: 0 done, 2 refused before starting (bad arguments or files), "
                    "1 failed while running, 130 interrupted.")
@click.version_option(__version__, prog_name=PROG, message="%(prog)s %(version)s")
def cli() -> None:
    """Neural style transfer (Gatys, Ecker & Bethge) that works offline."""


for command in (stylize, demo, fast_command, train_command, styles_command, export_command,
                examples_command, explore, studio_command, batch_command, video_command):
    cli.add_command(command)
for command in (stylize, demo, fast_command, train_command, explore, studio_command,
                batch_command, video_command):
    add_threads_option(command)  # the commands that compute


if _GUARD:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def main() -> None:
    """Console entry point (``painterly``, ``python -m painterly``): Ctrl-C exits with 130
    and one line, never a traceback."""
    reuse_freed_memory()
    try:
        cli.main(prog_name=PROG)
    except KeyboardInterrupt:
        click.echo(f"{PROG}: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


__all__ = ["cli", "main", "default_demo_output", "param_type", "parse_style"]
