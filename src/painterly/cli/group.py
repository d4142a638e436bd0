"""The ``painterly`` command group: subcommands imported when they run, and the one place
errors become messages. Imports no PyTorch, so ``painterly --help``, ``--version`` and
``examples`` answer at once (PyTorch alone takes a second or more to import).

Exit codes (errors are converted in one place, :meth:`Painterly.invoke`):

* 0: success; the output path is printed on stdout.
* 2: refused before any work started: click's usage errors, and every ``ValueError``,
  ``TypeError`` or ``OSError`` raised while checking the arguments, input files, output path,
  configuration and device. Nothing was computed or written.
* 1: the run started and failed: weights that do not load, a NaN loss, a full disk, any
  I/O error, or an unexpected exception (``-v`` shows its traceback).
* 130: interrupted (Ctrl-C); the image so far is saved when at least one step was done.
* 141: the reader of the output left (``painterly styles | head -1``); nothing is printed.
"""

from __future__ import annotations

import importlib
import os
import select
import sys
import traceback
import typing
from dataclasses import dataclass

import click

from ..errors import one_line

PROG = "painterly"
EXIT_RUNTIME, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool whose reader left
STARTED, VERBOSE = "painterly.started", "painterly.verbose"


@dataclass(frozen=True)
class Subcommand:
    """Where a subcommand lives, and the line ``painterly --help`` lists it with."""

    module: str  # relative to this package, e.g. ".stylize"
    attribute: str
    summary: str
    computes: bool = True  # runs a network: gets ``--threads``


class Painterly(click.Group):
    """The command group. ``subcommands`` are imported on first use; ``invoke`` turns every
    error into one line and an exit code (the module's docstring lists them)."""

    def __init__(self, *args, subcommands: dict[str, Subcommand] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.subcommands = subcommands or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.subcommands.keys() | self.commands.keys())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.subcommands:
            self.add_command(self._load(name), name)
        return self.commands.get(name)

    def _load(self, name: str) -> click.Command:
        where = self.subcommands[name]
        command = getattr(importlib.import_module(where.module, __package__), where.attribute)
        if where.computes:
            from .common import add_threads_option  # PyTorch: only the commands that compute

            add_threads_option(command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The summaries from ``subcommands``, without importing any command."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, self._summary(name)) for name in self.list_commands(ctx)])

    def _summary(self, name: str) -> str:
        if name in self.subcommands:
            return self.subcommands[name].summary
        return self.commands[name].get_short_help_str()  # one added as a command object

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own usage errors and exits keep click's formatting
        except KeyboardInterrupt:
            click.echo(f"{PROG}: interrupted; nothing was written", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError as exc:
            if not _stdout_closed():
                fail(ctx, one_line(exc), EXIT_RUNTIME if ctx.meta.get(STARTED) else EXIT_USAGE)
            # The reader of the output has gone (``painterly styles | head -3``): stop quietly,
            # as shell tools do, with nothing left to flush into the closed pipe at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(EXIT_BROKEN_PIPE)
        except (ValueError, TypeError, OSError, FloatingPointError, ImportError) as exc:
            fail(ctx, one_line(exc), EXIT_RUNTIME if ctx.meta.get(STARTED) else EXIT_USAGE)
        except Exception as exc:
            if ctx.meta.get(VERBOSE):
                traceback.print_exception(exc, file=sys.stderr)
                hint = ""
            else:
                hint = " (run with -v to see the traceback)"
            fail(ctx, f"unexpected {type(exc).__name__}: {one_line(exc)}{hint}", EXIT_RUNTIME)


def _stdout_closed() -> bool:
    """True when stdout is a pipe whose reader has exited (poll reports an error on it), so
    that a broken pipe elsewhere (a worker's) is still reported. False where poll is missing."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


def fail(ctx: click.Context, message: str, code: int) -> typing.NoReturn:
    click.echo(f"{PROG}: error: {message}", err=True)
    ctx.exit(code)
