"""Painting on a Ray cluster (``painterly batch --ray ADDRESS``).

* The optimiser: one Ray task per image, each asking for ``cpus`` CPUs and ``gpus`` GPUs.
  Ray reruns a task whose worker or node died (``retries`` times); its item is then painted
  again from the start, and nothing else is lost.
* The fast engine: Ray Data ``map_batches`` through a pool of actors, each holding the
  network; Ray Data restarts a dead actor and reruns its batches.

Workers read the photos by path (every node must see them: one machine, or a shared file
system) and send the pixels back; the driver writes every output and the record
(:mod:`painterly.batch.runner`), so an item retried after a node died is written once.
Ray is an optional dependency: ``pip install "painterly[ray]"``.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator, Sequence

import numpy as np

from .items import Item
from ..errors import one_line
from .runner import Backend, Result, paint_one

INSTALL_HINT = 'pip install "painterly[ray]"'
_RESULT_FIELDS = ("key", "error", "pixels", "width", "height", "seconds", "worker")
_WORKER_ENGINES: dict[str, object] = {}


def import_ray():
    """The ``ray`` module; ImportError (one line, saying how to install it) without it."""
    try:
        import ray
    except ImportError:
        raise ImportError(f"--ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def connect(address: str):
    """Join the cluster at ``address`` (``host:port`` or ``auto``) as its driver; returns
    (``ray``, a function that leaves the cluster again, doing nothing where this process had
    joined it already). Raises ConnectionError (one line) when no cluster answers there."""
    ray = import_ray()
    if ray.is_initialized():
        return ray, lambda: None
    _check_reachable(address)
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING,
                 configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConnectionError(f"cannot join the Ray cluster at {address!r}: {one_line(exc)} "
                              "(start one with `ray start --head`)") from None
    return ray, ray.shutdown


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """ConnectionError (one line) unless something listens at ``host:port``: Ray itself
    retries an address where nothing answers for minutes before giving up."""
    host, sep, port = address.rpartition(":")
    if address == "auto" or not sep or not port.isdigit():
        return  # ``auto`` and other forms are Ray's to resolve
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionError(f"cannot join the Ray cluster at {address!r}: nothing answers "
                              f"there ({one_line(exc)}); start one with `ray start --head`") from None


def _cached_engine(ray, holder: list):
    """The engine behind ``holder[0]`` (an ObjectRef), fetched once per worker process."""
    key = holder[0].hex()
    if key not in _WORKER_ENGINES:
        _WORKER_ENGINES[key] = ray.get(holder[0])
    return _WORKER_ENGINES[key]


def _paint_task(holder: list, item: Item) -> Result:
    import ray

    return paint_one(_cached_engine(ray, holder), item)


def task_backend(engine, address: str, *, cpus: float = 1, gpus: float = 0,
                 retries: int = 3, in_flight: int | None = None) -> Backend:
    """One Ray task per item. At most ``in_flight`` tasks are submitted at a time (default:
    twice the tasks the cluster can run at once), so a huge batch does not flood the
    cluster's scheduler; Ctrl-C cancels the rest."""
    def run(items: Sequence[Item]) -> Iterator[Result]:
        ray, leave = connect(address)
        try:
            remote = ray.remote(_paint_task).options(num_cpus=cpus, num_gpus=gpus,
                                                     max_retries=retries)
            holder = [ray.put(engine)]  # in a list: passed as a reference, fetched once
            limit = in_flight or slots(ray, cpus, gpus) * 2
            pending: dict = {}
            queue = iter(items)
            try:
                while True:
                    for item in queue:
                        pending[remote.remote(holder, item)] = item
                        if len(pending) >= limit:
                            break
                    if not pending:
                        return
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    item = pending.pop(ready[0])
                    try:
                        yield ray.get(ready[0])
                    except ray.exceptions.RayError as exc:  # retries used up
                        yield Result(item.key, error=f"Ray: {one_line(exc)}")
            finally:
                for ref in pending:
                    ray.cancel(ref, force=True)
        finally:
            leave()
    return run


def slots(ray, cpus: float, gpus: float) -> int:
    """How many tasks of this shape the cluster can run at once (at least 1)."""
    total = ray.cluster_resources()
    counts = [total.get("CPU", 0) // cpus] if cpus else []
    if gpus:
        counts.append(total.get("GPU", 0) // gpus)
    return max(1, int(min(counts, default=1)))


class _PainterActor:
    """A Ray Data actor: builds the engine's network once, paints batches of rows."""

    def __init__(self, engine):
        self.engine = engine

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = [paint_one(self.engine, Item(key, photo, tuple(json.loads(styles)),
                                               json.loads(options)))
                   for key, photo, styles, options in zip(batch["key"], batch["photo"],
                                                          batch["styles"], batch["options"])]
        out = {name: [getattr(r, name) for r in results] for name in _RESULT_FIELDS}
        out["error"] = [e or "" for e in out["error"]]
        out["pixels"] = [p or b"" for p in out["pixels"]]
        return {name: np.array(values, dtype=object) for name, values in out.items()}


def data_backend(engine, address: str, *, actors: int | tuple[int, int] | None = None,
                 cpus: float = 1, gpus: float = 0, batch_size: int = 4) -> Backend:
    """Ray Data: the items as a dataset, ``map_batches`` through ``actors`` actors (a number,
    or (least, most) to scale with the cluster; default: as many as fit) that each hold
    ``engine``'s network; results stream back to this process as they are painted."""
    def run(items: Sequence[Item]) -> Iterator[Result]:
        ray, leave = connect(address)
        try:
            context = ray.data.DataContext.get_current()
            context.enable_progress_bars = False  # the library never prints
            context.execution_options.preserve_order = False
            logging.getLogger("ray.data").setLevel(logging.WARNING)
            least, most = actors if isinstance(actors, tuple) else (actors or 1, actors or slots(ray, cpus, gpus))
            rows = [{"key": item.key, "photo": item.photo, "styles": json.dumps(item.styles),
                     "options": json.dumps(item.options)} for item in items]
            blocks = max(1, -(-len(rows) // batch_size))
            dataset = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
                _PainterActor, fn_constructor_args=(engine,), batch_size=batch_size,
                compute=ray.data.ActorPoolStrategy(min_size=least, max_size=most), num_cpus=cpus,
                num_gpus=gpus, batch_format="numpy")
            for row in dataset.iter_rows():
                yield Result(str(row["key"]), error=str(row["error"]) or None,
                             pixels=bytes(row["pixels"]) or None, width=int(row["width"]),
                             height=int(row["height"]), seconds=float(row["seconds"]),
                             worker=str(row["worker"]))
        finally:
            leave()
    return run
