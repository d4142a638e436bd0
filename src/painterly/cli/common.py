"""What every ``painterly`` command shares: options generated from dataclasses, logging to
stderr, the output flags and ``--threads``. Errors become messages in ``group``.

Imports no PyTorch (``--threads`` imports it when applied), so that a command's ``--help``
answers at once.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sys
import time
import typing
from collections.abc import Callable
from typing import Literal, get_args, get_origin

import click

from ..config import StyleConfig
from .group import PROG, VERBOSE

log = logging.getLogger(__name__)

_SCALARS = {int: click.INT, float: click.FLOAT, str: click.STRING, bool: click.BOOL}


# ------------------------------------------------------------ options from StyleConfig

class CommaList(click.ParamType):
    """``a,b,c`` -> a tuple of ``item`` values; an empty string gives ``()``."""

    def __init__(self, item: type):
        self.item = item
        self.name = {str: "name", int: "int", float: "float"}.get(item, item.__name__) + ",..."

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        parts = [part.strip() for part in str(value).split(",") if part.strip()]
        try:
            return tuple(self.item(part) for part in parts)
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of {self.item.__name__} values",
                      param, ctx)


def param_type(hint) -> click.ParamType:
    """The click type for a StyleConfig annotation (``X | None`` maps like ``X``)."""
    args = [arg for arg in get_args(hint) if arg is not type(None)]
    if type(None) in get_args(hint) and len(args) == 1:
        hint = args[0]
    if get_origin(hint) is Literal:
        return click.Choice(get_args(hint))
    if get_origin(hint) is tuple and get_args(hint)[1:] == (Ellipsis,):
        return CommaList(get_args(hint)[0])
    if hint in _SCALARS:
        return _SCALARS[hint]
    raise TypeError(f"no command-line mapping for the annotation {hint!r}")


def _option(field: dataclasses.Field, hint) -> Callable:
    """``--style-weight`` from ``style_weight``: type, default and help from the field."""
    ptype, flag = param_type(hint), "--" + field.name.replace("_", "-")
    default = field.default
    if isinstance(default, tuple):  # shown and parsed as the user would type it
        default = ",".join(map(str, default))
    if ptype is click.BOOL:
        flag = f"{flag}/--no-{flag[2:]}"
    return click.option(flag, field.name, type=ptype, default=default, show_default=True,
                        help=field.metadata.get("help"))


def config_options(names: typing.Collection[str] | None = None) -> Callable:
    """Decorator adding one option per StyleConfig field (or only those in ``names``)."""
    hints = typing.get_type_hints(StyleConfig)
    fields = [f for f in dataclasses.fields(StyleConfig) if names is None or f.name in names]

    def decorate(func):
        for field in reversed(fields):
            func = _option(field, hints[field.name])(func)
        return func
    return decorate


def make_config(settings: dict) -> StyleConfig:
    """A StyleConfig from the parsed options that name its fields (others are ignored)."""
    names = {f.name for f in dataclasses.fields(StyleConfig)}
    return StyleConfig(**{k: v for k, v in settings.items() if k in names})


# ------------------------------------------------------------ images and threads

THREADS_HELP = ("CPU threads for PyTorch; 0: one per idle core (measured for 0.1 s, at least "
                "1; stylize and train look again every minute): threads on busy cores wait "
                "for each other")


def _cpu_times() -> dict[str, tuple[int, int]]:
    """Per CPU (``cpu0``, ...): (idle, total) jiffies since boot, from Linux's /proc/stat."""
    times = {}
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            name, *fields = line.split()
            if name.startswith("cpu") and name != "cpu":
                numbers = [int(f) for f in fields[:8]]
                times[name] = (numbers[3] + numbers[4], sum(numbers))
    return times


@functools.cache
def torch_default_threads() -> int:
    """PyTorch's own thread count, read before ``--threads`` first changes it."""
    import torch

    return torch.get_num_threads()


def _idle_cores(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> float:
    """How many of the cores this process may use were idle between two :func:`_cpu_times`
    readings (a fraction of each); OSError etc. where that cannot be told."""
    allowed = {f"cpu{n}" for n in os.sched_getaffinity(0)}
    idle = 0.0
    for cpu in allowed & before.keys() & after.keys():
        total = after[cpu][1] - before[cpu][1]
        idle += (after[cpu][0] - before[cpu][0]) / total if total > 0 else 1.0
    return idle


def _thread_count(cores: float) -> int:
    return max(1, min(torch_default_threads(), round(cores)))


@functools.cache
def auto_threads(sample: float = 0.1) -> int:
    """One thread per core this process may use that was idle during ``sample`` seconds
    (at most torch's default, at least 1); torch's default where that cannot be measured.
    Measured once per process."""
    try:
        before = _cpu_times()
        time.sleep(sample)
        return _thread_count(_idle_cores(before, _cpu_times()))
    except (OSError, AttributeError, ValueError):  # not Linux
        return torch_default_threads()


THREADS_AUTO = "painterly.threads_auto"  # ctx.meta: True when --threads was left at 0


def _set_threads(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if not ctx.resilient_parsing:
        import torch

        torch_default_threads()  # remembered before it is changed
        torch.set_num_threads(value or auto_threads())
        ctx.meta[THREADS_AUTO] = value == 0
    return value


class ThreadRetuner:
    """For long runs with ``--threads 0``: call it often (each step); at most
    every ``every`` seconds it sets PyTorch's threads to the cores this process had to itself
    since the last look, those idle plus those it used. A count taken at start-up for hours
    would keep half the cores unused after a job that was running then has finished, or
    keep threads waiting on cores another job has taken since."""

    def __init__(self, ctx: click.Context, every: float = 60.0):
        self.every = every
        self._last = self._reading() if ctx.meta.get(THREADS_AUTO) else None

    @staticmethod
    def _reading() -> tuple[float, float, dict[str, tuple[int, int]]] | None:
        try:
            return time.monotonic(), time.process_time(), _cpu_times()
        except OSError:  # not Linux: leave the count as it is
            return None

    def __call__(self) -> None:
        if self._last is None or time.monotonic() - self._last[0] < self.every:
            return
        reading = self._reading()
        if reading is None:
            return
        (wall, used, before), self._last = self._last, reading
        try:
            mine = (reading[1] - used) / max(reading[0] - wall, 1e-9)
            cores = _idle_cores(before, reading[2]) + mine
        except (OSError, AttributeError, ValueError):
            return
        import torch

        threads = _thread_count(cores)
        if threads != torch.get_num_threads():
            log.info("threads: %d (cores free for this run: %.1f)", threads, cores)
            torch.set_num_threads(threads)


def threads_option() -> click.Option:
    """``--threads N``, applied while parsing (so it needs no parameter in the command)."""
    return click.Option(["--threads"], type=click.IntRange(min=0), default=0, show_default=True,
                        metavar="N", expose_value=False, callback=_set_threads, help=THREADS_HELP)


def add_threads_option(command: click.Command) -> click.Command:
    """Give ``command`` (and every subcommand of a group) the ``--threads`` option."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_threads_option(sub)
    elif not any(p.name == "threads" for p in command.params):
        command.params.append(threads_option())
    return command


class _StderrHandler(logging.Handler):
    """Log records as ``painterly: message`` on whatever stderr is current, above any
    progress bar (tqdm clears the bar, writes the line, and draws the bar again)."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        tqdm.write(f"{PROG}: {self.format(record)}", file=sys.stderr)


def setup(ctx: click.Context, verbose: bool) -> None:
    """Library logging to stderr: INFO with -v, else WARNING."""
    ctx.meta[VERBOSE] = verbose
    logger = logging.getLogger("painterly")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.INFO if verbose else logging.WARNING)


def output_options(func):
    """--overwrite, --quiet, -v and the click context, shared by both commands."""
    for decorator in reversed([
            click.option("--overwrite", is_flag=True,
                         help="replace an existing output file (an input is never replaced)"),
            click.option("--quiet", is_flag=True, help="no progress bar, no device line"),
            click.option("-v", "--verbose", is_flag=True,
                         help="log what happens; tracebacks for unexpected errors"),
            click.pass_context]):
        func = decorator(func)
    return func


DEVICE_HELP = "auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, mps"
PRECISION_HELP = "auto: bf16 on CPUs that have it and on CUDA, else fp32"


def runtime_options(func):
    """--device and --precision, for the commands that run a network."""
    for decorator in reversed([
            click.option("--device", default="auto", show_default=True, help=DEVICE_HELP),
            click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
                         default="auto", show_default=True, help=PRECISION_HELP)]):
        func = decorator(func)
    return func


def scale_out_options(*, workers: str, ray: str, cpus: str, gpus: str):
    """--workers, --ray, --ray-cpus and --ray-gpus, with each command's own help texts, for
    the commands that spread their work over processes or a Ray cluster."""
    def decorate(func):
        for decorator in reversed([
                click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
                             metavar="N", help=workers),
                click.option("--ray", "ray_address", metavar="ADDRESS|auto", default=None, help=ray),
                click.option("--ray-cpus", type=click.FloatRange(min=0), default=1.0,
                             show_default=True, help=cpus),
                click.option("--ray-gpus", type=click.FloatRange(min=0), default=0.0,
                             show_default=True, help=gpus)]):
            func = decorator(func)
        return func
    return decorate


def check_scale_out(workers: int, ray_address: str | None) -> None:
    """ValueError when both --workers and --ray are given."""
    if workers and ray_address:
        raise ValueError("give either --workers (processes here) or --ray (a cluster), not both")
