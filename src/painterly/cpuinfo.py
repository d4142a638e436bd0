"""What this CPU can do, read from /proc/cpuinfo without importing PyTorch (Linux; elsewhere
nothing is known and every check says no), and the process-wide settings that suit it,
made before PyTorch loads."""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from pathlib import Path

OPENMP_SPIN = "30000"
"""GOMP_SPINCOUNT that :func:`shorten_openmp_spin` sets: how long OpenMP's idle threads spin.

PyTorch's OpenMP threads spin after each parallel operation (libgomp's default, 300000
turns, lasts milliseconds) in case another follows at once. NNPACK's Winograd convolutions
(``models/winograd.py``) run on threads of their own, and on a 2-core AVX2 EPYC one that
followed a ReLU took 17 ms instead of 11.5 while the spinning threads held the cores. With
30000 turns a 512 px optimiser step took 1.07 s instead of 1.16 (1.58 s without Winograd),
a 256 px step 0.35 s instead of 0.41 (0.39 s without), and the fast network painted as fast
as before."""


@functools.cache  # read once: every resolve_runtime asks, and the fields never change
def _cpuinfo_field(name: str) -> str:
    """The first /proc/cpuinfo line's value for ``name``; '' if unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    for line in text.splitlines():
        if line.split(":", 1)[0].strip() == name:
            return line.split(":", 1)[1].strip()
    return ""


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (``avx2``, ``avx512f``, ``amx_bf16``, ...); empty if unknown."""
    return frozenset(_cpuinfo_field("flags").split())


def cpu_model() -> str:
    """The CPU's name, e.g. ``AMD EPYC 9R14 96-Core Processor``; '' if unknown."""
    return _cpuinfo_field("model name")


def avx2_without_avx512(flags: frozenset[str] | set[str] | None = None) -> bool:
    """True on x86 CPUs with AVX2 and FMA but no AVX-512: where painterly runs VGG19 in fp32
    with Winograd convolutions (``devices.cpu_prefers_winograd``)."""
    flags = cpu_flags() if flags is None else flags
    return {"avx2", "fma"} <= flags and "avx512f" not in flags


def shorten_openmp_spin() -> None:
    """Set GOMP_SPINCOUNT to ``OPENMP_SPIN`` on CPUs that use Winograd convolutions, unless
    already set. ``import painterly`` calls it; OpenMP reads it once, when PyTorch loads it,
    so a program that imports torch before painterly keeps OpenMP's default."""
    if avx2_without_avx512():
        os.environ.setdefault("GOMP_SPINCOUNT", OPENMP_SPIN)


KEEP_FREE_HEAP_BYTES = 1 << 30
"""Free memory at the top of the heap that glibc keeps for reuse before it returns any."""


def reuse_freed_memory() -> bool:
    """Keep the memory that freed tensors leave for the next ones, instead of handing each
    large block back to the system; True where that took (glibc), False elsewhere.

    glibc serves every block above its mmap threshold (at most 32 MB) by mmap and unmaps it
    when freed, so each fresh activation of that size pays a page fault for every 4 KB page
    it touches: an out-of-place ReLU on a 64x512x512 bf16 activation took 16-19 ms, 5 ms in
    place, 8 ms with mmap off. Then freed blocks are reused from the heap: in alternating
    runs on a 2-core Xeon the bundled fast network painted 1024x576 in 150-208 ms instead of
    199-252 (512x288: 32-48 against 37-73), universal style transfer a 512x512 photo in
    1.0-1.1 s instead of 1.2-1.5, and the demo took 31.2 s against 32.5, at the same peak
    memory. Process-wide, so painterly's commands set it (``cli.main``, and the worker
    processes they spawn), not ``import painterly``: a program that imports painterly keeps
    its own allocator's settings.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # glibc's <malloc.h>
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, KEEP_FREE_HEAP_BYTES))
