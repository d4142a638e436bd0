"""The studio's job queue: long runs happen here, off the request path, one at a time.

A :class:`JobManager` owns a bounded FIFO queue and ``workers`` threads (1 by default, so
runs never compete for the CPU or GPU). A job is a :class:`Task` (a function that does the
work and returns the result file) plus what the page needs to follow it: its state, its
position in the queue, a per-step loss history, the latest preview as JPEG bytes.

Cancel sets a flag that the progress callback checks after every optimiser step; it then
raises a private exception, which unwinds the run so the tensors are freed, and the worker
collects the garbage (and empties the CUDA cache) before taking the next job.

Threads meet asyncio in one place: :meth:`Job.watch` registers a function that the worker
calls on every change (the SSE stream passes ``loop.call_soon_threadsafe``).
"""

from __future__ import annotations

import collections
import contextlib
import gc
import io
import itertools
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from PIL import Image

from ..errors import one_line
from ..multiscale import Scale
from ..optimize import Progress

log = logging.getLogger(__name__)

State = Literal["queued", "running", "done", "failed", "cancelled"]
FINAL_STATES = ("done", "failed", "cancelled")
PREVIEW_QUALITY = 85
THUMB_EDGE = 256


class QueueFull(Exception):
    """The queue holds ``max_queued`` jobs already; the client should retry later."""


class _Cancelled(Exception):
    """Raised from the progress callback to stop a cancelled run."""


@dataclass(frozen=True)
class Task:
    """One unit of work for the queue.

    run(callback) does the work, calling ``callback(progress)`` after every optimiser step,
    and returns the path of the result image. stages: the schedule, for totals and ETA.
    info: JSON-able description shown by the page (names of the images, parameters).
    """

    run: Callable[[Callable[[Progress], None]], Path]
    stages: tuple[Scale, ...]
    info: dict = field(default_factory=dict)


@dataclass
class Job:
    """A task with its state; every field is read and written under ``lock``."""

    id: str
    task: Task
    created: float = field(default_factory=time.time)
    state: State = "queued"
    position: int | None = None
    error: str | None = None
    result: Path | None = None
    thumb: bytes | None = None
    elapsed: float = 0.0
    latest: dict | None = None
    history: list[list[float | None]] = field(default_factory=list)
    preview: bytes | None = None
    preview_version: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    cancel_requested: threading.Event = field(default_factory=threading.Event, repr=False)
    _watchers: dict[int, Callable[[], None]] = field(default_factory=dict, repr=False)
    _preview_at: float = field(default=0.0, repr=False)

    @property
    def total_steps(self) -> int:
        if self.latest is not None:
            return self.latest["total"]
        return sum(stage.steps for stage in self.task.stages)

    def snapshot(self, since: int = 0) -> dict:
        """The job as JSON-able data; ``points`` holds the loss history from index ``since``."""
        with self.lock:
            return {
                "id": self.id, "state": self.state, "position": self.position,
                "error": self.error, "created": self.created, "elapsed": round(self.elapsed, 3),
                "total_steps": self.total_steps, "progress": self.latest,
                "points": self.history[since:], "points_end": len(self.history),
                "preview_version": self.preview_version if self.preview else None,
                "has_result": self.result is not None, "info": self.task.info,
                "cancelling": self.state == "running" and self.cancel_requested.is_set(),
            }

    @contextlib.contextmanager
    def watch(self, notify: Callable[[], None]) -> Iterator[None]:
        """Call ``notify()`` (from any thread) whenever the job changes, while inside."""
        key = id(notify)
        with self.lock:
            self._watchers[key] = notify
        try:
            yield
        finally:
            with self.lock:
                self._watchers.pop(key, None)

    def _changed(self) -> None:
        """Wake the watchers; call with ``lock`` held."""
        for notify in list(self._watchers.values()):
            try:
                notify()
            except RuntimeError:  # the watcher's event loop has closed
                log.debug("dropping a watcher of job %s whose loop is gone", self.id)


class JobManager:
    """A bounded FIFO queue served by ``workers`` threads.

    max_queued: jobs allowed to wait (running ones not counted); beyond it submit() raises
    QueueFull. keep: finished jobs kept in memory for the gallery (oldest dropped first).
    preview_interval: at least this many seconds between two preview JPEGs of one job.
    """

    def __init__(self, *, workers: int = 1, max_queued: int = 8, keep: int = 200,
                 preview_interval: float = 0.4, preview_edge: int = 768):
        if workers < 1 or max_queued < 0:
            raise ValueError(f"need workers >= 1 and max_queued >= 0, got {workers}, {max_queued}")
        self.max_queued, self.keep = max_queued, keep
        self.preview_interval, self.preview_edge = preview_interval, preview_edge
        self._jobs: dict[str, Job] = {}
        self._queue: collections.deque[Job] = collections.deque()
        self._lock = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._serve, name=f"painterly-worker-{i}",
                                          daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------------------ client side

    def submit(self, task: Task) -> Job:
        """Queue a task; returns its job (state queued, with a position). Raises QueueFull."""
        with self._lock:
            if self._closed:
                raise QueueFull("the studio is shutting down")
            if len(self._queue) >= self.max_queued:
                raise QueueFull(f"{len(self._queue)} jobs are already waiting; "
                                "try again when one has finished")
            job = Job(id=secrets.token_hex(8), task=task)
            self._jobs[job.id] = job
            self._queue.append(job)
            self._renumber()
            self._forget_old()
            self._lock.notify()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        """Every job of this run, oldest first."""
        with self._lock:
            return list(self._jobs.values())

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job at once, or ask a running one to stop after its current step.

        Returns the job (None if unknown); cancelling a finished job changes nothing.
        """
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            job.cancel_requested.set()
            if job in self._queue:
                self._queue.remove(job)
                self._finish(job, "cancelled")
                self._renumber()
            else:
                with job.lock:
                    job._changed()  # the page shows "cancelling" until the step ends
        return job

    def close(self, timeout: float = 10.0) -> None:
        """Cancel everything and wait (up to ``timeout`` s per worker) for the workers to stop."""
        with self._lock:
            self._closed = True
            for job in self._jobs.values():
                job.cancel_requested.set()
            while self._queue:
                self._finish(self._queue.popleft(), "cancelled")
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    # ------------------------------------------------------------------ worker side

    def _serve(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                job = self._queue.popleft()
                with job.lock:
                    job.state, job.position = "running", None
                    job._changed()
                self._renumber()
            self._run(job)

    def _run(self, job: Job) -> None:
        started = time.perf_counter()
        try:
            result = job.task.run(lambda progress: self._on_progress(job, progress))
        except _Cancelled:
            self._finish(job, "cancelled", elapsed=time.perf_counter() - started)
        except Exception as exc:  # a failed run must never take the worker down
            log.warning("job %s failed: %s", job.id, exc, exc_info=not isinstance(exc, ValueError))
            message = one_line(exc)
            self._finish(job, "failed", error=message, elapsed=time.perf_counter() - started)
        else:
            self._finish(job, "done", result=result, thumb=_thumbnail(result, job.preview),
                         elapsed=time.perf_counter() - started)
        finally:
            _free_memory()

    def _on_progress(self, job: Job, progress: Progress) -> None:
        """The stylize callback: record the step, maybe encode a preview, honour Cancel."""
        if job.cancel_requested.is_set():
            raise _Cancelled()
        stages = list(job.task.stages)
        if 0 < progress.scale <= len(stages):  # trust the run's own count for this scale
            stages[progress.scale - 1] = Scale(stages[progress.scale - 1].long_edge, progress.steps)
        done = sum(s.steps for s in stages[:progress.scale - 1]) + progress.step
        total = sum(s.steps for s in stages)
        estimate = eta(tuple(stages), progress.scale, progress.step, progress.elapsed)
        if getattr(progress, "total", None):  # a run that counts its own steps (explore)
            done, total = progress.done, progress.total
            estimate = round(progress.elapsed * (total - done) / done, 1) if done else None
        now = time.perf_counter()
        preview = None
        if (progress.step in (1, progress.steps) or now - job._preview_at >= self.preview_interval):
            image = progress.preview()
            if image is not None:
                preview = _jpeg(image, self.preview_edge)
                job._preview_at = time.perf_counter()
        losses = {k: _finite(v) for k, v in progress.losses.items()}
        record = {
            "scale": progress.scale, "scales": progress.scales, "step": progress.step,
            "steps": progress.steps, "done": done, "total": total,
            "losses": losses, "elapsed": round(progress.elapsed, 3), "eta": estimate,
            "size": list(progress.size)}
        with job.lock:
            job.latest, job.elapsed = record, progress.elapsed
            job.history.append([done, *(losses.get(k) for k in ("total", "content", "style"))])
            if preview is not None:
                job.preview, job.preview_version = preview, job.preview_version + 1
            job._changed()

    # ------------------------------------------------------------------ bookkeeping

    def _finish(self, job: Job, state: State, **values) -> None:
        with job.lock:
            job.state, job.position = state, None
            for name, value in values.items():
                setattr(job, name, value)
            job._changed()

    def _renumber(self) -> None:
        """Queue positions, 1 = next to run (call with the manager's lock held)."""
        for position, job in enumerate(self._queue, start=1):
            with job.lock:
                if job.position != position:
                    job.position = position
                    job._changed()

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.state in FINAL_STATES]
        for job in itertools.islice(finished, max(0, len(finished) - self.keep)):
            del self._jobs[job.id]


def eta(stages: tuple[Scale, ...], scale: int, step: int, elapsed: float) -> float | None:
    """Seconds left, assuming a step costs in proportion to its pixels (long edge squared).

    A coarse step is about 4x cheaper than the next finer one, so counting steps alone would
    promise far too early a finish while the coarse scales run.
    """
    work = [stage.long_edge ** 2 for stage in stages]
    total = sum(w * s.steps for w, s in zip(work, stages))
    done = sum(w * s.steps for w, s in zip(work[:scale - 1], stages[:scale - 1]))
    done += work[scale - 1] * step
    if done <= 0 or elapsed <= 0:
        return None
    return round(elapsed * (total - done) / done, 1)


def _finite(value) -> float | None:
    """A float for JSON: None for NaN and infinities (which JSON cannot carry)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _jpeg(image: Image.Image, max_edge: int, quality: int = PREVIEW_QUALITY) -> bytes:
    if max(image.size) > max_edge:
        image = image.copy()
        image.thumbnail((max_edge, max_edge), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _thumbnail(path: Path, preview: bytes | None = None) -> bytes | None:
    """A JPEG thumbnail of the result, or of the latest preview when the result is not a
    picture (a painted clip)."""
    source = io.BytesIO(preview or b"") if path.suffix.lower() == ".mp4" else path
    try:
        with Image.open(source) as image:
            return _jpeg(image.convert("RGB"), THUMB_EDGE)
    except OSError as exc:
        log.warning("cannot make a thumbnail of %s: %s", path, exc)
        return None


def _free_memory() -> None:
    """Return a finished or cancelled run's memory before the next job starts."""
    gc.collect()
    try:
        import torch
        if torch.cuda.is_initialized():
            torch.cuda.empty_cache()
    except (ImportError, RuntimeError):
        pass
