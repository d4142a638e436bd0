"""Painting a clip: decode, paint each frame into a work folder, encode; resumable, and in
parallel segments where workers are given.

Each painted frame is written to the work folder (atomically, as a PNG) as soon as it is
made. A rerun with the same settings decodes the clip again, paints only the frames that are
missing (the temporal engines read the previous painted frame back from the folder) and then
encodes the output from the folder, so Ctrl-C or a crash loses at most the frames in progress.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .clips import ClipInfo, VideoError, check_video_output, frame_size, write_clip
from .segments import (Segment, SegmentPainter, VideoEngine, VideoProgress, assembled_frames,
                       load_or_plan, saved_frame)
from .workfolder import default_work_folder, prepare_work_folder

log = logging.getLogger(__name__)
OVERLAP = 8
"""Frames over which two segments painted apart are crossfaded."""


def paint_clip(info: ClipInfo, output: str | os.PathLike, engine: VideoEngine, *,
               long_edge: int | None = None, start: float = 0.0, end: float | None = None,
               work: str | os.PathLike | None = None, settings: dict | None = None,
               overwrite: bool = False, keep_work: bool = False,
               callback: Callable[[VideoProgress], None] | None = None,
               segments: int = 1, overlap: int = OVERLAP, backend=None) -> Path:
    """Paint the clip ``info`` (from :func:`probe`) with ``engine`` into ``output``.

    long_edge: the painted frames' long edge (default: the clip's). start, end: seconds.
    work: the work folder (default :func:`default_work_folder`); it must hold frames of the same
    ``settings`` (anything identifying the run; the input's size and time are added) or not
    exist. The output is written atomically and the work folder removed unless ``keep_work``.
    On Ctrl-C, KeyboardInterrupt propagates and the frames done stay in the work folder.

    segments, overlap, backend: cut the clip into ``segments`` segments crossfaded over
    ``overlap`` frames (:mod:`painterly.video.segments`), painted at once by
    ``backend(segment_painter)``, a :mod:`painterly.batch` backend such as
    ``functools.partial(painterly.batch.process_backend, workers=2)``; ``engine`` then travels
    to the workers (an :class:`~painterly.video.temporal.EngineRecipe`). Without a backend the
    segments are painted here, one after another. A rerun keeps the first run's cut.
    """
    out = check_video_output(output, overwrite=overwrite, inputs=[info.path])
    work = Path(work) if work is not None else default_work_folder(out)
    stat = info.path.stat()
    size = frame_size(info, long_edge)
    record = dict(settings or {}, input=str(info.path.resolve()), input_bytes=stat.st_size,
                  input_mtime_ns=stat.st_mtime_ns, size=list(size), start=start, end=end,
                  frames=info.frames)
    prepare_work_folder(work, record)
    plan = load_or_plan(work, info.frames, segments, overlap)
    if len(plan) != segments:
        log.info("%s: painting in %d segments", info.path, len(plan))
    painter = SegmentPainter(info, engine, work, plan, size=size, start=start)
    if backend is None:
        _paint_here(painter, plan, callback)
    else:
        _paint_with(backend, painter, plan, callback)
    write_clip(out, assembled_frames(plan, saved_frame(work)), rate=info.rate, size=size, audio_from=info,
               start=start, end=end, overwrite=overwrite)
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _painted(work: Path, plan: Sequence[Segment]) -> int:
    return sum(sum(1 for _ in (work / s.key).glob("frame_*.png")) for s in plan
               if (work / s.key).is_dir())


def _paint_here(painter: SegmentPainter, plan: Sequence[Segment],
                callback: Callable[[VideoProgress], None] | None) -> None:
    """Each segment in turn, in this process, reporting every frame."""
    total, begun = sum(s.frames for s in plan), time.perf_counter()
    done = before = _painted(painter.work, plan)

    def report(index, frame) -> None:
        nonlocal done
        done += 1
        if callback is not None:
            callback(VideoProgress.measure(done, total, done - before, begun, frame))

    for segment in plan:
        painter.paint(segment, callback=report)


def _paint_with(backend, painter: SegmentPainter, plan: Sequence[Segment],
                callback: Callable[[VideoProgress], None] | None) -> None:
    """The segments at once on ``backend``; progress is counted from the work folder every
    second, and each finished segment's last frame is reported as its image. VideoError
    (one line) when a segment failed: the frames painted so far stay for a rerun."""
    total, begun = sum(s.frames for s in plan), time.perf_counter()
    before = _painted(painter.work, plan)
    finished, reporting = threading.Event(), threading.Lock()

    def report(image=None) -> None:  # from the watcher and from this thread: one at a time
        if callback is not None:
            with reporting:
                done = _painted(painter.work, plan)
                callback(VideoProgress.measure(done, total, done - before, begun, image))

    def watch() -> None:
        while not finished.wait(1.0):
            report()

    watcher = threading.Thread(target=watch, name="painterly-video-progress", daemon=True)
    watcher.start()
    results = backend(painter)(painter.items())
    errors = []
    try:
        for result in results:
            if result.error is not None:
                errors.append(f"{result.key}: {result.error}")
            else:
                report(_pixels(result))
    finally:
        finished.set()
        results.close()
        watcher.join()
    if errors:
        raise VideoError(f"{len(errors)} of {len(plan)} segments failed (the frames painted so "
                         f"far are kept; run the same command again to carry on); {errors[0]}")


def _pixels(result) -> np.ndarray:
    """A batch Result's picture as RGB uint8 (H,W,3)."""
    return np.frombuffer(result.pixels, np.uint8).reshape(result.height, result.width, 3).copy()
