"""``painterly batch --ray`` on a real local Ray cluster: a head and a second node, separate
processes on 127.0.0.1, started once for this module and stopped at its end."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
from synthetic import photo_folder
import torch
from PIL import Image

ray = pytest.importorskip("ray", reason='needs pip install "painterly[ray]"')
from ray import cloudpickle  # noqa: E402

from painterly import batch  # noqa: E402
from painterly.batch import cluster as ray_backends  # noqa: E402
from painterly.fast import FastStyles, save_styles  # noqa: E402
from test_fast import tiny_net  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the test engine, on every node


class LocalCluster:
    """``ray start --head`` and ``ray start --address`` on 127.0.0.1, each ``--block``ing in
    its own process group, so that one node can be killed outright and nothing outlives the
    test: every process whose command line names this cluster's temporary folder is killed."""

    def __init__(self, head_cpus: int = 1, worker_cpus: int = 1):
        self.temp = tempfile.mkdtemp(prefix="pray")  # short: Unix socket paths are limited
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.address = f"127.0.0.1:{port}"
        ray_cli = [os.path.join(os.path.dirname(sys.executable), "ray"), "start", "--block",
                   "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
        self.head = self._start(ray_cli + [f"--num-cpus={head_cpus}", "--head", f"--port={port}", "--include-dashboard=false",
                                           f"--temp-dir={self.temp}"])
        self.worker_command = ray_cli + [f"--num-cpus={worker_cpus}", f"--address={self.address}"]
        self.worker = self._start(self.worker_command) if worker_cpus else None
        self._wait(nodes=2 if worker_cpus else 1)

    @staticmethod
    def _start(command):
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)

    def _wait(self, nodes: int, timeout: float = 90) -> None:
        probe = (f"import ray; ray.init(address={self.address!r}, logging_level='ERROR'); "
                 "print(sum(n['Alive'] for n in ray.nodes()))")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                   timeout=timeout)
            if found.stdout.strip() == str(nodes):
                return
            time.sleep(1)
        raise RuntimeError(f"the local Ray cluster did not start {nodes} nodes")

    def kill_worker(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait()

    def revive_worker(self) -> None:
        """A new worker node in place of one that was killed."""
        if self.worker.poll() is not None:
            self.worker = self._start(self.worker_command)
            self._wait(nodes=2)

    def stop(self) -> None:
        for node in filter(None, (self.worker, self.head)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.pid, signal.SIGKILL)
            node.wait()
        for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
            with contextlib.suppress(OSError):
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    if self.temp.encode() in cmdline.read():
                        os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.temp, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    """One local cluster for the module: a head (1 CPU) and a worker node (1 CPU)."""
    nodes = LocalCluster()
    try:
        yield nodes
    finally:
        if ray.is_initialized():
            ray.shutdown()
        nodes.stop()


@pytest.fixture
def photos(tmp_path):
    return photo_folder(tmp_path, 6)


class SlowEngine:
    """Paints a grey picture after ``delay`` seconds: long enough to kill a node mid-batch."""

    name = "slow"

    def __init__(self, delay: float):
        self.delay = delay

    def check(self, items):
        pass

    def __call__(self, item):
        Image.open(item.photo).verify()
        time.sleep(self.delay)
        return torch.full((1, 3, 8, 8), 0.5)

    def describe(self, item):
        return {"engine": self.name}


def lines(record):
    return [json.loads(line) for line in record.read_text().splitlines()]


def test_fast_engine_through_ray_data_records_the_broken_file(cluster, photos, tmp_path):
    style = save_styles(FastStyles(tiny_net(), ["a", "b"], {}), tmp_path / "tiny")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "painterly", "batch", str(photos), "--style", f"{style}/a",
               "--size", "32", "-o", str(out), "--ray", cluster.address, "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "painterly: error" not in done.stderr, done.stderr
    written = sorted(p.name for p in out.glob("*.png"))
    assert written == [f"p{n}.a.png" for n in range(6)]
    entries = lines(out / batch.RECORD_NAME)
    failed = [e for e in entries if e["status"] == "failed"]
    assert len(entries) == 7 and [e["key"] for e in failed] == ["broken.a.png"]
    assert "broken.png" in failed[0]["error"] and "\n" not in failed[0]["error"]


def test_killing_the_worker_node_mid_batch_loses_and_doubles_nothing(cluster, photos, tmp_path):
    items = batch.gather([str(photos)], ["x"], "png")
    out, killed = tmp_path / "out", []

    def kill_after_first(result, summary):
        if not killed:
            cluster.kill_worker()
            killed.append(summary.done + summary.failed)

    backend = ray_backends.task_backend(SlowEngine(1.0), cluster.address, in_flight=4)
    summary = batch.run_batch(items, SlowEngine(1.0), out, backend=backend,
                              callback=kill_after_first)
    assert killed == [1]
    assert (summary.done, summary.failed) == (6, 1)
    keys = [e["key"] for e in lines(out / batch.RECORD_NAME)]
    assert sorted(keys) == sorted(item.key for item in items)  # each item recorded once
    assert sorted(p.name for p in out.glob("*.png")) == sorted(
        item.key for item in items if "broken" not in item.key)


class SlowVideoEngine:
    """Paints each frame inverted after ``delay`` seconds, noting every call in ``log``."""

    def __init__(self, delay: float, log: str):
        self.delay, self.log = delay, log

    def __call__(self, frame, previous_frame, previous_painted):
        with open(self.log, "a") as log:
            log.write("frame\n")
        time.sleep(self.delay)
        return 255 - frame


def test_a_clip_in_segments_survives_a_dead_node_repainting_at_most_a_frame(cluster, tmp_path):
    pytest.importorskip("av")
    from test_video import decoded, make_clip

    from painterly.video import paint_clip, probe

    cluster.revive_worker()
    clip, out, log = make_clip(tmp_path / "in.mp4", frames=16), tmp_path / "out.mp4", tmp_path / "calls"
    killed = []

    def kill_mid_clip(progress):
        if progress.painted >= 2 and not killed:
            cluster.kill_worker()
            killed.append(progress.painted)

    backend = functools.partial(ray_backends.task_backend, address=cluster.address)
    paint_clip(probe(clip), out, SlowVideoEngine(0.4, str(log)), segments=2, overlap=2,
               backend=backend, callback=kill_mid_clip)
    assert killed and decoded(out)[0] == 16
    calls = len(log.read_text().splitlines())
    assert 18 <= calls <= 19  # 16 frames and a lead-in of 2, plus the frame the kill cut short


def test_an_address_where_nothing_listens_is_refused_at_once():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}.*nothing answers") as info:
        ray_backends.connect(f"127.0.0.1:{port}")  # checked before Ray retries for minutes
    assert "\n" not in str(info.value)
