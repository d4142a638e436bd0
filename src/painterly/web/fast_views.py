"""Fast mode and the Live tab: photos and camera frames painted by a fast style in one pass.

The studio offers the styles of one place: by default the bundled styles and the user's own
(:mod:`painterly.fast.store`), or one style folder or loaded network given to ``create_app``.
Clients name a style only by its name, looked up in the catalogue; nothing a client sends
becomes a path. Each folder's network is loaded once and kept (loaded again only if its
weights file changes), with one :class:`~painterly.fast.paint.FastPainter` per style and
colour choice.

Painting runs in a worker thread (the routes call through ``run_in_threadpool``), one
painting at a time: a network painting in tiles keeps shared statistics in its norms, and
one at a time keeps memory flat under a burst. A request that cannot start painting within
``busy_timeout`` seconds is answered 503.

A Live frame is a JPEG, PNG or WebP body, decoded in memory within a byte and a pixel limit
(Pillow opens only those three formats), shrunk to the requested long edge, painted and sent
back as JPEG. Fast mode paints a stored image at the studio's size and keeps the result as a
PNG, with its parameters, in the run's results folder.
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from .. import __version__, image_io
from ..devices import Runtime
from ..errors import one_line
from ..fast.paint import MIN_PAINT_EDGE, MIN_SIDE, FastPainter
from ..fast.store import FastStyles, StyleError, load_styles
from ..style_folders import bundled_style_folder, bundled_styles, network_origin, user_styles
from .guards import shown
from .params import ParamError
from .uploads import StoredImage

log = logging.getLogger(__name__)

COLOURS = ("none", "luminance", "histogram")
FRAME_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
FRAME_QUALITY = 80
NO_STYLES = ("no fast styles are installed: the studio found neither bundled styles nor "
             "style folders of your own")


@dataclass(frozen=True)
class FastLimits:
    """Limits of Fast mode and Live frames.

    max_frame_bytes: size of one frame's body. max_frame_pixels: its decoded width x height.
    frame_edge: the long edge frames are painted at unless the page asks for another, which
    must lie in [min_edge, max_frame_edge]. busy_timeout: seconds a request may wait for
    the painter before a 503. keep_results: Fast mode results served by id (older ones stay
    on disk).
    """

    max_frame_bytes: int = 2 * 2**20
    max_frame_pixels: int = 2048 * 2048
    frame_edge: int = 320
    max_frame_edge: int = 640
    min_edge: int = 16
    busy_timeout: float = 5.0
    keep_results: int = 500

    def __post_init__(self):
        if not 1 <= self.min_edge <= self.frame_edge <= self.max_frame_edge:
            raise ValueError(f"need 1 <= min_edge <= frame_edge <= max_frame_edge, got "
                             f"{self.min_edge}, {self.frame_edge}, {self.max_frame_edge}")
        if min(self.max_frame_bytes, self.max_frame_pixels, self.keep_results) < 1:
            raise ValueError("max_frame_bytes, max_frame_pixels and keep_results must be >= 1")

    def public(self) -> dict:
        return {"max_frame_bytes": self.max_frame_bytes, "max_frame_pixels": self.max_frame_pixels,
                "frame_edge": self.frame_edge, "max_frame_edge": self.max_frame_edge,
                "min_edge": self.min_edge, "frame_types": list(FRAME_TYPES)}


class FastError(ValueError):
    """A refused Fast or Live request; ``status`` is the HTTP status (400, 413, 415, 501, 503)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class FastStyle:
    """One style the studio offers: its name, where its network is, its name there."""

    name: str
    source: str          # "bundled", "yours" or "studio" (given to create_app)
    folder: Path | None  # None: the network given to create_app
    key: str             # the style's name inside its network

    @property
    def title(self) -> str:
        return self.name.replace("_", " ").capitalize()

    def public(self, thumb: str | None) -> dict:
        return {"name": self.name, "title": self.title, "source": self.source, "thumb": thumb}


@dataclass(frozen=True)
class FastResult:
    """A Fast mode painting kept in the run's results folder."""

    id: str
    path: Path
    info: dict

    def public(self) -> dict:
        base = f"/api/fast/results/{self.id}.png"
        return {"id": self.id, **self.info, "result": base, "download": f"{base}?download=1"}


class FastStudio:
    """The catalogue of fast styles, their loaded networks, and painting with them.

    source: None for the bundled and user styles, a style folder, or loaded FastStyles.
    runtime: where and in which precision the networks run.
    """

    def __init__(self, source: str | os.PathLike | FastStyles | None, runtime: Runtime,
                 limits: FastLimits = FastLimits()):
        self.source, self.runtime, self.limits = source, runtime, limits
        self._lock = threading.RLock()       # the catalogue, the caches and the results
        self._painting = threading.Lock()    # one painting at a time
        self._networks: dict[Path | None, tuple[int, FastStyles]] = {}
        self._painters: dict[tuple, FastPainter] = {}
        self._results: OrderedDict[str, FastResult] = OrderedDict()
        self._catalogue: dict[str, FastStyle] | None = None

    # ------------------------------------------------------------------ the catalogue

    def styles(self, *, rescan: bool = False) -> list[FastStyle]:
        """Every style offered, bundled ones first (scanned again if ``rescan``)."""
        with self._lock:
            if self._catalogue is None or rescan:
                try:
                    self._catalogue = self._scan()
                except StyleError as exc:  # the studio's own folder has gone or broken
                    raise FastError(one_line(exc), status=500) from None
            return list(self._catalogue.values())

    def style(self, name: object) -> FastStyle:
        """The style called ``name``; FastError (400, or 501 if there are none) otherwise."""
        if not isinstance(name, str) or not name:
            raise FastError(f"style must be the name of a fast style, got {shown(name)}")
        known = {s.name: s for s in self.styles()}
        if name not in known:  # perhaps trained since the last scan
            known = {s.name: s for s in self.styles(rescan=True)}
        if not known:
            raise FastError(NO_STYLES, status=501)
        if name not in known:
            raise FastError(f"no fast style {shown(name, 60)}; the studio has {', '.join(known)}")
        return known[name]

    def _scan(self) -> dict[str, FastStyle]:
        if isinstance(self.source, FastStyles):
            return {n: FastStyle(n, "studio", None, n) for n in self.source.names}
        if self.source is not None:
            folder = Path(self.source)
            return {n: FastStyle(n, "studio", folder, n) for n in self._network(folder)[1].names}
        found = {n: FastStyle(n, "bundled", bundled_style_folder(n), n) for n in bundled_styles()}
        for name, folder in user_styles().items():
            found.setdefault(name, FastStyle(name, "yours", folder, name))
        return found

    # ------------------------------------------------------------------ networks

    def painter(self, style: FastStyle, colours: str, live: bool = False) -> FastPainter:
        """The cached painter of one style and colour choice (its network loaded once). Live
        frames are painted at their own size, however small (fast.paint.MIN_PAINT_EDGE), so a
        frame costs what its size does."""
        version, styles = self._network(style.folder)
        with self._lock:
            key = (style.folder, version, style.key, colours, live)
            painter = self._painters.get(key)
            if painter is None:
                mix = torch.zeros(len(styles.names))
                mix[styles.index(style.key)] = 1.0
                painter = FastPainter(styles, mix, runtime=self.runtime, preserve_color=colours,
                                      min_edge=None if live else MIN_PAINT_EDGE)
                self._painters = {k: p for k, p in self._painters.items()  # drop stale ones
                                  if k[0] != style.folder or k[1] == version}
                self._painters[key] = painter
            return painter

    def _network(self, folder: Path | None) -> tuple[int, FastStyles]:
        """(version, network) of a folder, loaded on first use and when its weights change."""
        if folder is None:
            assert isinstance(self.source, FastStyles)
            return 0, self.source
        try:
            version = (folder / "model.safetensors").stat().st_mtime_ns
        except OSError:
            version = 0
        with self._lock:
            cached = self._networks.get(folder)
            if cached is None or cached[0] != version:
                started = time.perf_counter()
                cached = (version, load_styles(folder))
                self._networks[folder] = cached
                log.info("loaded fast styles from %s in %.2f s", folder,
                         time.perf_counter() - started)
            return cached

    def paint(self, image: torch.Tensor, style: FastStyle, colours: str,
              live: bool = False) -> torch.Tensor:
        """image (1,3,H,W) float in [0,1] -> painted (1,3,H,W) float32 in [0,1] on the CPU."""
        if not self._painting.acquire(timeout=self.limits.busy_timeout):
            raise FastError("the painter is busy; try again in a moment", status=503)
        try:  # (a new painter moves its network to the runtime: not while another paints)
            painter = self.painter(style, colours, live)
            return painter(image)
        except StyleError as exc:  # its folder broke since the studio listed it
            raise FastError(one_line(exc), status=500) from None
        finally:
            self._painting.release()

    # ------------------------------------------------------------------ Live frames

    def paint_frame(self, data: bytes, style: FastStyle, colours: str,
                    edge: int) -> tuple[bytes, float]:
        """A frame's bytes -> (the painted frame as JPEG, seconds spent painting).

        The frame is shrunk (never enlarged) to long edge ``edge`` before it is painted.
        """
        image = decode_frame(data, self.limits.max_frame_pixels)
        if max(image.size) > edge:
            image.thumbnail((edge, edge), Image.Resampling.BILINEAR)
        _check_side("the frame", image.size, image.size, edge)
        started = time.perf_counter()
        painted = self.paint(image_io.pil_to_tensor(image), style, colours, live=True)
        seconds = time.perf_counter() - started
        buffer = io.BytesIO()
        image_io.tensor_to_pil(painted).save(buffer, format="JPEG", quality=FRAME_QUALITY)
        return buffer.getvalue(), seconds

    # ------------------------------------------------------------------ Fast mode

    def paint_image(self, image: StoredImage, style: FastStyle, colours: str, size: int,
                    out: Path) -> FastResult:
        """Paint a stored image at long edge ``size``; the PNG at ``out`` records how."""
        _check_side(image.name, (image.width, image.height),
                    image_io.size_for_long_edge(image.width, image.height, size), size)
        photo = image_io.load_image(image.path, long_edge=size)
        started = time.perf_counter()
        painted = self.paint(photo, style, colours)
        seconds = time.perf_counter() - started
        record = {"version": __version__, "content": image.name, "fast_style": style.name,
                  "network": network_origin(style.folder) if style.folder else None,
                  "size": size, "preserve_color": colours, "studio": True}
        metadata = {"painterly": json.dumps(record), "Software": f"painterly {__version__}"}
        path = image_io.save_image(painted, out, metadata=metadata)
        height, width = painted.shape[-2:]
        info = {"kind": "fast", "title": f"{image.name} × {style.title}", "style": style.name,
                "content": image.public(), "width": width, "height": height,
                "preserve_color": colours, "elapsed": round(seconds, 3),
                "download_name": f"{_slug(image.name)}_{_slug(style.name)}_fast_{size}px.png"}
        result = FastResult(out.stem, path, info)
        with self._lock:
            self._results[result.id] = result
            while len(self._results) > self.limits.keep_results:
                self._results.popitem(last=False)
        return result

    def result(self, result_id: str) -> FastResult | None:
        with self._lock:
            return self._results.get(result_id)


def _check_side(name: str, given: tuple[int, int], painted: tuple[int, int], size: int) -> None:
    """FastError (400) naming the picture if its short side, painted at (width, height)
    ``painted``, is below what a fast style network takes."""
    if min(painted) < MIN_SIDE:
        raise FastError(f"{name} ({given[0]}x{given[1]} px) is too narrow: at {size} px it is "
                        f"{painted[0]}x{painted[1]}, and a fast style needs at least {MIN_SIDE} px "
                        "on each side")


def check_frame_type(content_type: str) -> None:
    """FastError 415 unless the Content-Type is one a frame may have."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind not in FRAME_TYPES:
        shown = repr(kind[:40]) if kind else "none"
        raise FastError(f"a frame must be sent as {', '.join(FRAME_TYPES)}; the content type "
                        f"was {shown}", status=415)


def decode_frame(data: bytes, max_pixels: int) -> Image.Image:
    """A JPEG, PNG or WebP frame -> a fully decoded RGB image; FastError (400 or 413)."""
    if not data:
        raise FastError("the frame is empty")
    try:
        with warnings.catch_warnings():
            # the max_pixels check below decides, not Pillow's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(FRAME_TYPES.values()))
    except Image.DecompressionBombError:
        raise FastError(f"the frame exceeds the limit of {max_pixels / 1e6:g} megapixels",
                        status=413) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise FastError("the frame is not a JPEG, PNG or WebP image") from None
    try:
        return image_io.open_image(image, max_pixels=max_pixels)
    except image_io.ImageError as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise FastError(f"the frame: {reason}",
                        status=413 if "exceeds the limit" in reason else 400) from None


def parse_paint(body: object, size: int, max_size: int) -> tuple[str, str, str, int]:
    """``{"image": id, "style": name, "size"?: px, "preserve_color"?: ...}`` ->
    (image id, style name, colours, size); ParamError (one line) for anything else."""
    if not isinstance(body, dict):
        raise ParamError("the request body must be a JSON object")
    unknown = sorted(set(body) - {"image", "style", "size", "preserve_color"})
    if unknown:
        raise ParamError(f"unknown parameter {shown(unknown[0])}; allowed: image, style, "
                         "size, preserve_color")
    if not isinstance(body.get("image"), str):
        raise ParamError(f"image must be the id of an image, got {shown(body.get('image'))}")
    if not isinstance(body.get("style"), str):
        raise ParamError(f"style must be the name of a fast style, got {shown(body.get('style'))}")
    colours = parse_colours(body.get("preserve_color", "none"))
    size = parse_edge(body.get("size", size), 16, max_size, "size")
    return body["image"], body["style"], colours, size


def parse_colours(value: object) -> str:
    if value not in COLOURS:
        raise ParamError(f"preserve_color must be one of {', '.join(COLOURS)}; got {shown(value)}")
    return value  # type: ignore[return-value]


def parse_edge(value: object, low: int, high: int, name: str, *, text: bool = False) -> int:
    """A whole number in [low, high]; ``text``: given as the text of a query parameter."""
    if text and isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 6:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamError(f"{name} must be a whole number, got {shown(value, 20)}")
    if not low <= value <= high:
        raise ParamError(f"{name} must be between {low} and {high}, got {value}")
    return value


def new_result_path(folder: Path) -> Path:
    return folder / f"fast-{secrets.token_hex(8)}.png"


def _slug(text: str) -> str:
    stem, dot, ext = text.rpartition(".")
    text = stem if dot and stem and len(ext) <= 4 else text
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in text.lower())
    return "_".join(part for part in cleaned.split("_") if part)[:32] or "image"
