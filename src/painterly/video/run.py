"""Painting a clip: decode, paint each frame into a work folder, encode; resumable.

Each painted frame is written to the work folder (atomically, as a PNG) as soon as it is
made. A rerun with the same settings decodes the clip again, paints only the frames that are
missing (the temporal engines read the previous painted frame back from the folder) and then
encodes the output from the folder, so Ctrl-C or a crash loses at most the frame in progress.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..image_io import OutputError, temporary_path
from .clips import ClipInfo, check_video_output, frame_size, read_frames, write_clip

SETTINGS = "settings.json"
VideoEngine = Callable[[np.ndarray, "np.ndarray | None", "np.ndarray | None"], np.ndarray]


@dataclass(frozen=True)
class VideoProgress:
    """One frame done. frame: 1-based index; frames: how many in all; painted: frames
    painted in this run (the others were already in the work folder); fps: frames painted per
    second in this run; eta: seconds left (None before a frame was painted)."""

    frame: int
    frames: int
    painted: int
    elapsed: float
    fps: float
    eta: float | None
    image: np.ndarray = field(repr=False)


def default_work_folder(output: Path) -> Path:
    """``.NAME.painterly-work`` next to the output: where its frames wait to be encoded."""
    return output.with_name(f".{output.name}.painterly-work")


def frame_path(work: Path, index: int) -> Path:
    return work / f"frame_{index:06d}.png"


def prepare_work_folder(work: Path, settings: Mapping[str, object]) -> int:
    """Create ``work`` (or check that it holds frames of these ``settings``); returns how many
    frames it already holds. ValueError, before any work, for a folder of another run."""
    record = json.dumps(dict(settings), sort_keys=True, indent=1)
    marker = work / SETTINGS
    if work.exists():
        if not marker.is_file():
            raise ValueError(f"work folder {str(work)!r} exists but is not a painterly video "
                             "work folder; choose another --work")
        if marker.read_text(encoding="utf-8") != record:
            raise ValueError(f"work folder {str(work)!r} holds frames painted with other "
                             "settings or from another input; delete it or choose another --work")
    else:
        work.mkdir(parents=True)
        _write_atomically(marker, record.encode("utf-8"))
    return sum(1 for _ in work.glob("frame_*.png"))


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _save_frame(path: Path, frame: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise OutputError(f"cannot write {str(path)!r}: PNG encoding failed")
    _write_atomically(path, encoded.tobytes())


def _load_frame(path: Path) -> np.ndarray:
    picture = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if picture is None:
        raise OutputError(f"cannot read the painted frame {str(path)!r}; delete it to paint it again")
    return cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)


def paint_frames(info: ClipInfo, engine: VideoEngine, work: Path, *, size: tuple[int, int],
                 start: float = 0.0, end: float | None = None,
                 callback: Callable[[VideoProgress], None] | None = None) -> int:
    """Paint every frame of the clip not yet in ``work``; returns how many were painted now."""
    begun, painted = time.perf_counter(), 0
    todo = sum(not frame_path(work, i).exists() for i in range(info.frames))
    previous_frame = previous_painted = None
    for index, frame in enumerate(read_frames(info, size, start=start, end=end)):
        target = frame_path(work, index)
        if target.exists():
            result = None
        else:
            if previous_painted is None and index > 0:
                previous_painted = _load_frame(frame_path(work, index - 1))
            result = engine(frame, previous_frame, previous_painted)
            _save_frame(target, result)
            painted += 1
        previous_frame, previous_painted = frame, result
        if callback is not None:
            elapsed = time.perf_counter() - begun
            fps = painted / elapsed if painted and elapsed > 0 else 0.0
            eta = (todo - painted) / fps if fps else None
            callback(VideoProgress(index + 1, info.frames, painted, elapsed, fps, eta,
                                   result if result is not None else None))
    return painted


def saved_frames(work: Path, count: int) -> Iterator[np.ndarray]:
    """The ``count`` painted frames of ``work``, read one at a time."""
    for index in range(count):
        yield _load_frame(frame_path(work, index))


def paint_clip(info: ClipInfo, output: str | os.PathLike, engine: VideoEngine, *,
               long_edge: int | None = None, start: float = 0.0, end: float | None = None,
               work: str | os.PathLike | None = None, settings: Mapping[str, object] | None = None,
               overwrite: bool = False, keep_work: bool = False,
               callback: Callable[[VideoProgress], None] | None = None) -> Path:
    """Paint the clip ``info`` (from :func:`probe`) with ``engine`` into ``output``.

    long_edge: the painted frames' long edge (default: the clip's). start, end: seconds.
    work: the work folder (default :func:`default_work_folder`); it must hold frames of the same
    ``settings`` (anything identifying the run; the input's size and time are added) or not
    exist. The output is written atomically and the work folder removed unless ``keep_work``.
    On Ctrl-C, KeyboardInterrupt propagates and the frames done stay in the work folder.
    """
    out = check_video_output(output, overwrite=overwrite, inputs=[info.path])
    work = Path(work) if work is not None else default_work_folder(out)
    stat = info.path.stat()
    size = frame_size(info, long_edge)
    record = dict(settings or {}, input=str(info.path.resolve()), input_bytes=stat.st_size,
                  input_mtime_ns=stat.st_mtime_ns, size=list(size), start=start, end=end,
                  frames=info.frames)
    prepare_work_folder(work, record)
    paint_frames(info, engine, work, size=size, start=start, end=end, callback=callback)
    write_clip(out, saved_frames(work, info.frames), rate=info.rate, size=size, audio_from=info,
               start=start, end=end, overwrite=overwrite)
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return out
