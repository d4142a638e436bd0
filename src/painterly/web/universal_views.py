"""The Paint tab's one-pass preview: the chosen photo painted with the chosen painting by
universal style transfer (Li, Fang, Yang, Wang, Lu & Yang 2017, "Universal Style Transfer via
Feature Transforms"; :mod:`painterly.fast.wct`), in a second or two, before or instead of the
optimiser's minutes.

Both pictures are named by ids of the studio's image store (examples or uploads); nothing a
client sends becomes a path. The engine (VGG19 to relu4_1 and the bundled decoders) is loaded
on the first request and kept; each painting's feature statistics are kept too, so moving the
strength slider only repaints. Painting runs in a worker thread, one at a time (as in Fast
mode); a request that cannot start within ``busy_timeout`` seconds is answered 503. Without
the bundled decoders the preview is unavailable: ``/api/config`` says so and the route
answers 501, as the studio does for other things this copy cannot do.
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from .. import image_io
from ..devices import Runtime
from ..errors import one_line
from ..fast.decoders import DECODER_LAYERS, DecoderError, check_decoders, load_decoders
from ..fast.wct import DEFAULT_LEVELS, MIN_SIDE, PaintingStats, UniversalPainter
from ..models.layers import BLOCKS
from ..models.vgg import FeatureExtractor
from .fast_views import FastError, parse_colours, parse_edge
from .guards import shown
from .params import ParamError
from .uploads import ImageStore, StoredImage

log = logging.getLogger(__name__)

FIELDS = ("photo", "painting", "strength", "preserve_color", "size")
PREVIEW_QUALITY = 85
STYLE_EDGE = 512
"""Long edge a painting is shrunk to before its statistics are taken (as ``painterly fast``)."""
KEEP_PAINTINGS = 8
"""Paintings whose statistics are kept between requests: about 30 MB each at STYLE_EDGE,
most of it relu4_1's patches for the style swap."""


@dataclass(frozen=True)
class Preview:
    """A painted preview: JPEG bytes, its (width, height) and the seconds spent painting."""

    jpeg: bytes
    size: tuple[int, int]
    seconds: float


@dataclass(frozen=True)
class PreviewRequest:
    """A validated request: the two stored pictures and how to paint."""

    photo: StoredImage
    painting: StoredImage
    strength: float
    colours: str
    size: int


class UniversalStudio:
    """The universal-style-transfer engine of the studio, loaded on first use.

    runtime: where and in which precision the networks run. extractor: a VGG-named network to
    encode with instead of VGG19 (tests); only its layers that a decoder inverts are used.
    busy_timeout: seconds a request may wait for the painter before a 503.
    """

    def __init__(self, runtime: Runtime, extractor: FeatureExtractor | None = None,
                 busy_timeout: float = 5.0):
        self.runtime, self.extractor, self.busy_timeout = runtime, extractor, busy_timeout
        self._painting = threading.Lock()  # one painting at a time; guards the caches too
        self._painter: UniversalPainter | None = None
        self._statistics: OrderedDict[str, PaintingStats] = OrderedDict()

    def status(self) -> dict:
        """``{"available": bool, "message": one line}`` for ``/api/config``."""
        try:
            self._check()
        except FastError as exc:
            return {"available": False, "message": str(exc)}
        return {"available": True, "message": ""}

    def _levels(self) -> tuple[str, ...]:
        """The decoder layers the encoder has, with VGG19's widths there, deep to shallow (all
        of them for VGG19; none for a small test network)."""
        if self.extractor is None:
            return DECODER_LAYERS[::-1]
        return tuple(layer for layer in DECODER_LAYERS[::-1] if _width(self.extractor, layer)
                     == BLOCKS[int(layer[4]) - 1][0])

    def _check(self) -> None:
        """FastError 501 when this copy of painterly cannot paint a preview."""
        try:
            check_decoders()
        except DecoderError as exc:
            raise FastError(one_line(exc), status=501) from None
        if not self._levels():
            raise FastError("the one-pass preview needs a network with a layer a decoder "
                            f"inverts ({', '.join(DECODER_LAYERS)})", status=501)

    def paint(self, request: PreviewRequest) -> Preview:
        """Paint ``request.photo`` at long edge ``request.size``; the picture as JPEG.

        FastError: 501 without decoders, 503 when busy, 400 for a picture too narrow, 500
        when the decoders cannot be read.
        """
        self._check()
        painted_size = image_io.size_for_long_edge(request.photo.width, request.photo.height,
                                                   request.size)
        _check_side(request.photo, painted_size, request.size)
        photo = image_io.load_image(request.photo.path, long_edge=request.size)
        if not self._painting.acquire(timeout=self.busy_timeout):
            raise FastError("the painter is busy; try again in a moment", status=503)
        try:
            started = time.perf_counter()
            painter = self._engine()
            stats = self._painting_statistics(painter, request.painting)
            painted = painter.paint(photo, [(stats, 1.0)], request.strength, request.colours)
            seconds = time.perf_counter() - started
        finally:
            self._painting.release()
        buffer = io.BytesIO()
        image_io.tensor_to_pil(painted).save(buffer, format="JPEG", quality=PREVIEW_QUALITY)
        return Preview(buffer.getvalue(), (painted.shape[-1], painted.shape[-2]), seconds)

    def _engine(self) -> UniversalPainter:
        """The painter, built on first use (the caller holds the painting lock)."""
        if self._painter is None:
            started = time.perf_counter()
            try:
                decoders = load_decoders()
            except DecoderError as exc:  # present but unreadable: the installation is broken
                raise FastError(one_line(exc), status=500) from None
            available = [layer for layer in self._levels() if layer in decoders.nets]
            # The levels `painterly fast` paints with, where the encoder has them.
            levels = [layer for layer in DEFAULT_LEVELS if layer in available] or available
            self._painter = UniversalPainter(decoders, self._network(), self.runtime,
                                             levels=levels)
            log.info("loaded the universal style transfer engine in %.2f s",
                     time.perf_counter() - started)
        return self._painter

    def _network(self) -> FeatureExtractor:
        """The studio's test network if it was given one, else VGG19 with max pooling, as the
        decoders learnt (UniversalPainter keeps a copy of its own)."""
        if self.extractor is not None:
            return self.extractor
        from ..pipeline import load_vgg19
        return load_vgg19(None, "auto", "max")

    def _painting_statistics(self, painter: UniversalPainter,
                             painting: StoredImage) -> PaintingStats:
        """A painting's statistics at every level, from the cache or computed now."""
        stats = self._statistics.get(painting.id)
        if stats is None:
            larger = max(painting.width, painting.height) > STYLE_EDGE
            picture = image_io.load_image(painting.path, long_edge=STYLE_EDGE if larger else None)
            try:
                stats = painter.style(picture)
            except ValueError:  # narrower than MIN_SIDE once shrunk
                raise FastError(f"{painting.name} ({painting.width}x{painting.height} px) is "
                                f"too narrow to paint with: a painting needs at least "
                                f"{MIN_SIDE} px on each side") from None
            self._statistics[painting.id] = stats
            while len(self._statistics) > KEEP_PAINTINGS:
                self._statistics.popitem(last=False)
        self._statistics.move_to_end(painting.id)
        return stats


def parse_preview(body: object, store: ImageStore, size: int, max_size: int) -> PreviewRequest:
    """``{"photo": id, "painting": id, "strength"?: 0..1, "preserve_color"?: ...,
    "size"?: px}`` -> a :class:`PreviewRequest`; ParamError (one line) for anything else."""
    if not isinstance(body, dict):
        raise ParamError("the request body must be a JSON object")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise ParamError(f"unknown parameter {shown(unknown[0])}; allowed: {', '.join(FIELDS)}")
    photo = _stored(body.get("photo"), "photo", store)
    painting = _stored(body.get("painting"), "painting", store)
    strength = parse_strength(body.get("strength", 1.0))
    colours = parse_colours(body.get("preserve_color", "none"))
    size = parse_edge(body.get("size", size), MIN_SIDE, max_size, "size")
    return PreviewRequest(photo, painting, strength, colours, size)


def parse_strength(value: object) -> float:
    """A number in [0,1]: how far the photo's features move towards the painting's."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParamError(f"strength must be a number between 0 and 1, got {shown(value, 20)}")
    if not 0 <= value <= 1:
        raise ParamError(f"strength must be between 0 and 1, got {value:g}")
    return float(value)


def _stored(image_id: object, key: str, store: ImageStore) -> StoredImage:
    """The stored picture of ``image_id``; ParamError naming ``key`` otherwise."""
    if not isinstance(image_id, str) or not image_id:
        raise ParamError(f"{key} must be the id of an image (an example or an upload), "
                         f"got {shown(image_id)}")
    image = store.get(image_id)
    if image is None:
        raise ParamError(f"{key}: no image with id {shown(image_id)} (upload it first)")
    return image


def _check_side(photo: StoredImage, painted: tuple[int, int], size: int) -> None:
    """FastError (400) naming the photo if, painted at (width, height) ``painted``, it is
    narrower than the engine takes."""
    if min(painted) < MIN_SIDE:
        raise FastError(f"{photo.name} ({photo.width}x{photo.height} px) is too narrow: at "
                        f"{size} px it is {painted[0]}x{painted[1]}, and the one-pass preview "
                        f"needs at least {MIN_SIDE} px on each side")


def _width(network: FeatureExtractor, layer: str) -> int | None:
    """Channels of ``layer`` (reluB_1) in ``network``: its convB_1's outputs; None without it."""
    conv = f"conv{layer[4]}_1"
    if conv not in network.names:
        return None
    return getattr(network.body[network.names.index(conv)], "out_channels", None)


__all__ = ["Preview", "PreviewRequest", "UniversalStudio", "parse_preview", "parse_strength"]
