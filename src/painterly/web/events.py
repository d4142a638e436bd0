"""Server-Sent Events for one job, and the job as the page sees it (JSON with links)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator

from .jobs import FINAL_STATES, Job

log = logging.getLogger(__name__)

SSE_HEARTBEAT_S = 15.0
"""A comment line this often keeps proxies from closing an idle stream and notices a
client that has gone (the write fails)."""
SSE_MIN_INTERVAL_S = 0.1
"""At most ten messages a second: a fast run's steps are batched into one message."""


class Streams:
    """The open event streams, so that a server about to stop can end them first.

    Uvicorn waits for open connections only so long, then cancels them mid-stream and logs
    each CancelledError with its traceback; a stream told to end closes quietly instead.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._wakers: dict[int, Callable[[], None]] = {}
        self.closed = False

    @contextlib.contextmanager
    def open(self, wake: Callable[[], None]) -> Iterator[None]:
        """While inside, ``wake()`` (from any thread) is called when the streams close."""
        with self._lock:
            self._wakers[id(wake)] = wake
        try:
            yield
        finally:
            with self._lock:
                self._wakers.pop(id(wake), None)

    def close(self) -> None:
        """End every open stream after its current message; new ones end at once."""
        with self._lock:
            self.closed = True
            wakers = list(self._wakers.values())
        for wake in wakers:
            try:
                wake()
            except RuntimeError:  # its event loop has already closed
                log.debug("a stream's event loop is gone")


def public_job(job: Job) -> dict:
    """What the page sees of a job: state, queue position, latest progress, links (a painted
    clip's lead to its MP4)."""
    snap = job.snapshot(since=2**62)
    base = f"/api/jobs/{job.id}"
    for key in ("points", "points_end"):
        snap.pop(key)
    snap["preview"] = f"{base}/preview.jpg?v={snap.pop('preview_version')}" if job.preview else None
    done = snap.pop("has_result")
    result = f"{base}/result.mp4" if job.task.info.get("kind") == "clip" else f"{base}/result.png"
    snap["result"] = result if done else None
    snap["download"] = f"{result}?download=1" if done else None
    snap["thumb"] = f"{base}/thumb.jpg" if done else None
    snap["events"] = f"{base}/events"
    return snap


async def event_stream(job: Job, since: int = 0, streams: Streams | None = None):
    """SSE for one job: ``status`` on every state or position change, ``progress`` with the
    new loss points (at most every SSE_MIN_INTERVAL_S), then one final ``done``, ``failed`` or
    ``cancelled``. Each progress event's id is the number of points sent, for reconnection.
    The stream also ends, without a final event, when ``streams`` is closed.
    """
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    streams = streams or Streams()
    shown_status, shown_preview = None, None

    def notify():
        loop.call_soon_threadsafe(wake.set)

    with job.watch(notify), streams.open(notify):
        yield "retry: 2000\n\n"
        while True:
            wake.clear()
            if streams.closed:
                return
            public, snap = public_job(job), job.snapshot(since=since)
            status = (public["state"], public["position"], public["cancelling"])
            if status != shown_status:
                shown_status = status
                keys = ("id", "state", "position", "cancelling")
                yield _sse("status", {k: public[k] for k in keys})
            if snap["progress"] and (snap["points"] or public["preview"] != shown_preview):
                shown_preview, since = public["preview"], snap["points_end"]
                yield _sse("progress", {**snap["progress"], "points": snap["points"],
                                        "preview": public["preview"]}, event_id=since)
            if public["state"] in FINAL_STATES:
                yield _sse(public["state"], public)
                return
            try:
                await asyncio.wait_for(wake.wait(), SSE_HEARTBEAT_S)
            except asyncio.TimeoutError:
                yield ": keep-alive\n\n"
            await asyncio.sleep(SSE_MIN_INTERVAL_S)


def _sse(event: str, data: dict, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, allow_nan=False, default=str)}\n\n"
