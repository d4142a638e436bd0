"""Video files <-> frames with PyAV: probing, streaming decode, atomic encode.

Frames are uint8 RGB arrays (H,W,3), upright (the file's display rotation applied), one per
output time step at the clip's frame rate. Decoding streams: one frame is held at a time.
Errors are one-line :class:`VideoError` messages naming the file.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ..image_io import ImageError, OutputError, check_writable, replacing

log = logging.getLogger(__name__)

# suffix -> (container format, video codec, pixel format, audio codecs it takes, audio codec)
FORMATS = {
    ".mp4": ("mp4", "libx264", "yuv420p", {"aac", "mp3", "opus", "alac", "flac"}, "aac"),
    ".mov": ("mov", "libx264", "yuv420p", {"aac", "mp3", "alac", "pcm_s16le"}, "aac"),
    ".webm": ("webm", "libvpx-vp9", "yuv420p", {"opus", "vorbis"}, "libopus"),
    ".gif": ("gif", "gif", "rgb8", set(), None),
}
_OPTIONS = {"libx264": {"crf": "18", "preset": "veryfast"},
            "libvpx-vp9": {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8"}}


class VideoError(ImageError):
    """A video file that cannot be read or written; the message is one line naming it."""


class StillPicture(VideoError):
    """A picture file (JPEG, PNG, ...) given where a clip was expected."""


@dataclass(frozen=True)
class ClipInfo:
    """What painting a clip needs to know.

    width, height: displayed size (after rotation), in pixels. rate: frames per second.
    frames: frames between ``start`` and ``end`` (from the duration where the file does not
    say). duration: seconds of the whole clip. rotation: degrees counter-clockwise the file
    asks players to turn its frames. audio: it has an audio stream.
    """

    path: Path
    width: int
    height: int
    rate: Fraction
    frames: int
    duration: float
    rotation: int
    audio: bool


def _q(path) -> str:
    return repr(os.fspath(path))


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[av.container.InputContainer]:
    """The file opened for reading; any failure to open is a one-line VideoError."""
    if not path.exists():
        raise VideoError(f"cannot read {_q(path)}: no such file")
    if not path.is_file():
        raise VideoError(f"cannot read {_q(path)}: not a regular file")
    if path.stat().st_size == 0:
        raise VideoError(f"cannot read {_q(path)}: the file is empty")
    try:
        container = av.open(str(path), "r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise VideoError(f"cannot read {_q(path)}: not a video file, or a damaged or truncated "
                         f"one ({_reason(exc)})") from exc
    try:
        if _is_still_picture(container):
            raise StillPicture(f"cannot read {_q(path)}: it is a still picture, not a video; paint "
                             "it with `painterly stylize` or `painterly fast`")
        if not container.streams.video:
            raise VideoError(f"cannot read {_q(path)}: it has no video stream")
        yield container
    finally:
        container.close()


def _is_still_picture(container) -> bool:
    """True when FFmpeg opened the file with one of its picture readers (``image2`` for
    JPEG and the like, ``png_pipe``, ``webp_pipe``, ...): one frame, whole or truncated."""
    return any(name == "image2" or name.endswith("_pipe")
               for name in container.format.name.split(","))


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(text.split()) or type(exc).__name__


def probe(path: str | os.PathLike, *, start: float = 0.0, end: float | None = None) -> ClipInfo:
    """Read the clip's header and its first frame (which must decode); VideoError if not."""
    path = Path(path)
    with _opened(path) as container:
        stream = container.streams.video[0]
        rate = Fraction(stream.average_rate or stream.guessed_rate or 25)
        first = _first_frame(container, stream, path)
        duration = _video_duration(container, stream, rate)
        rotation = int(round(getattr(first, "rotation", 0) or 0))
        width, height = first.width, first.height
        if rotation % 180:
            width, height = height, width
        audio = bool(container.streams.audio)
    stop = duration if end is None else min(end, duration)
    if start >= stop:
        raise ValueError(f"--start {start:g} s is not before the end of the part painted "
                         f"({stop:g} s; the clip lasts {duration:g} s)")
    frames = max(1, round((stop - start) * rate))
    return ClipInfo(path, width, height, rate, frames, duration, rotation, audio)


def _video_duration(container, stream, rate: Fraction) -> float:
    """Seconds from the first video packet to the end of the last (the container's duration
    may include a longer audio stream); packets are read, not decoded."""
    container.seek(0)
    first = last = None
    for packet in container.demux(stream):
        if packet.pts is None:
            continue
        begin = float(packet.pts * packet.time_base)
        finish = begin + (float(packet.duration * packet.time_base) if packet.duration else 1 / float(rate))
        first = begin if first is None else min(first, begin)
        last = finish if last is None else max(last, finish)
    if first is None:
        return (container.duration or 0) / av.time_base
    return last - first


def _first_frame(container, stream, path: Path):
    try:
        for frame in container.decode(stream):
            return frame
    except (av.FFmpegError, ValueError) as exc:
        raise VideoError(f"cannot read {_q(path)}: damaged or truncated ({_reason(exc)})") from exc
    raise VideoError(f"cannot read {_q(path)}: no frame could be decoded")


def frame_size(info: ClipInfo, long_edge: int | None) -> tuple[int, int]:
    """(width, height) of the painted frames: the long edge ``long_edge`` (or the clip's own),
    both even (what yuv420p needs)."""
    scale = 1.0 if not long_edge else long_edge / max(info.width, info.height)
    width, height = (max(2, 2 * round(side * scale / 2)) for side in (info.width, info.height))
    return width, height


def read_frames(info: ClipInfo, size: tuple[int, int], *, start: float = 0.0,
                end: float | None = None) -> Iterator[np.ndarray]:
    """Exactly ``info.frames`` upright RGB uint8 frames (H,W,3) of ``size`` (width, height),
    one per time step from ``start``.

    A frame that does not decode (or is missing from the stream) is replaced by the frame
    before it, with a warning, so the count and timing are kept; a clip that ends early is
    padded with its last frame. Only one decoded frame is held at a time.
    """
    last: np.ndarray | None = None
    index = 0
    for position, frame in _timed_frames(info, start):
        if position < index:
            continue  # a duplicate time step (variable frame rate): keep the first
        picture = _upright(frame, info.rotation, size)
        while index < position and index < info.frames and last is not None:
            log.warning("frame %d of %s is missing or damaged; the frame before it is used",
                        index, _q(info.path))
            yield last
            index += 1
        if index >= info.frames:
            return
        last = picture
        yield picture
        index += 1
    if last is None:
        raise VideoError(f"cannot read {_q(info.path)}: no frame after --start {start:g} s")
    if index < info.frames:
        log.warning("%s ends %d frame(s) early; its last frame is repeated", _q(info.path),
                    info.frames - index)
    for _ in range(index, info.frames):
        yield last


SEEK_MARGIN = 1.0
"""Seconds before ``--start`` that decoding seeks to: FFmpeg's seek in some containers (MPEG
program streams) lands a few frames after the time asked for, never a second after."""


def _timed_frames(info: ClipInfo, start: float) -> Iterator[tuple[int, av.VideoFrame]]:
    """(time step from ``start``, frame) for each frame that decodes; packets that fail to
    decode are logged and skipped. Where seeking lands after ``start`` anyway, the clip is
    decoded again from its beginning, so the frames are the same however they are reached."""
    if start > 0:
        frames = _decoded(info, start, seek=max(0.0, start - SEEK_MARGIN))
        try:
            for position, frame in frames:
                if position > 0:
                    log.debug("seeking in %s landed after %g s; decoding from the start",
                              _q(info.path), start)
                    break
                if position == 0:
                    yield position, frame
                    yield from ((p, f) for p, f in frames if p >= 0)
                    return
        finally:
            frames.close()
    yield from ((p, f) for p, f in _decoded(info, start, seek=0.0) if p >= 0)


def _decoded(info: ClipInfo, start: float, *, seek: float) -> Iterator[tuple[int, av.VideoFrame]]:
    """(time step from ``start``, possibly negative; frame) for each frame that decodes after
    seeking to ``seek`` seconds (0: no seek)."""
    with _opened(info.path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        origin = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        if seek > 0:
            container.seek(int((seek + origin) / stream.time_base), stream=stream, backward=True)
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except (av.FFmpegError, ValueError) as exc:
                log.debug("undecodable packet in %s: %s", _q(info.path), _reason(exc))
                continue
            for frame in frames:
                if frame.pts is not None:
                    seconds = float(frame.pts * frame.time_base) - origin - start
                    yield math.floor(seconds * info.rate + 0.5), frame


def _upright(frame: av.VideoFrame, rotation: int, size: tuple[int, int]) -> np.ndarray:
    """The frame as RGB uint8, turned as the file asks (counter-clockwise), at ``size``."""
    picture = frame.to_ndarray(format="rgb24")
    turns = round(rotation / 90) % 4
    if turns:
        picture = np.ascontiguousarray(np.rot90(picture, turns))
    if (picture.shape[1], picture.shape[0]) != size:
        shrink = size[0] < picture.shape[1]
        picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return picture


# ---------------------------------------------------------------------------- writing

def check_video_output(path: str | os.PathLike, *, overwrite: bool, inputs: Iterable[object] = ()) -> Path:
    """Check that a clip can be written at ``path`` (its extension chooses the format)."""
    out = Path(path)
    if out.suffix.lower() not in FORMATS:
        raise OutputError(f"cannot write {_q(out)}: extension {out.suffix or '(none)'!r} is not a "
                          f"video format painterly writes (use {', '.join(FORMATS)})")
    return check_writable(out, overwrite=overwrite, inputs=inputs)


def write_clip(path: str | os.PathLike, frames: Iterable[np.ndarray], *, rate: Fraction,
               size: tuple[int, int], audio_from: ClipInfo | None = None, start: float = 0.0,
               end: float | None = None, overwrite: bool = False) -> Path:
    """Encode RGB uint8 frames (H,W,3) of ``size`` (width, height) at ``rate`` into ``path``
    atomically (a temporary file in the same folder, renamed when complete; removed on any
    failure or Ctrl-C). The audio of ``audio_from`` between ``start`` and ``end`` is copied
    (re-encoded only where the container cannot hold its codec; GIF has none)."""
    out = check_video_output(path, overwrite=overwrite)
    fmt, codec, pix_fmt, takes, audio_codec = FORMATS[out.suffix.lower()]
    with replacing(out, overwrite=overwrite, errors=(OSError, av.FFmpegError)) as tmp:
        with av.open(str(tmp), "w", format=fmt) as container:
            stream = container.add_stream(codec, rate=rate, options=_OPTIONS.get(codec, {}))
            stream.width, stream.height = size
            stream.pix_fmt = pix_fmt
            if audio_from is not None and audio_from.audio and audio_codec:
                _copy_audio(audio_from.path, container, takes, audio_codec, start, end)
            for index, picture in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                frame.pts = index
                frame.time_base = 1 / rate
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
    return out


def _copy_audio(source: Path, container, takes: set[str], codec: str, start: float,
                end: float | None) -> None:
    """Mux the audio of ``source`` between start and end into ``container``: packets copied
    where its codec fits the container, else decoded and re-encoded with ``codec``."""
    with av.open(str(source), "r") as inp:
        audio = inp.streams.audio[0]
        base = audio.time_base
        origin = audio.start_time or 0
        first, last = origin + int(start / base), None if end is None else origin + int(end / base)
        if start > 0:
            inp.seek(first, stream=audio, backward=True)
        if audio.codec_context.name in takes:
            out = container.add_stream_from_template(audio)
            for packet in inp.demux(audio):
                if packet.dts is None or packet.pts is None or packet.pts < first:
                    continue
                if last is not None and packet.pts >= last:
                    break
                packet.pts -= first
                packet.dts -= first
                packet.stream = out
                container.mux(packet)
            return
        out = container.add_stream(codec, rate=audio.rate or 48000)
        for frame in inp.decode(audio):
            if frame.pts is None or frame.pts < first:
                continue
            if last is not None and frame.pts >= last:
                break
            frame.pts = None
            container.mux(out.encode(frame))
        container.mux(out.encode(None))
