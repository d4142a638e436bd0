"""The ``painterly`` command: one module per group of subcommands, each imported only when
it runs (``group.Painterly``), so that ``painterly --help`` does not wait for PyTorch.

``stylize``/``demo`` (the optimiser), ``fast``/``train``/``styles``/``export`` (fast styles),
``video``, ``batch`` (many photos, resumable, here or on Ray), ``examples``, ``explore`` and
``studio``. Errors become one-line messages in exactly one place, ``Painterly.invoke``.
"""

import signal  # first, before anything else is imported (no __future__ import here for that)
import sys


def _exit_on_ctrl_c(signum, frame):
    """Ctrl-C while the command is still starting: one line, no traceback."""
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

import click  # noqa: E402

from .. import __version__  # noqa: E402
from ..cpuinfo import reuse_freed_memory  # noqa: E402
from .group import EXIT_INTERRUPTED, PROG, Painterly, Subcommand  # noqa: E402

SUBCOMMANDS = {  # `painterly --help` lists them alphabetically
    "stylize": Subcommand(".stylize", "stylize",
                          "paint a photo like one or more paintings (Gatys et al.)"),
    "demo": Subcommand(".stylize", "demo", "paint the bundled cat like The Starry Night"),
    "fast": Subcommand(".fast", "fast_command",
                       "paint photos in one pass: a fast style or any painting"),
    "train": Subcommand(".fast", "train_command", "train a fast style on paintings, or add one"),
    "styles": Subcommand(".examples", "styles_command", "list the fast styles: bundled and your own",
                         computes=False),
    "export": Subcommand(".fast", "export_command", "write a fast style as an ONNX network",
                         computes=False),
    "video": Subcommand(".video", "video_command", "paint a clip frame by frame, without flicker"),
    "batch": Subcommand(".batch", "batch_command", "paint many photos, resumable, here or on Ray"),
    "examples": Subcommand(".examples", "examples_command",
                           "list the bundled photos, paintings and masks", computes=False),
    "explore": Subcommand("..explore.commands", "explore",
                          "see what the network sees (Gatys et al., Fig. 1-3)"),
    "studio": Subcommand("..web.server", "studio_command",
                         "open the studio: paint in a local web page"),
}


@click.group(cls=Painterly, subcommands=SUBCOMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Exit codes: 0 done, 2 refused before starting (bad arguments or files), "
                    "1 failed while running, 130 interrupted, 141 output pipe closed by its reader.")
@click.version_option(__version__, prog_name=PROG, message="%(prog)s %(version)s")
def cli() -> None:
    """Neural style transfer (Gatys, Ecker & Bethge) that works offline."""


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


__all__ = ["cli", "main"]
