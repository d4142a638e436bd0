"""Choosing a device and a numeric precision for the network.

The network's weights are cast once to the chosen precision and each step's image is cast
on the way in; the image being optimised, Gram matrices and losses stay float32 (the Gram
products of bf16 responses run in bf16 with fp32 sums; see ``losses.py``). Casting once does what autocast does for a frozen network (its convs, ReLUs
and pools run in bf16/fp16) without re-casting 20M weights every step.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass

import torch

from . import image_io
from .cpuinfo import avx2_without_avx512, cpu_flags, cpu_model
from .models import weights, winograd

log = logging.getLogger(__name__)
_warned: set[str] = set()
"""Advice already logged: the checks and the run each resolve the runtime, the user hears it once."""


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


@dataclass(frozen=True)
class Runtime:
    """Where and how the network runs.

    device: torch device for every tensor of the run.
    dtype: the network's dtype: torch.float32, torch.bfloat16 or torch.float16.
    channels_last: keep activations NHWC, which oneDNN (CPU) and cuDNN run fastest.
    winograd: run VGG19's and the decoders' 3x3 convolutions by Winograd's algorithm through
    NNPACK (``models.winograd``), on fp32 CPUs where that is faster; their activations are
    then NCHW, which NNPACK reads.
    """

    device: torch.device
    dtype: torch.dtype
    channels_last: bool
    winograd: bool = False

    def describe(self, *, fp32: str | None = "losses") -> str:
        """One line for the user, e.g. ``cpu, bf16 network with fp32 losses, channels_last``.

        fp32: what runs in fp32 beside a bf16 or fp16 network (None: nothing, as when a fast
        style paints).
        """
        precision = "fp32"
        if self.dtype != torch.float32:
            precision = f"{'bf16' if self.dtype == torch.bfloat16 else 'fp16'} network"
            precision += f" with fp32 {fp32}" if fp32 else ""
        layout = ", channels_last" if self.channels_last else ""
        winograd = ", Winograd convolutions" if self.winograd else ""
        return f"{self.device}, {precision}{layout}{winograd}"

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; other names are checked to exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from error
    if device.type not in ("cpu", "cuda", "mps"):  # meta, xpu, ...: not devices a run can use
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but this PyTorch sees no CUDA GPU")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device {name!r} was asked for but this machine has "
                         f"{torch.cuda.device_count()} CUDA GPU(s), numbered from 0")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was asked for but it is not available here")
    return device


def cpu_has_native_bf16() -> bool:
    """True when this CPU multiplies bf16 matrices in hardware (AMX or AVX512-BF16)."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    try:
        return any(getattr(torch.cpu, probe)() for probe in probes if hasattr(torch.cpu, probe))
    except RuntimeError:  # pragma: no cover - defensive: private probes changed
        return cpu_flags() & {"amx_bf16", "avx512_bf16"} != set()


BF16_MIN_SPEEDUP = 1.15
"""How much faster than fp32 a bf16 convolution must run before ``auto`` paints in bf16.

Native bf16 is not always fast bf16. A 2-core Xeon with AVX512-BF16 but no AMX ran a 3x3
convolution in bf16 at half its fp32 speed (200 against 420 GFLOP/s; an optimiser step at
512 px 1.46 s against 1.09 s, the bundled fast style 129 ms against 58 ms), where AMX runs
it about 5 times faster than fp32 and an EPYC's AVX512-BF16 about twice. Below this margin
fp32 wins: it is exact and no slower."""
PRECISION_CACHE = "precision.json"
"""File in painterly's cache folder that keeps each CPU's measured speeds, so that a CPU's
choice, and so its pictures, do not change from run to run with the noise of a timing."""


@functools.cache  # measured (or read) once a process
def cpu_prefers_bf16() -> bool:
    """True when this CPU has native bf16 and runs a 3x3 convolution in bf16 at least
    ``BF16_MIN_SPEEDUP`` times as fast as in fp32: measured once for this CPU, PyTorch
    version and thread count, then kept in the cache folder (``PRECISION_CACHE``)."""
    if not cpu_has_native_bf16():
        return False
    speeds = _kept_speeds()
    speedup = speeds["fp32_ms"] / speeds["bf16_ms"]
    if speedup < BF16_MIN_SPEEDUP:
        log.info("this CPU has bf16 instructions but ran bf16 convolutions at %.2f times fp32's "
                 "speed; painting in fp32 (--precision bf16 overrides)", speedup)
    return speedup >= BF16_MIN_SPEEDUP


def _kept_speeds() -> dict[str, float]:
    """This CPU's {"fp32_ms", "bf16_ms"} from the cache folder, or measured and kept there."""
    path = weights.resolve_cache_dir() / PRECISION_CACHE
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):  # missing, unreadable or corrupt: measure again
        known = {}
    known, key = (known if isinstance(known, dict) else {}), _cpu_key()
    speeds = known.get(key)
    if isinstance(speeds, dict) and all(isinstance(speeds.get(k), float) and speeds[k] > 0
                                        for k in ("fp32_ms", "bf16_ms")):
        return speeds
    known[key] = speeds = _time_convolution()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with image_io.replacing(path, overwrite=True, errors=()) as tmp:
            tmp.write_text(json.dumps(known, indent=1))
    except OSError as error:  # a read-only cache: measure again next time
        log.debug("could not keep the measured precision speeds in %s: %s", path, error)
    return speeds


def _cpu_key() -> str:
    """What decides the measurement: the CPU's name and vector flags, PyTorch and its threads."""
    flags = ",".join(sorted(f for f in cpu_flags() if "avx" in f or "amx" in f))
    return f"{cpu_model()}|{flags}|torch {torch.__version__}|threads {torch.get_num_threads()}"


def _time_convolution(channels: int = 128, side: int = 48, rounds: int = 5) -> dict[str, float]:
    """Best-of-``rounds`` milliseconds of one channels_last 3x3 convolution, [1, channels,
    side, side] (0.7 GFLOP), in fp32 and in bf16, taking turns (about 0.05 s in all)."""
    x = torch.randn(1, channels, side, side).contiguous(memory_format=torch.channels_last)
    cases = {}
    for name, dtype in (("fp32_ms", torch.float32), ("bf16_ms", torch.bfloat16)):
        conv = torch.nn.Conv2d(channels, channels, 3, padding=1).eval()
        cases[name] = (conv.to(dtype=dtype, memory_format=torch.channels_last), x.to(dtype))
    best = dict.fromkeys(cases, float("inf"))
    with torch.no_grad():
        for round_ in range(rounds + 1):  # the first round builds oneDNN's kernels: not timed
            for name, (conv, xi) in cases.items():
                start = time.perf_counter()
                conv(xi)
                if round_:
                    best[name] = min(best[name], (time.perf_counter() - start) * 1e3)
    return best


def cpu_prefers_winograd() -> bool:
    """True on x86 CPUs with AVX2 and FMA but no AVX-512, where NNPACK's Winograd
    convolutions ran VGG19 faster than oneDNN's direct fp32 ones (``models.winograd``).

    With AVX-512, oneDNN's direct convolutions have twice the vector width and NNPACK's
    kernels do not use it; that case is not measured, so it keeps oneDNN.
    """
    return avx2_without_avx512(cpu_flags()) and winograd.available()


def resolve_runtime(device: str = "auto", precision: str = "auto") -> Runtime:
    """Pick the device and precision; ``auto`` picks the fastest precision known to be safe.

    auto: bf16 on CPUs where it runs faster than fp32 (:func:`cpu_prefers_bf16`), else fp32; on CUDA bf16 where supported, else fp16;
    fp32 on MPS. channels_last on CPU and CUDA; Winograd convolutions for fp32 on CPUs that
    prefer them (:func:`cpu_prefers_winograd`).
    """
    dev = resolve_device(device)
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision == "auto":
        dtype = _auto_dtype(dev)
    elif precision in dtypes:
        dtype = dtypes[precision]
    else:
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16; got {precision!r}")
    if dev.type == "cpu" and dtype is torch.float16:
        _warn_once("fp16 on CPU is emulated and slow; bf16 or fp32 is a better choice")
    # cudnn.benchmark stays off: on an H200 it saved nothing once kernels were chosen (a
    # default 512 px run in a warm process: 2.25 s with it, 2.24 s without) and its
    # autotuning at each scale's new shapes cost 2-3 s of a fresh process's run.
    winograd = dev.type == "cpu" and dtype is torch.float32 and cpu_prefers_winograd()
    return Runtime(dev, dtype, channels_last=dev.type in ("cpu", "cuda"), winograd=winograd)


def _auto_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cpu":
        return torch.bfloat16 if cpu_prefers_bf16() else torch.float32
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32
