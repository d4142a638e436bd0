"""Several processes on this machine: one engine per process, built once, items handed out
one at a time (``painterly batch --workers N``)."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator, Sequence

import torch

from ..cpuinfo import reuse_freed_memory
from .items import Item
from .runner import Backend, Result, paint_one

_ENGINE = None


def _start_worker(engine, threads: int) -> None:
    """In each worker: Ctrl-C is the parent's to handle (it stops the pool); own threads;
    freed memory reused, as in the ``painterly`` process (``cpuinfo.reuse_freed_memory``)."""
    global _ENGINE
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    reuse_freed_memory()
    _ENGINE = engine


def _paint(item: Item) -> Result:
    return paint_one(_ENGINE, item)


def process_backend(engine, workers: int, threads: int | None = None) -> Backend:
    """Paint in ``workers`` processes (spawned: no forked PyTorch state), each with
    ``threads`` PyTorch threads (default: the cores shared out among the workers)."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    threads = threads or max(1, len(os.sched_getaffinity(0)) // workers
                             if hasattr(os, "sched_getaffinity") else 1)

    def run(items: Sequence[Item]) -> Iterator[Result]:
        context = multiprocessing.get_context("spawn")
        pool = context.Pool(min(workers, len(items)), _start_worker, (engine, threads))
        try:
            yield from pool.imap_unordered(_paint, items, chunksize=1)
            pool.close()
        finally:
            pool.terminate()  # on Ctrl-C or an early stop: the running items are dropped
            pool.join()
    return run
