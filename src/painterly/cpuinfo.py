"""What this CPU can do, read from /proc/cpuinfo without importing PyTorch (Linux; elsewhere
nothing is known and every check says no)."""

from __future__ import annotations

import functools
import os
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


@functools.cache  # read once: every resolve_runtime asks, and the flags never change
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (``avx2``, ``avx512f``, ``amx_bf16``, ...); empty if unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


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
