"""A clip cut into segments of consecutive frames, so that several workers can paint it at once.

Each segment is painted in order by one worker, with its engine's temporal consistency inside
it, into its own subfolder of the work folder. Where two segments meet, the later one starts
``overlap`` frames early (its lead-in) and the two paintings are crossfaded over those frames.
This departs from Ruder et al. (2016), where every frame follows the one before: two segments
start from different pictures, so a hard cut would jump; the crossfade turns that jump into a
dissolve of ``overlap`` frames. With one segment the clip is painted exactly as in one pass.

The workers are :mod:`painterly.batch`'s backends (local processes, Ray tasks): a segment is a
batch item whose engine, :class:`SegmentPainter`, paints its frames into the work folder (a
path every worker shares) and returns its last frame. A segment whose worker dies is run again
and carries on from the frames already in its folder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..batch.items import Item
from .clips import ClipInfo, read_frames
from .temporal import to_tensor
from .workfolder import frame_path, load_frame, save_frame, write_atomically

PLAN = "segments.json"
VideoEngine = Callable[[np.ndarray, "np.ndarray | None", "np.ndarray | None"], np.ndarray]
"""``engine(frame, previous_frame, previous_painted) -> painted``: RGB uint8 (H,W,3) arrays,
``previous_*`` None for a segment's first frame (:mod:`painterly.video.temporal`)."""


@dataclass(frozen=True)
class VideoProgress:
    """One frame done. frame: how many frames are painted (now or before); frames: how many
    in all; painted: frames painted in this run; fps: frames painted per second in this run;
    eta: seconds left (None before a frame was painted); image: the frame just painted (None
    where none is at hand)."""

    frame: int
    frames: int
    painted: int
    elapsed: float
    fps: float
    eta: float | None
    image: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def measure(cls, done: int, frames: int, painted: int, begun: float,
                image: np.ndarray | None = None) -> VideoProgress:
        """The progress when ``done`` of ``frames`` are painted, ``painted`` of them since
        ``begun`` (a ``time.perf_counter()``)."""
        elapsed = time.perf_counter() - begun
        fps = painted / elapsed if painted and elapsed > 0 else 0.0
        eta = (frames - done) / fps if fps else None
        return cls(done, frames, painted, elapsed, fps, eta, image)


@dataclass(frozen=True)
class Segment:
    """Frames ``first`` to ``stop - 1`` of the clip, painted in order. The segment owns the
    frames from ``start`` on; ``first`` to ``start - 1`` are its lead-in, crossfaded with the
    end of the segment before (``first == start`` for the first segment)."""

    index: int
    first: int
    start: int
    stop: int

    @property
    def key(self) -> str:
        """Its subfolder of the work folder, and its name as a batch item."""
        return f"segment_{self.index:04d}"

    @property
    def frames(self) -> int:
        return self.stop - self.first


def plan_segments(frames: int, segments: int, overlap: int) -> list[Segment]:
    """``frames`` frames cut into ``segments`` segments of about equal length (fewer where a
    segment would own fewer than ``overlap`` frames, so that a lead-in never reaches past the
    segment before), each after the first with a lead-in of ``overlap`` frames."""
    if frames < 1 or segments < 1 or overlap < 0:
        raise ValueError(f"cannot cut {frames} frames into {segments} segments with "
                         f"{overlap} frames of overlap")
    count = max(1, min(segments, frames // max(overlap, 1)))
    bounds = [round(k * frames / count) for k in range(count + 1)]
    return [Segment(k, max(0, bounds[k] - overlap) if k else 0, bounds[k], bounds[k + 1])
            for k in range(count)]


def load_or_plan(work: Path, frames: int, segments: int, overlap: int) -> list[Segment]:
    """The plan kept in ``work`` by an earlier run of this clip (so that a rerun with another
    number of workers still finds its frames), or a new one, saved there."""
    marker = work / PLAN
    if marker.is_file():
        saved = [Segment(**row) for row in json.loads(marker.read_text(encoding="utf-8"))]
        if saved and saved[-1].stop == frames:
            return saved
    plan = plan_segments(frames, segments, overlap)
    write_atomically(marker, json.dumps([asdict(s) for s in plan], indent=1).encode("utf-8"))
    return plan


def segment_info(info: ClipInfo, segment: Segment, start: float) -> tuple[ClipInfo, float]:
    """(the clip as seen by ``segment``: its frame count, and the second its first frame is
    at), for :func:`painterly.video.clips.read_frames`; ``start``: the clip's --start."""
    return replace(info, frames=segment.frames), start + float(segment.first / info.rate)


def paint_segment(info: ClipInfo, engine: VideoEngine, work: Path, segment: Segment, *,
                  size: tuple[int, int], start: float = 0.0,
                  callback: Callable[[int, np.ndarray], None] | None = None) -> int:
    """Paint the frames of ``segment`` not yet in its folder ``work / segment.key``, in order;
    returns how many were painted now. ``start``: the clip's --start, in seconds.
    ``callback(index, frame)`` after each frame painted (index in the clip)."""
    folder = work / segment.key
    folder.mkdir(exist_ok=True)
    part, begin = segment_info(info, segment, start)
    painted, previous_frame, previous_painted = 0, None, None
    for index, frame in enumerate(read_frames(part, size, start=begin)):
        target = frame_path(folder, index)
        result = None
        if not target.exists():
            if previous_painted is None and index > 0:
                previous_painted = load_frame(frame_path(folder, index - 1))
            result = engine(frame, previous_frame, previous_painted)
            save_frame(target, result)
            painted += 1
            if callback is not None:
                callback(segment.first + index, result)
        previous_frame, previous_painted = frame, result
    return painted


def assembled_frames(plan: Sequence[Segment],
                     painted: Callable[[Segment, int], np.ndarray]) -> Iterator[np.ndarray]:
    """The clip's frames in order, from ``painted(segment, index)`` (RGB uint8 (H,W,3): frame
    ``index`` of the clip as ``segment`` painted it), one or two held at a time. Over each
    lead-in, the later segment's share rises linearly from ``1/(overlap+1)`` to
    ``overlap/(overlap+1)``."""
    for number, segment in enumerate(plan):
        after = plan[number + 1] if number + 1 < len(plan) else None
        for index in range(segment.start, segment.stop):
            frame = painted(segment, index)
            if after is not None and index >= after.first:
                share = (index - after.first + 1) / (after.start - after.first + 1)
                frame = np.rint(frame * (1 - share) + painted(after, index) * share).astype(np.uint8)
            yield frame


def saved_frame(work: Path) -> Callable[[Segment, int], np.ndarray]:
    """``painted(segment, index)`` for :func:`assembled_frames`, reading ``work``."""
    return lambda segment, index: load_frame(frame_path(work / segment.key, index - segment.first))


class SegmentPainter:
    """Paints the segments of one clip, each into ``work / segment.key``: called on a batch
    :class:`~painterly.batch.Item` (from :meth:`items`), it is what a :mod:`painterly.batch`
    backend runs, in a worker process or a Ray task.

    engine: the video engine; it is pickled to each worker, so give one that builds its
    networks where it runs (:class:`painterly.video.temporal.EngineRecipe`)."""

    def __init__(self, info: ClipInfo, engine, work: Path, plan: Sequence[Segment], *,
                 size: tuple[int, int], start: float = 0.0):
        self.info, self.engine, self.work, self.size, self.start = info, engine, work, size, start
        self.segments = {segment.key: segment for segment in plan}

    def items(self) -> list[Item]:
        return [Item(key, str(self.info.path), ()) for key in self.segments]

    def paint(self, segment: Segment, callback: Callable[[int, np.ndarray], None] | None = None) -> int:
        """:func:`paint_segment` for this clip; returns how many frames were painted now."""
        return paint_segment(self.info, self.engine, self.work, segment, size=self.size,
                             start=self.start, callback=callback)

    def __call__(self, item: Item) -> torch.Tensor:
        """Paint the segment ``item`` names; returns its last frame, (1,3,H,W) float in [0,1]."""
        segment = self.segments[item.key]
        self.paint(segment)
        return to_tensor(load_frame(frame_path(self.work / segment.key, segment.frames - 1)))
