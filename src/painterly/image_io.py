"""Image files in and out: every awkward input becomes float32 RGB ``(1,3,H,W)`` in [0,1].

Reading (``open_image``, ``load_image``, ``check_image_file``) applies EXIF orientation,
composites transparency onto white, scales 16-bit data properly and decodes fully, so a
truncated file fails here with an :class:`ImageError` rather than halfway through a run (a
JPEG much larger than wanted is decoded at a half to an eighth of its size, which still
reads every byte).
Sizes are checked against ``max_pixels`` from the header, before any pixel is decoded.
Colour profiles (ICC) are not applied; pixels are taken as sRGB.

Writing (``check_output_path``, ``save_image``) is atomic: the image is encoded to a
temporary file in the target folder, flushed to disk, then renamed over the target, so a
crash, a full disk or Ctrl-C never leaves a half-written file. Problems with the output
path raise :class:`OutputError`, a subclass of :class:`ImageError`, so one ``except
ImageError`` covers both. Every message is one line and names the file.

Only regular files are read or replaced: a FIFO, a device, a directory or a symbolic link
loop is refused by its kind before anything opens it (``stat`` first, then ``O_NONBLOCK``),
so no path can block a run or be consumed by it.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import os
import secrets
import stat
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError, features

log = logging.getLogger(__name__)

MAX_PIXELS = 100_000_000
"""Largest image (width × height) read by default; a guard against decompression bombs.
Pillow's own hard limit (``2 * Image.MAX_IMAGE_PIXELS``, about 179 MP) applies as well."""

PICTURE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".ppm"}
"""What a folder of pictures is searched for (training photos, a batch's inputs)."""

OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP",
                  ".tif": "TIFF", ".tiff": "TIFF"}
"""Output extension -> Pillow format name."""

_EXIF_DESCRIPTION, _EXIF_SOFTWARE, _EXIF_ORIENTATION = 0x010E, 0x0131, 0x0112
_PathLike = str | os.PathLike


class ImageError(ValueError):
    """A user-facing problem with an image file; the message is one line naming the file."""


class OutputError(ImageError):
    """The output path cannot be written (bad extension, exists, same as an input, ...)."""


class NotReadable(Exception):
    """A path that is not a readable regular file; the message says why in a few words
    (``no such file``, ``is a FIFO (named pipe), not a regular file``, ...), without the name."""


def _q(path: object) -> str:
    """The file name quoted for a one-line message."""
    text = str(os.fspath(path) if isinstance(path, (str, os.PathLike)) else path)
    return repr(text) if not text.isprintable() else f"'{text}'"


def _reason(exc: BaseException) -> str:
    if getattr(exc, "errno", None) in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "no space left on the device (the disk or the quota is full)"
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(reason).split())


# ------------------------------------------------------------------- regular files only

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    return next((kind for test, kind in _KINDS if test(mode)), "a special file")


def _stat_problem(path: _PathLike, exc: OSError) -> str:
    """A few words for why ``stat``/``open`` of ``path`` failed."""
    if exc.errno == errno.ENOENT and os.path.islink(path):
        with contextlib.suppress(OSError):
            return f"is a broken symbolic link (to {_q(os.readlink(path))})"
    reasons = {errno.ENOENT: "no such file", errno.ELOOP: "is a symbolic link loop",
               errno.ENOTDIR: "no such file (a folder in its path is a file)",
               errno.EACCES: "permission denied", errno.EPERM: "permission denied",
               errno.ENAMETOOLONG: "file name too long"}
    return reasons.get(exc.errno) or _reason(exc)


def file_problem(path: _PathLike) -> str | None:
    """Why ``path`` is not a readable regular file (a few words), or None when it is one.

    Follows symbolic links; only ``stat``s, so a FIFO or a device is never opened.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return _stat_problem(path, exc)
    except ValueError:  # a NUL in the name
        return "not a valid file name"
    return None if stat.S_ISREG(mode) else f"is {_kind(mode)}, not a regular file"


def open_regular(path: _PathLike) -> BinaryIO:
    """Open a regular file for reading in binary mode; raises NotReadable for anything else.

    The file is checked with ``stat`` before it is opened, opened with ``O_NONBLOCK`` and
    checked again with ``fstat``, so a path swapped for a FIFO in between cannot block either.
    """
    problem = file_problem(path)
    if problem:
        raise NotReadable(problem)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise NotReadable(_stat_problem(path, exc)) from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotReadable(f"is {_kind(mode)}, not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# ---------------------------------------------------------------------------- reading

def _check_size(size: tuple[int, int], max_pixels: int, name: str) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageError(f"cannot read {name}: {width}x{height} pixels exceeds the limit of "
                         f"{max_pixels / 1e6:g} megapixels")


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; alpha is composited onto white."""
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        # Pillow's I;16 -> L conversion clips at 255 instead of scaling; 16-bit data
        # (PNG, TIFF) is scaled 0-65535 -> 0-255 here.
        values = np.asarray(image).astype(np.float64)
        grey = np.clip(np.rint(values * (255 / 65535)), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if mode == "F":  # Pillow's own convention for float images: 0-255, clipped
        grey = np.clip(np.rint(np.asarray(image)), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


@contextlib.contextmanager
def _reading(name: str, max_pixels: int = MAX_PIXELS) -> Iterator[None]:
    """Turn whatever opening and decoding a file raises into a one-line ImageError."""
    try:
        yield
    except ImageError:
        raise
    except NotReadable as exc:
        raise ImageError(f"cannot read {name}: {exc}") from exc
    except FileNotFoundError as exc:
        raise ImageError(f"cannot read {name}: no such file") from exc
    except IsADirectoryError as exc:
        raise ImageError(f"cannot read {name}: is a directory") from exc
    except PermissionError as exc:
        raise ImageError(f"cannot read {name}: permission denied") from exc
    except Image.DecompressionBombError as exc:  # Pillow's hard limit, 2 * MAX_IMAGE_PIXELS
        limit = min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or max_pixels))
        raise ImageError(f"cannot read {name}: image exceeds the limit of {limit / 1e6:g} "
                         "megapixels (possible decompression bomb)") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"cannot read {name}: not an image (or an unsupported format)") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"cannot read {name}: image is truncated or corrupt "
                         f"({_reason(exc)})") from exc


def _load_rgb(image: Image.Image, name: str, max_pixels: int) -> Image.Image:
    """Check the size, decode fully, orient, convert; the caller's image is not modified."""
    _check_size(image.size, max_pixels, name)
    image.load()
    try:
        oriented = ImageOps.exif_transpose(image)
    except Exception as exc:  # broken EXIF must not make a good image unreadable
        log.info("ignoring unreadable EXIF orientation in %s: %s", name, _reason(exc))
        oriented = image
    try:
        rgb = _to_rgb(oriented)
    except (OSError, ValueError) as exc:
        raise ImageError(f"cannot read {name}: unsupported colour mode "
                         f"{image.mode!r} ({_reason(exc)})") from exc
    return rgb.copy() if rgb is image else rgb


@contextlib.contextmanager
def _pillow_warnings(name: str) -> Iterator[None]:
    """Pillow's warnings (damaged EXIF, ...) become INFO log lines naming the file, instead of
    Python warnings on stderr; above Pillow's own pixel limit, ``max_pixels`` decides instead."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    messages = [" ".join(str(w.message).split()) for w in caught
                if not issubclass(w.category, Image.DecompressionBombWarning)]
    for message in dict.fromkeys(messages):  # once each, in order
        log.info("%s: %s", name, message)


def open_image(source: _PathLike | Image.Image, *, max_pixels: int = MAX_PIXELS,
               at_least: int | None = None) -> Image.Image:
    """Read a file (or take a PIL image) as a fully loaded 8-bit RGB PIL image.

    ``at_least``: a JPEG may be decoded at a half, a quarter or an eighth of its size (libjpeg's
    scaled inverse DCT, several times faster) as long as its long edge stays at least this many
    pixels; every byte of the file is still decoded and checked. Raises ImageError for a
    missing, empty, unreadable, truncated or too large file.
    """
    return _open(source, max_pixels, at_least)[0]


def check_image_file(path: _PathLike, *, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """Validate an input file early (a regular file, not empty, decodes fully; a JPEG at an
    eighth of its size, which reads every byte as well).

    Returns (width, height) after EXIF orientation. Raises ImageError.
    """
    return _open(os.fspath(path), max_pixels, at_least=1)[1]


def _open(source: _PathLike | Image.Image, max_pixels: int,
          at_least: int | None) -> tuple[Image.Image, tuple[int, int]]:
    """(RGB image, its full size after EXIF orientation): see :func:`open_image`."""
    if isinstance(source, Image.Image):
        name = _q(getattr(source, "filename", "") or "<image>")
        with _reading(name, max_pixels), _pillow_warnings(name):
            rgb = _load_rgb(source, name, max_pixels)
            return rgb, rgb.size
    name = _q(source)
    with _reading(name, max_pixels), open_regular(source) as file:
        if os.fstat(file.fileno()).st_size == 0:
            raise ImageError(f"cannot read {name}: file is empty")
        with _pillow_warnings(name), Image.open(file) as image:
            _check_size(image.size, max_pixels, name)  # from the header, before any pixel
            full = image.size
            if at_least:
                _reduce_while_decoding(image, at_least)
            rgb = _load_rgb(image, name, max_pixels)
            return rgb, full[::-1] if _turned_on_its_side(image) else full


def _turned_on_its_side(image: Image.Image) -> bool:
    """True if the EXIF orientation that ``_load_rgb`` applied swaps width and height."""
    try:
        return image.getexif().get(_EXIF_ORIENTATION) in (5, 6, 7, 8)
    except Exception:  # unreadable EXIF: _load_rgb left the image as it was
        return False


def _reduce_while_decoding(image: Image.Image, at_least: int) -> None:
    """Ask the decoder (JPEG only; a no-op for other formats) for the largest reduction by 2,
    4 or 8 that keeps the long edge >= ``at_least``: what Pillow's ``thumbnail`` does."""
    width, height = image.size
    factor = max(width, height) / max(at_least, 1)
    if factor >= 2:
        image.draft(None, (max(1, int(width // factor)), max(1, int(height // factor))))


# ------------------------------------------------------------------ tensors and sizes

def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image (any mode) -> (1,3,H,W) float32 in [0,1]."""
    array = np.asarray(_to_rgb(image) if image.mode != "RGB" else image, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).unsqueeze(0).float().div_(255)


def _check_tensor(image: object, allow_batch: bool = False) -> torch.Tensor:
    """Validate (3,H,W) / (1,3,H,W) float; returns it as (B,3,H,W) (a view, not a copy)."""
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor image, got {type(image).__name__}")
    shape_ok = (image.dim() == 3 and image.shape[0] == 3) or (
        image.dim() == 4 and image.shape[1] == 3 and (allow_batch or image.shape[0] == 1))
    shape_ok = shape_ok and image.shape[-1] > 0 and image.shape[-2] > 0
    if not shape_ok or not image.is_floating_point():
        wanted = "(B,3,H,W)" if allow_batch else "(3,H,W) or (1,3,H,W)"
        raise ValueError(f"expected an image tensor {wanted} of floats in [0,1], got shape "
                         f"{tuple(image.shape)} dtype {image.dtype}")
    return image if image.dim() == 4 else image.unsqueeze(0)


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """(1,3,H,W) or (3,H,W) float tensor on any device -> 8-bit RGB PIL image (clamped, rounded)."""
    batch = _check_tensor(image)
    # One float copy, scaled in place: a print-size picture would otherwise hold several.
    array = batch[0].detach().to("cpu", torch.float32, copy=True)
    array.nan_to_num_(0).clamp_(0, 1).mul_(255).round_()
    return Image.fromarray(array.to(torch.uint8).permute(1, 2, 0).numpy(), mode="RGB")


def size_for_long_edge(width: int, height: int, long_edge: int) -> tuple[int, int]:
    """(width, height) scaled so the longer side is ``long_edge``; each side at least 1."""
    if min(width, height, long_edge) < 1:
        raise ValueError(f"sizes must be positive, got {width}x{height} and long edge {long_edge}")
    if width >= height:
        return long_edge, max(1, round(height * long_edge / width))
    return max(1, round(width * long_edge / height)), long_edge


def resize_long_edge(image: torch.Tensor, long_edge: int) -> torch.Tensor:
    """Resize (B,3,H,W) float so the longer side is ``long_edge`` (bicubic, antialiased, clamped).

    Returns a new tensor on the input's device, in the input's dtype.
    """
    batch = _check_tensor(image, allow_batch=True)
    height, width = batch.shape[-2:]
    new_w, new_h = size_for_long_edge(width, height, long_edge)
    if (new_w, new_h) == (width, height):
        return batch.clone()
    resized = F.interpolate(batch.float(), size=(new_h, new_w), mode="bicubic",
                            antialias=True, align_corners=False)
    return resized.clamp_(0, 1).to(batch.dtype)


def load_image(source: _PathLike | Image.Image | torch.Tensor, *, long_edge: int | None = None,
               max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """A file, PIL image or tensor -> a new (1,3,H,W) float32 tensor in [0,1].

    Tensors must be (3,H,W) or (1,3,H,W) floats in [0,1] and keep their device; the
    caller's tensor is never modified. ``long_edge`` resizes up or down, keeping the aspect.
    """
    if isinstance(source, torch.Tensor):
        batch = _check_tensor(source)
        low, high = batch.min().item(), batch.max().item()
        if not (low >= -1e-3 and high <= 1 + 1e-3):
            raise ValueError(f"expected image values in [0,1], got range [{low:g}, {high:g}]")
        image = batch.to(torch.float32).clamp(0, 1)
        return image if long_edge is None else resize_long_edge(image, long_edge)
    # Decoded at no less than twice the wanted size, so the Lanczos filter below still does
    # the reduction that shows (Pillow's reducing_gap of 2 in ``thumbnail``).
    pil = open_image(source, max_pixels=max_pixels, at_least=2 * long_edge if long_edge else None)
    if long_edge is not None:
        size = size_for_long_edge(*pil.size, long_edge)
        if size != pil.size:
            pil = pil.resize(size, Image.Resampling.LANCZOS)
    return pil_to_tensor(pil)


# ---------------------------------------------------------------------------- writing

def check_output_path(path: _PathLike, *, overwrite: bool,
                      inputs: Iterable[object] = ()) -> Path:
    """Check that ``path`` can be written as an image; returns it as a Path.

    Raises OutputError (one line) for an unsupported extension, and for everything
    :func:`check_writable` refuses.
    """
    out, name = Path(path), _q(path)
    suffix = out.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        allowed = ", ".join(sorted(OUTPUT_FORMATS))
        if out.suffix:
            raise OutputError(f"cannot write {name}: extension {out.suffix!r} is not a supported "
                              f"output format (use {allowed})")
        raise OutputError(f"cannot write {name}: no file extension to choose the format by; "
                          f"add one of {allowed}")
    if OUTPUT_FORMATS[suffix] == "WEBP" and not features.check("webp"):
        raise OutputError(f"cannot write {name}: this Pillow was built without WebP support")
    return check_writable(out, overwrite=overwrite, inputs=inputs)


def check_writable(path: _PathLike, *, overwrite: bool, inputs: Iterable[object] = ()) -> Path:
    """Check that a file can be written at ``path`` (any format); returns it as a Path.

    Raises OutputError (one line) for a name longer than its folder allows, a path that is one
    of ``inputs`` (never allowed), a directory, a FIFO, a device or a symbolic link loop, an
    existing file or broken symbolic link without ``overwrite``, or a parent folder that is
    missing, not writable or full. Non-path ``inputs`` are ignored. Nothing is opened but a
    probe file in the folder.
    """
    out, name = Path(path), _q(path)
    _check_name_length(out, name)
    try:
        mode: int | None = os.stat(out).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None  # nothing there (yet), or a missing folder: see _check_folder
    except OSError as exc:
        raise OutputError(f"cannot write {name}: {_stat_problem(out, exc)}") from exc
    except ValueError as exc:
        raise OutputError(f"cannot write {name}: not a valid file name") from exc
    if mode is not None and stat.S_ISDIR(mode):
        raise OutputError(f"cannot write {name}: is a directory")
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputError(f"cannot write {name}: is {_kind(mode)}, not a regular file; "
                          "choose another output name")
    # Only something already at ``out`` can be an input (a broken link is replaced, not
    # followed): checking each output against every input would cost n^2 system calls.
    for source in inputs if mode is not None else ():
        if isinstance(source, (str, os.PathLike)) and _same_file(out, Path(source)):
            raise OutputError(f"cannot write {name}: it is also an input, which is never "
                              "overwritten; choose another output name")
    if not overwrite:
        if mode is not None:
            raise OutputError(f"cannot write {name}: file already exists (use --overwrite)")
        if os.path.islink(out):
            raise OutputError(f"cannot write {name}: {_stat_problem(out, FileNotFoundError(errno.ENOENT, ''))}"
                              " (use --overwrite to replace the link)")
    _check_folder(out.parent, name)
    return out


def _check_name_length(out: Path, name: str) -> None:
    """A name longer than the folder's file system allows fails only when written; say so now."""
    length = len(os.fsencode(out.name))
    try:
        limit = os.pathconf(out.parent if out.parent.is_dir() else ".", "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = 255
    if limit > 0 and length > limit:
        raise OutputError(f"cannot write {name}: the file name is {length} bytes long but its "
                          f"folder allows at most {limit}; choose a shorter name")


def temporary_path(path: Path) -> Path:
    """A hidden, unique, short name next to ``path`` for writing it atomically (the prefix of
    the name, then 12 random hex digits: never longer than a name the folder accepts)."""
    stem = path.name[:16].encode("utf-8", "surrogateescape")[:16].decode("utf-8", "ignore")
    return path.with_name(f".{stem}.{secrets.token_hex(6)}.tmp")


@contextlib.contextmanager
def replacing(out: Path, *, overwrite: bool, errors: tuple[type[BaseException], ...] = (OSError,)
              ) -> Iterator[Path]:
    """Write ``out`` atomically: the block writes the temporary path this yields (next to
    ``out``); when it ends, the file is renamed over ``out`` (an existing ``out`` is refused
    unless ``overwrite``). On any failure or Ctrl-C the temporary file is removed and ``out``
    is untouched; ``errors`` become a one-line OutputError naming ``out``."""
    tmp = temporary_path(out)
    try:
        yield tmp
        if not overwrite and os.path.lexists(out):
            raise OutputError(f"cannot write {_q(out)}: file already exists (use --overwrite)")
        os.replace(tmp, out)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(exc, errors) and not isinstance(exc, OutputError):
            raise OutputError(f"cannot write {_q(out)}: {_reason(exc)}") from exc
        raise


def _same_file(a: Path, b: Path) -> bool:
    with contextlib.suppress(OSError, ValueError):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)  # never raises on a loop


def _check_folder(folder: Path, name: str) -> None:
    where = _q(folder)
    try:
        mode = os.stat(folder).st_mode
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise OutputError(f"cannot write {name}: folder {where} does not exist") from exc
    except OSError as exc:
        raise OutputError(f"cannot write {name}: folder {where}: {_stat_problem(folder, exc)}") from exc
    if not stat.S_ISDIR(mode):
        raise OutputError(f"cannot write {name}: {where} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {name}: folder {where} is not writable")
    probe = None
    try:  # permission bits do not tell the whole story (root, read-only mounts, ACLs, full disks)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".painterly-probe-")
        with os.fdopen(fd, "wb") as file:
            file.write(bytes(4096))
            file.flush()
    except OSError as exc:
        if exc.errno == errno.ENOENT:  # the folder exists, but no file can be made in it (/proc)
            raise OutputError(f"cannot write {name}: folder {where} does not take new files") from exc
        raise OutputError(f"cannot write {name}: folder {where}: {_reason(exc)}") from exc
    finally:
        if probe is not None:
            with contextlib.suppress(OSError):
                os.remove(probe)


def _save_options(fmt: str, metadata: dict[str, str], quality: int) -> dict[str, object]:
    """Pillow ``save`` keywords. PNG keeps each metadata key as a text chunk; JPEG, WebP and
    TIFF get the whole dict as JSON in EXIF ImageDescription (plus Software if given)."""
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        for key, value in metadata.items():
            info.add_text(str(key), str(value))  # iTXt when not Latin-1
        # zlib level 1: on painted pictures it writes files about 5% larger than Pillow's
        # default level 6 in half the time (11 against 23 ms at 512 x 288).
        return {"pnginfo": info, "compress_level": 1}
    options: dict[str, object] = {}
    if metadata:
        exif = Image.Exif()
        exif[_EXIF_DESCRIPTION] = json.dumps(metadata, ensure_ascii=True, sort_keys=True)
        if "Software" in metadata:
            exif[_EXIF_SOFTWARE] = str(metadata["Software"]).encode("ascii", "replace").decode()
        options["exif"] = exif.tobytes() if fmt == "WEBP" else exif
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = quality
    if fmt == "TIFF" and features.check("libtiff"):
        options["compression"] = "tiff_deflate"
    return options


def save_image(image: torch.Tensor | Image.Image, path: _PathLike, *,
               metadata: dict[str, str] | None = None, overwrite: bool = False,
               quality: int = 95) -> Path:
    """Write ``image`` ((1,3,H,W)/(3,H,W) float in [0,1], or PIL) atomically; returns the path.

    The format follows the extension (see OUTPUT_FORMATS). The image is encoded in memory,
    then written to a temporary file and renamed, so it appears complete or not at all; on any
    failure (disk full, Ctrl-C) the temporary file is removed, an existing target is untouched,
    and OSError becomes OutputError (a full disk is named as such, whatever the format).
    """
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be between 1 and 100, got {quality}")
    out, name = check_output_path(path, overwrite=overwrite), _q(path)
    pil = tensor_to_pil(image) if isinstance(image, torch.Tensor) else _to_rgb(image)
    fmt = OUTPUT_FORMATS[out.suffix.lower()]
    options = _save_options(fmt, dict(metadata or {}), quality)
    # In memory first: libtiff writes to the file itself and reports a full disk as
    # "tiff codec initialization failed"; a plain write reports ENOSPC.
    encoded = io.BytesIO()
    try:
        pil.save(encoded, format=fmt, **options)
    except (OSError, RuntimeError, ValueError) as exc:
        raise OutputError(f"cannot write {name}: {fmt} encoding failed ({_reason(exc)})") from exc
    with replacing(out, overwrite=overwrite) as tmp:
        # Not mkstemp: its files are 0600; os.open with 0o666 lets the umask decide, as usual.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        _write_durably(fd, encoded.getvalue())
    _fsync_folder(out.parent)
    return out


def _write_durably(fd: int, data: bytes) -> None:
    """Write ``data`` to the open file ``fd``, flush it to disk and close it."""
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable where the platform allows it (not on Windows)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_png_metadata(path: _PathLike) -> dict[str, str]:
    """The text chunks (tEXt, zTXt, iTXt) of a PNG file as a dict. Raises ImageError."""
    name = _q(path)
    with _reading(name), open_regular(path) as file, Image.open(file) as image:
        if image.format != "PNG":
            raise ImageError(f"cannot read {name}: not a PNG file ({image.format})")
        return {str(key): str(value) for key, value in image.text.items()}
