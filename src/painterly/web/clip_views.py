"""The Clip tab: a short video uploaded, painted frame by frame with a fast style through the
job queue (flow-guided blending, as ``painterly video --engine fast``), and sent back as MP4.

An upload is the raw body of ``POST /api/clips`` with a ``video/*`` content type. It is
written under a server-made name in the run's ``clips`` folder and probed
(:func:`painterly.video.probe`: the header, every packet's timing and the first frame)
before it is kept; anything that is not a readable clip (a still picture, a truncated file,
garbage) is refused with one line, and so is a clip over the byte, frame or pixel limits.
Clients name clips only by that id; nothing a client sends becomes a path.

Painting is a job of the studio's queue: one progress report per frame (frames done out of
all, so the page shows a bar and an ETA), the latest painted frame as the job's preview,
Cancel honoured between frames. The frames wait in a work folder of the run, which is
removed when the job ends; the MP4 (audio kept) is written atomically into the results.

PyAV and OpenCV (the ``video`` extra) are imported only when a clip is uploaded or painted;
without them ``/api/config`` says the feature is unavailable and its routes answer 501.
"""

from __future__ import annotations

import importlib
import logging
import secrets
import shutil
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ..fast.paint import MIN_SIDE
from ..multiscale import Scale
from .fast_views import (FastError, FastStudio, FastStyle, _slug, parse_colours,
                         parse_edge)
from .guards import limited, shown
from .jobs import Task
from .params import ParamError
from .uploads import display_name

if TYPE_CHECKING:
    import numpy as np

    from ..video import ClipInfo

log = logging.getLogger(__name__)

FIELDS = ("clip", "style", "size", "preserve_color", "blend")
CONTAINERS = frozenset({"mov", "mp4", "matroska", "webm", "avi", "mpeg", "mpegts", "ogg"})
"""FFmpeg's names of the container formats a clip may come in (not GIF: a picture format)."""
CONTAINER_NAMES = "MP4, MOV, WebM, MKV, AVI, MPEG or Ogg"
PICTURES = frozenset({"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe",
                      "gif_pipe"})
"""Picture formats: let probe refuse them as still pictures, by name."""
BUSY_RETRIES = 12
"""Times a frame waits (``busy_timeout`` each) for the painter that Fast mode and Live share."""


@dataclass(frozen=True)
class ClipLimits:
    """Limits of the Clip tab.

    max_bytes: size of an upload. max_frames: frames of a clip (counted at its frame rate).
    max_pixels: width x height of its frames. size: the long edge clips are painted at unless
    the page asks for another in [min_size, max_size]. max_clips: uploads kept per run.
    blend: share of the previous painted frame kept where the flow is reliable.
    """

    max_bytes: int = 50 * 2**20
    max_frames: int = 300
    max_pixels: int = 1920 * 1080
    size: int = 360
    min_size: int = 16
    max_size: int = 1080
    max_clips: int = 50
    blend: float = 0.6

    def __post_init__(self):
        if not 1 <= self.min_size <= self.size <= self.max_size:
            raise ValueError(f"need 1 <= min_size <= size <= max_size, got {self.min_size}, "
                             f"{self.size}, {self.max_size}")
        if min(self.max_bytes, self.max_frames, self.max_pixels, self.max_clips) < 1:
            raise ValueError("max_bytes, max_frames, max_pixels and max_clips must be >= 1")
        if not 0 <= self.blend < 1:
            raise ValueError(f"blend must be in [0, 1), got {self.blend}")

    def public(self) -> dict:
        return {"max_bytes": self.max_bytes, "max_frames": self.max_frames,
                "max_pixels": self.max_pixels, "size": self.size, "min_size": self.min_size,
                "max_size": self.max_size, "blend": self.blend}


class ClipError(FastError):
    """A refused clip request, in one line; ``status`` is the HTTP status (400, 413, 415, 429,
    501)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(" ".join(message.split()), status)


@dataclass(frozen=True)
class StoredClip:
    """An uploaded clip. ``info`` (with the path) stays on the server; the rest goes to the page."""

    id: str
    name: str
    size: int
    info: ClipInfo

    def public(self) -> dict:
        info = self.info
        return {"id": self.id, "name": self.name, "bytes": self.size, "width": info.width,
                "height": info.height, "frames": info.frames, "rate": float(info.rate),
                "duration": round(info.frames / float(info.rate), 3), "audio": info.audio}


def video_module():
    """:mod:`painterly.video`; ClipError 501 naming the extra when PyAV or OpenCV is missing."""
    try:
        return importlib.import_module("painterly.video")
    except ImportError as exc:
        raise ClipError(str(exc), status=501) from None


class ClipStudio:
    """This run's clips (under ``folder``) and the painting of them with fast styles."""

    def __init__(self, folder: Path, fast: FastStudio, limits: ClipLimits = ClipLimits()):
        self.folder, self.fast, self.limits = folder, fast, limits
        self._clips: dict[str, StoredClip] = {}
        self._lock = threading.Lock()
        self._probing = threading.BoundedSemaphore(2)  # bounds memory under a burst

    def status(self) -> dict:
        """``{"available": bool, "message": one line, "limits": ...}`` for ``/api/config``."""
        try:
            video_module()
        except ClipError as exc:
            return {"available": False, "message": str(exc), "limits": self.limits.public()}
        return {"available": True, "message": "", "limits": self.limits.public()}

    def get(self, clip_id: object) -> StoredClip | None:
        with self._lock:
            return self._clips.get(clip_id) if isinstance(clip_id, str) else None

    # ------------------------------------------------------------------ uploads

    def upload_path(self) -> Path:
        """A new hidden file in the clips folder for an upload being received."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f".upload-{secrets.token_hex(8)}"

    def add(self, received: Path, filename: str | None) -> StoredClip:
        """Probe the clip received at ``received`` and keep it, or remove it and raise
        ClipError (400 not a clip, 413 over a limit, 429 too many clips)."""
        name = display_name(filename)
        try:
            self._check_room()
            with self._probing:
                info = self._probe(received, name)
            with self._lock:
                self._check_room()
                clip_id = secrets.token_hex(12)
                path = received.rename(self.folder / f"{clip_id}.clip")
                stored = StoredClip(clip_id, name, path.stat().st_size,
                                    replace(info, path=path))
                self._clips[clip_id] = stored
        except BaseException:
            received.unlink(missing_ok=True)
            raise
        log.info("stored clip %s (%s, %dx%d, %d frames)", clip_id, name, info.width,
                 info.height, info.frames)
        return stored

    def _check_room(self) -> None:
        if len(self._clips) >= self.limits.max_clips:
            raise ClipError(f"this studio run already holds {self.limits.max_clips} clips; "
                            "restart it to upload more", status=429)

    def _probe(self, path: Path, name: str) -> ClipInfo:
        """The clip's ClipInfo within the limits; ClipError (400 or 413) naming ``name``."""
        video = video_module()
        if path.stat().st_size == 0:
            raise ClipError(f"{name}: the file is empty")
        header = _header(path)
        if header is not None:
            formats, width, height = header
            if not formats & (CONTAINERS | PICTURES):
                raise ClipError(f"{name}: a {'/'.join(sorted(formats))} file is not a clip the "
                                f"studio paints ({CONTAINER_NAMES})")
            self._check_large(name, width, height)
        try:
            info = video.probe(path)
        except Exception as exc:  # any decoder error is the file's: not a readable clip
            log.info("refused clip %s: %s", name, exc)
            raise ClipError(f"{name}: {_unreadable(exc, video)}") from None
        self._check_large(name, info.width, info.height)
        if min(info.width, info.height) < self.limits.min_size:
            raise ClipError(f"{name}: its frames are {info.width}x{info.height} px; a clip "
                            f"needs at least {self.limits.min_size} px on each side")
        if info.frames > self.limits.max_frames:
            raise ClipError(f"{name}: the clip has {info.frames} frames ({float(info.rate):g} "
                            f"a second); the studio paints at most {self.limits.max_frames}: "
                            "trim it", status=413)
        return info

    def _check_large(self, name: str, width: int, height: int) -> None:
        """ClipError 413 naming the clip if its frames have more pixels than the limit."""
        if width * height > self.limits.max_pixels:
            raise ClipError(f"{name}: its frames are {width}x{height} px, more than the limit "
                            f"of {self.limits.max_pixels / 1e6:g} megapixels a frame",
                            status=413)

    # ------------------------------------------------------------------ painting

    def task(self, body: object, results: Path) -> Task:
        """A Task painting ``{"clip": id, "style": name, "size"?, "preserve_color"?,
        "blend"?}`` into a new MP4 in ``results``; ParamError or FastError (one line) now."""
        clip, style_name, colours, size, blend = parse_paint(body, self, self.limits)
        style = self.fast.style(style_name)
        video = video_module()
        frame = video.clips.frame_size(clip.info, size)
        if min(frame) < MIN_SIDE:
            raise ParamError(f"{clip.name} ({clip.info.width}x{clip.info.height} px) is too "
                             f"narrow: at {size} px its frames are {frame[0]}x{frame[1]}, and a "
                             f"fast style needs at least {MIN_SIDE} px on each side")
        token = secrets.token_hex(8)
        work = self.folder / f".work-{token}"
        out = results / f"clip-{token}.mp4"
        info = {"kind": "clip", "title": f"{clip.name} × {style.title}",
                "clip": clip.public(), "style": {"name": style.name, "title": style.title},
                "params": {"size": size, "width": frame[0], "height": frame[1],
                           "frames": clip.info.frames, "preserve_color": colours,
                           "blend": blend, "style": style.name},
                "download_name": f"{_slug(clip.name)}_{_slug(style.name)}_{size}px.mp4"}

        def run(callback) -> Path:
            engine = video.BlendingEngine(_painter(self.fast, style, colours), blend=blend)
            try:
                return video.paint_clip(clip.info, out, engine, long_edge=size, work=work,
                                        settings={"style": style.name, "colours": colours,
                                                  "blend": blend},
                                        callback=lambda p: callback(ClipStep.of(p, frame)))
            finally:
                shutil.rmtree(work, ignore_errors=True)

        return Task(run=run, stages=(Scale(size, clip.info.frames),), info=info)


def _unreadable(exc: Exception, video) -> str:
    """Why a clip could not be read, for the page (no server path, no command line)."""
    if isinstance(exc, video.StillPicture):
        return "it is a still picture, not a video clip; paint it on the Paint tab"
    reason = str(exc).split(": ", 1)[-1] if isinstance(exc, video.VideoError) else ""
    return reason or "not a video file, or a damaged or truncated one"


def _header(path: Path) -> tuple[set[str], int, int] | None:
    """(FFmpeg's names of the file's format, width, height of its first video stream), read
    before any frame is decoded: a format outside the usual containers (FFmpeg guesses one
    for almost any bytes) or a huge declared frame is refused without decoding it. None if
    the header cannot be read (probe then says why)."""
    import av

    try:
        with av.open(str(path), "r") as container:
            codec = container.streams.video[0].codec_context
            return set(container.format.name.split(",")), int(codec.width), int(codec.height)
    except Exception:  # probe says what is wrong with the file
        return None


def _painter(fast: FastStudio, style: FastStyle, colours: str):
    """``paint(image (1,3,H,W) float in [0,1]) -> (1,3,H,W)`` through the studio's shared
    painter, waiting while Fast mode or Live holds it."""

    def paint(image):
        for attempt in range(BUSY_RETRIES):
            try:
                return fast.paint(image, style, colours)
            except FastError as exc:
                if exc.status != 503 or attempt == BUSY_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    return paint


@dataclass(frozen=True)
class ClipStep:
    """One painted frame, in the shape the job queue reads: one stage whose steps are the
    clip's frames. image: the frame (H,W,3) uint8, or None when it was painted before."""

    step: int
    steps: int
    elapsed: float
    size: tuple[int, int]
    image: np.ndarray | None
    scale: int = 1
    scales: int = 1

    @classmethod
    def of(cls, progress, size: tuple[int, int]) -> ClipStep:
        """From a VideoProgress; size: the painted frames' (width, height)."""
        return cls(progress.frame, progress.frames, progress.elapsed, size, progress.image)

    @property
    def done(self) -> int:
        return self.step

    @property
    def total(self) -> int:
        return self.steps

    @property
    def losses(self) -> dict:
        return {}

    def preview(self) -> Image.Image | None:
        return None if self.image is None else Image.fromarray(self.image, "RGB")


def parse_paint(body: object, clips: ClipStudio,
                limits: ClipLimits) -> tuple[StoredClip, str, str, int, float]:
    """The paint request -> (clip, style name, colours, size, blend); ParamError otherwise."""
    if not isinstance(body, dict):
        raise ParamError("the request body must be a JSON object")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise ParamError(f"unknown parameter {shown(unknown[0])}; allowed: {', '.join(FIELDS)}")
    clip = clips.get(body.get("clip"))
    if clip is None:
        raise ParamError(f"clip: no clip with id {shown(body.get('clip'))} (upload it first)")
    if not isinstance(body.get("style"), str):
        raise ParamError(f"style must be the name of a fast style, got {shown(body.get('style'))}")
    colours = parse_colours(body.get("preserve_color", "none"))
    size = parse_edge(body.get("size", limits.size), limits.min_size, limits.max_size, "size")
    blend = body.get("blend", limits.blend)
    if isinstance(blend, bool) or not isinstance(blend, (int, float)) or not 0 <= blend < 1:
        raise ParamError(f"blend must be a number from 0 up to (not including) 1, "
                         f"got {shown(blend, 20)}")
    return clip, body["style"], colours, size, float(blend)


def check_clip_type(content_type: str) -> None:
    """ClipError 415 unless the Content-Type is a video type."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if not kind.startswith("video/"):
        shown_type = repr(kind[:40]) if kind else "none"
        raise ClipError("a clip must be sent as the request body with a video content type "
                        f"(video/mp4, video/webm, ...); the content type was {shown_type}",
                        status=415)


async def receive(request: Request, path: Path, limit: int) -> None:
    """Write the request's body to ``path``; TooLarge past ``limit`` bytes. The file is
    removed on any failure (a full disk, a client that goes away)."""
    try:
        file = await run_in_threadpool(open, path, "wb")
        try:
            async for chunk in limited(request, limit).stream():
                await run_in_threadpool(file.write, chunk)
        finally:
            file.close()
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def clip_too_large(limits: ClipLimits) -> str:
    return f"the clip is larger than the limit of {limits.max_bytes / 2**20:g} MB"


__all__ = ["ClipError", "ClipLimits", "ClipStep", "ClipStudio", "StoredClip",
           "check_clip_type", "clip_too_large", "parse_paint", "receive", "video_module"]
