"""The studio's images: the bundled examples and the files people upload.

Clients name images only by an id that the server made (``ex-style-starry_night`` or a
random hex string); an id is looked up in a dict, never joined to a path, so nothing a
client sends reaches the file system.

An upload is accepted only if it decodes completely within the byte and pixel limits
(``image_io.open_image``: truncated, empty, non-image and decompression-bomb files fail
there). What is stored is the decoded image, oriented, converted to RGB, shrunk to
``max_edge`` and re-encoded as PNG under a server-generated name in the run's folder; the
client's bytes are never kept.
"""

from __future__ import annotations

import io
import logging
import re
import secrets
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from PIL import Image

from .. import image_io
from ..errors import one_line
from .guards import out_of_space

log = logging.getLogger(__name__)

Role = Literal["content", "style"]
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
MAX_UPLOAD_PIXELS = 50_000_000
THUMB_EDGE = 320
_WORK = re.compile(r"^\|\s*`(?P<file>[^`]+)`\s*\|\s*(?P<artist>[^,|*]+),\s*\*(?P<title>[^*]+)\*")


class UploadError(ValueError):
    """A rejected upload; ``status`` is the HTTP status to answer with (400, 413, 429, or
    507 and 500 when it cannot be stored)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class StoredImage:
    """An image the studio can use. ``path`` stays on the server; the rest goes to the page."""

    id: str
    name: str
    width: int
    height: int
    path: Path
    role: Role | None = None  # examples are photos or paintings; uploads can be either
    credit: str = ""

    def public(self) -> dict:
        return {"id": self.id, "name": self.name, "width": self.width, "height": self.height,
                "role": self.role, "credit": self.credit, "example": self.role is not None,
                "thumb": f"/api/images/{self.id}/thumb.jpg"}


class ImageStore:
    """Examples (from the package data) and this run's uploads (under ``folder``).

    max_bytes, max_pixels: limits on an upload's file size and decoded width x height.
    max_edge: uploads are shrunk to this long edge before being stored.
    max_uploads: uploads kept per run; beyond it new ones are refused (429).
    min_side: the short side, in pixels, an upload must keep once shrunk to ``max_edge``
    (what the studio's network needs: no job could use a narrower picture).
    """

    def __init__(self, folder: Path, *, max_bytes: int = MAX_UPLOAD_BYTES,
                 max_pixels: int = MAX_UPLOAD_PIXELS, max_edge: int = 2048,
                 max_uploads: int = 200, decoders: int = 2, min_side: int = 1):
        self.folder = folder
        self.max_bytes, self.max_pixels = max_bytes, max_pixels
        self.max_edge, self.max_uploads, self.min_side = max_edge, max_uploads, min_side
        self._images: dict[str, StoredImage] = {image.id: image for image in _examples()}
        self._thumbs: dict[str, bytes] = {}
        self._uploads = 0
        self._lock = threading.Lock()
        self._decoding = threading.BoundedSemaphore(decoders)  # bounds memory under a burst

    def examples(self) -> list[StoredImage]:
        return [image for image in self._images.values() if image.role is not None]

    def get(self, image_id: str) -> StoredImage | None:
        with self._lock:
            return self._images.get(image_id)

    def add_upload(self, data: bytes, filename: str | None) -> StoredImage:
        """Check, decode and store an uploaded file. Raises UploadError (one line); nothing
        is left on disk when it fails (a full disk included)."""
        name = display_name(filename)
        if not data:
            raise UploadError(f"{name}: the file is empty")
        if len(data) > self.max_bytes:
            raise UploadError(too_large_message(name, self.max_bytes), status=413)
        with self._lock:
            if self._uploads >= self.max_uploads:
                raise UploadError(f"this studio run already holds {self.max_uploads} uploads; "
                                  "restart it to upload more", status=429)
            self._uploads += 1
        try:
            with self._decoding:
                image = self._decode(data, name)
                image_id = secrets.token_hex(12)
                path = image_io.save_image(image, self.folder / f"{image_id}.png")
        except BaseException as exc:
            with self._lock:
                self._uploads -= 1
            if isinstance(exc, (OSError, image_io.OutputError)):
                raise _storage_error(exc, name) from None
            raise
        stored = StoredImage(image_id, name, image.width, image.height, path)
        with self._lock:
            self._images[image_id] = stored
        log.info("stored upload %s (%s, %dx%d)", image_id, name, image.width, image.height)
        return stored

    def _decode(self, data: bytes, name: str) -> Image.Image:
        """Decode fully through image_io (a temporary file: it checks what a file can be)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".upload-{secrets.token_hex(8)}"
        try:
            tmp.write_bytes(data)
            try:
                image = image_io.open_image(tmp, max_pixels=self.max_pixels)
            except image_io.ImageError as exc:
                reason = str(exc).split(": ", 1)[-1]  # drop "cannot read '<temporary file>'"
                status = 413 if "exceeds the limit" in reason else 400
                raise UploadError(f"{name}: {reason}", status=status) from None
        finally:
            tmp.unlink(missing_ok=True)
        given = image.size
        if max(image.size) > self.max_edge:
            image.thumbnail((self.max_edge, self.max_edge), Image.Resampling.LANCZOS)
        if min(image.size) < self.min_side:
            at = f"shrunk to {self.max_edge} px it is {image.width}x{image.height}, and "
            raise UploadError(f"{name} ({given[0]}x{given[1]} px) is too narrow: "
                              f"{at if image.size != given else ''}the studio needs at least "
                              f"{self.min_side} px on each side; crop it")
        return image

    def thumbnail(self, image_id: str) -> bytes | None:
        """A JPEG no larger than THUMB_EDGE (made once, then cached)."""
        image = self.get(image_id)
        if image is None:
            return None
        with self._lock:
            cached = self._thumbs.get(image_id)
        if cached is None:
            pil = image_io.open_image(image.path)
            pil.thumbnail((THUMB_EDGE, THUMB_EDGE), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            pil.save(buffer, format="JPEG", quality=85)
            cached = buffer.getvalue()
            with self._lock:
                self._thumbs[image_id] = cached
        return cached


def _storage_error(exc: BaseException, name: str) -> UploadError:
    """An upload that could not be written: 507 when the disk is full, else 500."""
    if out_of_space(exc):
        log.warning("cannot store upload %s: the disk is full", name)
        return UploadError(f"{name}: the disk is full: nothing was stored; free some space "
                           "and try again", status=507)
    reason = one_line(exc)
    log.warning("cannot store upload %s: %s", name, reason)
    return UploadError(f"{name}: cannot store it: {reason}", status=500)


def display_name(filename: str | None) -> str:
    """The client's file name, for messages only: no folders, printable, at most 60 characters."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip() or "the file"
    return base if len(base) <= 60 else base[:57] + "..."


def too_large_message(name: str, max_bytes: int) -> str:
    return f"{name}: the file is larger than the limit of {max_bytes / 2**20:g} MB"


def _examples() -> list[StoredImage]:
    """The bundled photos (role content) and paintings (role style), with their credits."""
    data = resources.files("painterly") / "data"
    credits = _credits(data / "SOURCES.md")
    found = []
    for role in ("content", "style"):
        for entry in sorted((data / role).iterdir(), key=lambda e: e.name):
            if entry.name.startswith(".") or not entry.is_file():
                continue
            path = Path(str(entry))
            with Image.open(path) as image:
                width, height = image.size
            stem = path.stem
            title, credit = credits.get(path.name, (stem.replace("_", " ").capitalize(), ""))
            found.append(StoredImage(f"ex-{role}-{stem}", title, width, height, path,
                                     role=role, credit=credit))  # type: ignore[arg-type]
    return found


def _credits(sources) -> dict[str, tuple[str, str]]:
    """file name -> (title, artist) from the SOURCES.md table rows (paintings only)."""
    try:
        text = sources.read_text(encoding="utf-8")
    except OSError:
        return {}
    found = {}
    for line in text.splitlines():
        match = _WORK.match(line)
        if match:
            found[match["file"]] = (match["title"].strip(), match["artist"].strip())
    return found
