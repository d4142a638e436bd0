"""A fast style as an ONNX file: one chosen mix of styles, baked into the graph.

The file takes ``image`` (1,3,H,W) float32 in [0,1] of any height and width (5 px or more)
and returns ``painted`` (1,3,H,W) float32 clamped to [0,1], exactly what
:meth:`TransformerNet.paint` returns for that mix. The mix's scales and shifts are folded
into constants, so the file holds one style (or one blend) and no style input; the style
names and weights are kept as metadata (``painterly.styles``, ``painterly.mix``).

Two exporters make the same graph:

- ``"torchscript"`` (the default): PyTorch's tracing exporter (``dynamo=False``). It works
  from torch 2.1 to at least 2.13 (deprecated since 2.9, still shipped) and needs only the
  ``onnx`` package beside torch.
- ``"dynamo"``: the ``torch.export`` based exporter that PyTorch now defaults to; it needs
  ``onnxscript`` as well and a recent torch (2.6 or later).

Height and width are dynamic in both: the network pads the image by reflection to a multiple
of 4 from its shape, and during export it always emits that pad (of 0 to 3 pixels, computed
from the input's shape inside the graph) instead of skipping it when the example happens to
be a multiple of 4 (see ``TransformerNet.forward``).

Everything that needs ONNX is imported here, lazily: ``pip install "painterly[onnx]"``.
"""

from __future__ import annotations

import copy
import importlib
import io
import json
import logging
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from .. import __version__, image_io
from .network import TransformerNet
from .paint import MIN_SIDE
from .store import FastStyles, write_atomically

Exporter = Literal["torchscript", "dynamo"]
DEFAULT_OPSET = 18
OPSETS = {"torchscript": (17, 20), "dynamo": (18, 23)}
"""Opsets each exporter is asked for here (onnxruntime 1.17+ runs 17 to 20)."""
INPUT, OUTPUT = "image", "painted"
CHECK_SIZES = ((37, 50), (64, 64), (90, 41))
TOLERANCE = 1e-4
"""Largest difference to PyTorch fp32 that :func:`check_onnx` accepts (pixels in [0,1])."""
INSTALL_HINT = 'pip install "painterly[onnx]"'


class _Baked(nn.Module):
    """The network with one mix of styles fixed: image (1,3,H,W) -> painted, clamped."""

    def __init__(self, network: TransformerNet, mix: torch.Tensor):
        super().__init__()
        self.network = network
        self.register_buffer("mix", mix.reshape(1, -1).float())

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.network(image, self.mix).clamp(0, 1)


def export_onnx(styles: FastStyles, mix: torch.Tensor, path: str | os.PathLike, *,
                opset: int = DEFAULT_OPSET, exporter: Exporter = "torchscript",
                overwrite: bool = False) -> Path:
    """Write ``styles``' network with the style weights ``mix`` (S,) as an ONNX file.

    The file appears complete or not at all (temporary file, then rename); an existing
    ``path`` is replaced only with ``overwrite`` and is untouched if the export fails.
    The network is copied to fp32 on the CPU first, so ``styles`` is left as it is.
    Raises ValueError (one line) for a bad mix, opset or path, ImportError naming the
    package to install when ONNX support is missing. Returns the path written.
    """
    if exporter not in OPSETS:
        raise ValueError(f"exporter must be torchscript or dynamo, got {exporter!r}")
    low, high = OPSETS[exporter]
    if not (isinstance(opset, int) and low <= opset <= high):
        raise ValueError(f"opset for the {exporter} exporter must be {low} to {high}, "
                         f"got {opset!r}")
    mix = check_mix(mix, len(styles.names))
    out = check_onnx_path(path, overwrite=overwrite)
    onnx = _require("onnx")
    if exporter == "dynamo":
        _require("onnxscript")
    model = _Baked(copy.deepcopy(styles.network).to("cpu", torch.float32), mix).eval()
    for norm in model.network.norms():  # a painter's tiling state must not reach the graph
        norm.fixed, norm.tally = None, None
    example = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    trace = _torchscript if exporter == "torchscript" else _dynamo
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings; check_onnx checks
        proto = trace(model, example, opset, onnx)
    _add_metadata(proto, styles, mix)
    onnx.checker.check_model(proto)
    try:
        write_atomically(out, lambda tmp: Path(tmp).write_bytes(proto.SerializeToString()))
    except OSError as error:
        raise ValueError(f"cannot write '{out}': {error.strerror or error}") from error
    return out


def _torchscript(model: nn.Module, example: torch.Tensor, opset: int, onnx):
    buffer = io.BytesIO()
    axes = {2: "height", 3: "width"}
    torch.onnx.export(model, (example,), buffer, dynamo=False, opset_version=opset,
                      input_names=[INPUT], output_names=[OUTPUT],
                      dynamic_axes={INPUT: axes, OUTPUT: axes}, do_constant_folding=True)
    return onnx.load_from_string(buffer.getvalue())


def _dynamo(model: nn.Module, example: torch.Tensor, opset: int, onnx):
    dims = {2: torch.export.Dim("height", min=8), 3: torch.export.Dim("width", min=8)}
    quiet = logging.getLogger("torch.onnx")  # "torchvision is not installed" for each of its ops
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        program = torch.onnx.export(model, (example,), dynamo=True, opset_version=opset,
                                    input_names=[INPUT], output_names=[OUTPUT],
                                    dynamic_shapes={INPUT: dims}, optimize=True, verbose=False)
    finally:
        quiet.setLevel(level)
    return program.model_proto


def _add_metadata(proto, styles: FastStyles, mix: torch.Tensor) -> None:
    entries = {"painterly.version": __version__,
               "painterly.styles": json.dumps(styles.names),
               "painterly.mix": json.dumps([round(float(w), 6) for w in mix])}
    for key, value in entries.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name, proto.producer_version = "painterly", __version__
    blend = ", ".join(f"{n} {float(w):g}" for n, w in zip(styles.names, mix) if w > 0)
    proto.doc_string = (f"painterly fast style ({blend}): {INPUT} (1,3,H,W) float32 in [0,1] "
                        f"-> {OUTPUT} (1,3,H,W) float32 in [0,1]")


def check_mix(mix: torch.Tensor, styles: int) -> torch.Tensor:
    """The style weights as a float32 (S,) tensor; ValueError unless (S,) or (1,S), finite."""
    if not isinstance(mix, torch.Tensor):
        raise TypeError(f"style weights must be a tensor, got {type(mix).__name__}")
    if mix.dim() == 2 and mix.shape[0] == 1:
        mix = mix[0]
    if tuple(mix.shape) != (styles,):
        raise ValueError(f"style weights must have shape ({styles},), got {tuple(mix.shape)}")
    mix = mix.detach().to("cpu", torch.float32)
    if not torch.isfinite(mix).all():
        raise ValueError("style weights must be finite")
    return mix


def check_onnx_path(path: str | os.PathLike, *, overwrite: bool) -> Path:
    """``path`` as a Path if an ONNX file can be written there; ValueError (one line) if not."""
    out = Path(path)
    name = f"'{out}'"
    if out.suffix.lower() != ".onnx":
        found = f"extension {out.suffix!r}" if out.suffix else "no file extension"
        raise ValueError(f"cannot write {name}: {found}; an ONNX file's name ends in .onnx")
    # Name length, directories, FIFOs, link loops, existing files, the folder: as for images.
    return image_io.check_writable(out, overwrite=overwrite)


# --------------------------------------------------------------------- running and checking

def onnx_session(path: str | os.PathLike, *, threads: int | None = None):
    """An onnxruntime CPU session for an exported file (``threads``: intra-op threads,
    default onnxruntime's: one per physical core). Run it with
    ``session.run(None, {"image": array (1,3,H,W) float32})[0]``."""
    ort = _require("onnxruntime")
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime's errors derive from Exception only
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"cannot load ONNX file '{path}': {first}") from None


@dataclass(frozen=True)
class OnnxCheck:
    """How far the ONNX file's paintings are from PyTorch's (fp32, CPU) on random images."""

    sizes: tuple[tuple[int, int], ...]
    max_abs_diff: tuple[float, ...]  # one per size
    tolerance: float

    @property
    def worst(self) -> float:
        return max(self.max_abs_diff)

    @property
    def ok(self) -> bool:
        return self.worst <= self.tolerance

    def describe(self) -> str:
        """One line, e.g. ``max |onnx - torch| 2.1e-06 (37x50 1.9e-06, ...): ok``."""
        each = ", ".join(f"{h}x{w} {d:.1e}" for (h, w), d in zip(self.sizes, self.max_abs_diff))
        verdict = "ok" if self.ok else f"ABOVE the tolerance {self.tolerance:g}"
        return f"max |onnx - torch| {self.worst:.1e} ({each}): {verdict}"


def check_onnx(path: str | os.PathLike, styles: FastStyles, mix: torch.Tensor, *,
               sizes: Iterable[tuple[int, int]] = CHECK_SIZES, tolerance: float = TOLERANCE,
               threads: int | None = None, seed: int = 0) -> OnnxCheck:
    """Paint random images (seeded) of each (H, W) in ``sizes`` with the ONNX file and with
    ``styles``' network in PyTorch (an fp32 CPU copy) and report the largest difference."""
    sizes = tuple((int(h), int(w)) for h, w in sizes)
    if not sizes or min(min(s) for s in sizes) < MIN_SIDE:
        raise ValueError(f"check sizes must be (height, width) pairs of at least {MIN_SIDE} px")
    mix = check_mix(mix, len(styles.names))
    session = onnx_session(path, threads=threads)
    net = copy.deepcopy(styles.network).to("cpu", torch.float32).eval()
    generator = torch.Generator().manual_seed(seed)
    diffs = []
    for h, w in sizes:
        image = torch.rand(1, 3, h, w, generator=generator)
        expected = net.paint(image, mix)
        got = torch.from_numpy(session.run([OUTPUT], {INPUT: image.numpy()})[0])
        if got.shape != expected.shape:
            raise ValueError(f"the ONNX file painted {h}x{w} as {tuple(got.shape)}; "
                             f"expected {tuple(expected.shape)}")
        diffs.append(float((got - expected).abs().max()))
    return OnnxCheck(sizes, tuple(diffs), tolerance)


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"ONNX support needs the {module!r} package: {INSTALL_HINT}") from None
