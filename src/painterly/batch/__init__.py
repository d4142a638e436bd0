"""Painting many photos: items from folders, globs and manifests; any engine; a record that
lets a rerun skip what is done; this process, local processes or a Ray cluster.

>>> from painterly.batch import FastEngine, gather, run_batch
>>> items = gather(["holiday/"], ["starry_night"], "png")
>>> summary = run_batch(items, FastEngine(size=512), Path("painted"))
>>> summary.done, summary.failed

The runners know nothing of how an engine paints: they call ``engine(item)`` for a
(1,3,H,W) image in [0,1] (see :mod:`painterly.batch.engines`).
"""

from .engines import FastEngine, OptimizeEngine
from .items import Item, gather, output_name, read_manifest
from .local import process_backend
from .record import RECORD_NAME, Entry, read_record
from .runner import BatchInterrupted, Result, Summary, local_backend, paint_one, plan, run_batch

__all__ = ["BatchInterrupted", "Entry", "FastEngine", "Item", "OptimizeEngine", "RECORD_NAME",
           "Result", "Summary", "gather", "local_backend", "output_name", "paint_one", "plan",
           "process_backend", "read_manifest", "read_record", "run_batch"]
