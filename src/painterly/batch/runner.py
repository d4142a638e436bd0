"""Running a batch: what is left to do, painting it somewhere, and writing each result once.

Workers (this process, local processes or Ray) only paint and return :class:`Result`s: the
pixels or a one-line error. This process alone writes the outputs (atomically, each at most
once) and the record, so a worker that dies or is retried can never leave a half-written or
doubled output behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from .. import __version__, image_io
from ..errors import one_line
from .items import Item
from .record import DONE, FAILED, RECORD_NAME, Entry, Recorder, read_record

log = logging.getLogger(__name__)


@dataclass
class Result:
    """What a worker sends back for one item: ``pixels`` (H,W,3) uint8 RGB bytes with their
    ``width`` and ``height``, or ``error`` (one line); ``seconds`` spent painting."""

    key: str
    error: str | None = None
    pixels: bytes | None = None
    width: int = 0
    height: int = 0
    seconds: float = 0.0
    worker: str = ""


@dataclass
class Summary:
    """The batch so far: items ``done`` and ``failed`` in this run, ``skipped`` (done by an
    earlier run), ``failed_before`` (failed earlier, not retried), ``total`` items."""

    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    failed_before: int = 0
    seconds: float = 0.0
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.failed_before)


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a batch; ``summary`` says what was written (each output complete)."""

    def __init__(self, summary: Summary):
        super().__init__("interrupted")
        self.summary = summary


def paint_one(engine: Callable[[Item], torch.Tensor], item: Item) -> Result:
    """Paint ``item`` with ``engine``; any error becomes the result's one-line message."""
    start = time.perf_counter()
    worker = f"{os.uname().nodename}:{os.getpid()}" if hasattr(os, "uname") else str(os.getpid())
    try:
        image = engine(item)
        pixels = image_io.tensor_to_pil(image.detach().float().cpu())
    except Exception as exc:  # one bad item never stops the batch
        return Result(item.key, error=one_line(exc), seconds=time.perf_counter() - start,
                      worker=worker)
    return Result(item.key, pixels=pixels.tobytes(), width=pixels.width, height=pixels.height,
                  seconds=time.perf_counter() - start, worker=worker)


def plan(items: Sequence[Item], outdir: Path, *, retry_failed: bool,
         record: Path | None = None) -> tuple[list[Item], Summary]:
    """(items still to paint, summary counting those done or failed before).

    An item is done when the record says so and its output exists, or when its output
    exists with no record line (written just before a stop: kept, never redone)."""
    entries = read_record(record or outdir / RECORD_NAME)
    todo, summary = [], Summary(total=len(items))
    for item in items:
        entry, exists = entries.get(item.key), os.path.lexists(outdir / item.key)
        if exists and (entry is None or entry.status == DONE):
            summary.skipped += 1
        elif entry is not None and entry.status == FAILED and not retry_failed:
            summary.failed_before += 1
            summary.errors.append((item.photo, entry.error or "failed"))
        else:
            todo.append(item)
    return todo, summary


def check_outputs(items: Sequence[Item], outdir: Path) -> None:
    """Output folder writable (created if missing), and no output is one of the inputs."""
    if outdir.exists() and not outdir.is_dir():
        raise ValueError(f"-o {str(outdir)!r} exists and is not a folder")
    outdir.mkdir(parents=True, exist_ok=True)
    photos = {os.path.realpath(item.photo) for item in items}
    for item in items:
        if os.path.realpath(outdir / item.key) in photos:
            raise image_io.OutputError(f"cannot write {str(outdir / item.key)!r}: it is also an "
                                       "input, which is never overwritten; choose another -o")
        (outdir / item.key).parent.mkdir(parents=True, exist_ok=True)
    image_io.check_writable(outdir / RECORD_NAME, overwrite=True)


Backend = Callable[[Sequence[Item]], Iterator[Result]]
"""Paints items somewhere and yields their results in any order (at least one per item;
a retried item may yield twice, and only the first is written)."""


def local_backend(engine: Callable[[Item], torch.Tensor]) -> Backend:
    """Paint in this process, one item after another."""
    def run(items: Sequence[Item]) -> Iterator[Result]:
        for item in items:
            yield paint_one(engine, item)
    return run


def run_batch(items: Sequence[Item], engine, outdir: Path, *, backend: Backend | None = None,
              retry_failed: bool = False, fmt_quality: int = 95,
              callback: Callable[[Result, Summary], None] | None = None) -> Summary:
    """Paint every item not done yet into ``outdir``, recording each result.

    engine: see :mod:`painterly.batch.engines` (checked here before any work: options,
    styles); backend: where to paint (default: this process). ``callback(result, summary)``
    after each item. Raises :class:`BatchInterrupted` on Ctrl-C: every output written is
    complete and recorded, the rest is painted by the next run."""
    engine.check(items)
    check_outputs(items, outdir)
    todo, summary = plan(items, outdir, retry_failed=retry_failed)
    by_key = {item.key: item for item in todo}
    start = time.perf_counter()
    results = (backend or local_backend(engine))(todo) if todo else iter(())
    written: set[str] = set()
    with Recorder(outdir / RECORD_NAME) as recorder:
        try:
            for result in results:
                if result.key in written or result.key not in by_key:
                    continue  # a retried item's second result: already written
                written.add(result.key)
                _finish(by_key[result.key], result, engine, outdir, recorder, summary, fmt_quality)
                summary.seconds = time.perf_counter() - start
                if callback is not None:
                    callback(result, summary)
        except KeyboardInterrupt:
            summary.seconds = time.perf_counter() - start
            raise BatchInterrupted(summary) from None
        finally:
            with contextlib.suppress(Exception):
                results.close()  # stops the backend's workers
    summary.seconds = time.perf_counter() - start
    return summary


def _finish(item: Item, result: Result, engine, outdir: Path, recorder: Recorder,
            summary: Summary, quality: int) -> None:
    """Write the output (atomically) and the record line of one result."""
    error = result.error
    if error is None:
        try:
            image = Image.frombytes("RGB", (result.width, result.height), result.pixels)
            record = {"version": __version__, "content": item.photo, **engine.describe(item)}
            image_io.save_image(image, outdir / item.key, quality=quality,
                                metadata={"painterly": json.dumps(record),
                                          "Software": f"painterly {__version__}"})
        except (ValueError, OSError) as exc:
            error = one_line(exc)
    status = DONE if error is None else FAILED
    recorder.add(Entry(item.key, item.photo, status, error, round(result.seconds, 3),
                       engine.name, result.worker))
    if error is None:
        summary.done += 1
    else:
        summary.failed += 1
        summary.errors.append((item.photo, error))

