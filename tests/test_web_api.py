"""The studio's HTTP API, through Starlette's test client and (for streams) a real server.

Everything runs on a tiny random network at 32-48 px, so each job takes a fraction of a
second. Jobs that must stay running (queue positions, cancel, bursts) are held at a
:class:`Gate` in the network's preprocessing until the test opens it.
"""

from __future__ import annotations

import concurrent.futures
import gc
import io
import json
import struct
import threading
import time
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from starlette.testclient import TestClient

from painterly import StyleConfig
from painterly.models.vgg import Preprocess, random_vgg_like
from painterly.multiscale import Scale
from painterly.web import server
from painterly.web.app import create_app
from painterly.web.jobs import eta
from painterly.web.params import choices

try:  # the HTTP client Starlette's TestClient uses (httpx2; httpx before it)
    import httpx2 as httpx
except ImportError:
    import httpx

TINY = StyleConfig(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"),
                   size=32, iterations=4, scales=1, device="cpu", precision="fp32")
CAT, NIGHT = "ex-content-chelsea_cat", "ex-style-starry_night"


class Gate(torch.nn.Module):
    """Preprocessing that waits until the test opens it (shared by the run's network copy)."""

    def __init__(self):
        super().__init__()
        self.inner = Preprocess("torchvision")
        self.opened = threading.Event()
        self.entered = threading.Event()

    def forward(self, image):
        self.entered.set()
        if not self.opened.wait(20):
            raise TimeoutError("the test never opened the gate")
        return self.inner(image)

    def __deepcopy__(self, memo):
        return self


@pytest.fixture
def gate():
    gate = Gate()
    yield gate
    gate.opened.set()


def make_app(tmp_path, extractor=None, **options):
    options.setdefault("preview_interval", 0.0)
    return create_app(results_dir=tmp_path / "results",
                      extractor=extractor or random_vgg_like((8, 16)), base_config=TINY,
                      **options)


@pytest.fixture
def client(tmp_path):
    with TestClient(make_app(tmp_path), base_url="http://127.0.0.1") as client:
        yield client


@pytest.fixture
def gated(tmp_path, gate):
    app = make_app(tmp_path, random_vgg_like((8, 16), make_preprocess=lambda: gate),
                   max_queued=3)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client
        gate.opened.set()


def noise_png(width: int, height: int) -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header (CRC fixed up) claims ``width`` x ``height`` pixels."""
    data = bytearray(png_bytes(1, 1))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def png_bytes(width=40, height=30, mode="RGB") -> bytes:
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                       (x + y) % 256], axis=-1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(client, data: bytes, name="photo.png"):
    return client.post("/api/uploads", files={"file": (name, data, "image/png")})


def start(client, **params):
    return client.post("/api/jobs", json={"content": CAT, "style": NIGHT, **params})


def wait(client, job_id, states=("done", "failed", "cancelled"), timeout=30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not reach {states}: {job}")


def one_line_error(response, status: int) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert message and "\n" not in message and "Traceback" not in message
    return message


# ------------------------------------------------------------------ page and config

def test_page_and_assets_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "painterly studio" in page.text
    for asset in ("/static/app.js", "/static/app.css"):
        assert client.get(asset).status_code == 200
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN
    config = client.get("/api/config").json()
    assert config["defaults"]["size"] == TINY.size
    assert {e["id"] for e in config["examples"]} >= {CAT, NIGHT}
    assert config["preserve_color"] == choices("preserve_color")
    assert client.get(f"/api/images/{NIGHT}/thumb.jpg").headers["content-type"] == "image/jpeg"


# ------------------------------------------------------------------ uploads

def test_upload_is_decoded_and_stored_under_a_server_name(client):
    response = upload(client, png_bytes(), name="../../etc/evil photo.png")
    assert response.status_code == 201, response.text
    image = response.json()
    assert image["name"] == "evil photo.png" and (image["width"], image["height"]) == (40, 30)
    run_dir = client.app.state.run_dir
    stored = list((run_dir / "uploads").iterdir())
    assert [p.name for p in stored] == [f"{image['id']}.png"]
    assert client.get(image["thumb"]).status_code == 200
    job = start(client, content=image["id"]).json()
    assert wait(client, job["id"])["state"] == "done"


@pytest.mark.parametrize("data, status, words", [
    (b"", 400, "empty"),
    (b"this is not a picture at all", 400, "not an image"),
    (noise_png(64, 64)[:6000], 400, "truncated"),
])
def test_bad_files_are_rejected_with_a_message(client, data, status, words):
    message = one_line_error(upload(client, data, name="holiday.png"), status)
    assert message.startswith("holiday.png: ") and words in message
    assert not list((client.app.state.run_dir / "uploads").glob("*.png"))


def test_upload_limits_on_bytes_and_pixels(tmp_path):
    app = make_app(tmp_path, max_upload_bytes=20_000, max_upload_pixels=2_000)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        big = noise_png(120, 120)
        assert len(big) > 20_000
        assert "larger than the limit" in one_line_error(upload(client, big), 413)
        assert "exceeds the limit" in one_line_error(upload(client, png_bytes(60, 40)), 413)
        # a decompression bomb: a tiny file whose header promises 400 megapixels
        bomb = bomb_png(20_000, 20_000)
        assert len(bomb) < 100
        assert "exceeds the limit" in one_line_error(upload(client, bomb), 413)
        assert upload(client, png_bytes(40, 30)).status_code == 201


def test_upload_without_a_file_field_or_without_multipart(client):
    one_line_error(client.post("/api/uploads", data={"other": "x"}), 400)
    one_line_error(client.post("/api/uploads", content=b"raw bytes"), 400)


# ------------------------------------------------------------------ parameters

@pytest.mark.parametrize("params, words", [
    ({"size": -5}, "size"),
    ({"size": 0}, "size"),
    ({"size": "big"}, "size must be a whole number"),
    ({"size": True}, "size must be a whole number"),
    ({"size": 100_000}, "at most"),
    ({"iterations": 0}, "iterations"),
    ({"style_weight": -1}, "style_weight"),
    ({"seed": -1}, "seed"),
    ({"style_layers": ["relu9_9"]}, "unknown layer 'relu9_9'"),
    ({"content_layers": "relu2_1"}, "must be a list"),
    ({"init": "/etc/passwd"}, "init must be one of"),
    ({"weights": "/tmp/evil.pth"}, "unknown parameter 'weights'"),
    ({"device": "cuda"}, "unknown parameter 'device'"),
    ({"content": "../../etc/passwd"}, "no image with id"),
    ({"style": None}, "style must be the id"),
])
def test_bad_parameters_get_a_one_line_400(client, params, words):
    assert words in one_line_error(start(client, **params), 400)
    assert client.get("/api/jobs").json()["jobs"] == []


def test_non_json_and_non_object_bodies(client):
    one_line_error(client.post("/api/jobs", content=b"{not json",
                               headers={"content-type": "application/json"}), 400)
    one_line_error(client.post("/api/jobs", json=[CAT, NIGHT]), 400)
    one_line_error(client.post("/api/jobs", content=b"{" + b" " * 70_000 + b"}"), 413)


# ------------------------------------------------------------------ jobs, results

def test_job_runs_and_result_downloads_as_png_with_parameters(client):
    response = start(client, size=40, iterations=3, seed=7, style_weight=20)
    assert response.status_code == 202
    job = wait(client, response.json()["id"])
    assert job["state"] == "done", job
    assert job["progress"]["done"] == job["progress"]["total"] == 3
    download = client.get(job["download"])
    assert download.status_code == 200 and download.headers["content-type"] == "image/png"
    assert download.headers["content-disposition"].startswith("attachment")
    image = Image.open(io.BytesIO(download.content))
    assert max(image.size) == 40
    record = json.loads(image.text["painterly"])
    assert record["config"]["size"] == 40 and record["config"]["seed"] == 7
    assert record["config"]["style_weight"] == 20 and record["studio"] is True
    assert client.get(job["result"]).headers["content-disposition"].startswith("inline")
    assert client.get(job["thumb"]).headers["content-type"] == "image/jpeg"
    assert [j["id"] for j in client.get("/api/jobs").json()["jobs"]] == [job["id"]]
    results = list((client.app.state.run_dir / "results").iterdir())
    assert len(results) == 1 and results[0].parent.parent == client.app.state.run_dir


def test_colour_preservation_passes_through(client):
    value = choices("preserve_color")[-1]
    job = wait(client, start(client, preserve_color=value).json()["id"])
    assert job["state"] == "done" and job["info"]["params"]["preserve_color"] == value
    record = json.loads(Image.open(io.BytesIO(client.get(job["result"]).content)).text["painterly"])
    assert record["config"]["preserve_color"] == value
    assert "preserve_color" in one_line_error(start(client, preserve_color="sepia"), 400)


def test_results_are_served_only_by_job_id(client):
    job = wait(client, start(client).json()["id"])
    for path in ["/api/jobs/../../etc/passwd/result.png",
                 "/api/jobs/..%2F..%2Fetc%2Fpasswd/result.png",
                 f"/api/jobs/{job['id']}%2F..%2F..%2Fpyproject.toml/result.png",
                 "/api/jobs/0000/result.png", "/api/images/..%2F..%2Fsetup.py/thumb.jpg",
                 "/static/../app.py", "/static/%2e%2e/app.py"]:
        response = client.get(path)
        assert response.status_code == 404, path
    assert client.get(f"{job['result']}?path=../../pyproject.toml").content[:4] == b"\x89PNG"


def test_a_failed_run_reports_its_error_and_the_worker_goes_on(client):
    # relu3_1 is a valid VGG19 layer that the tiny network lacks: the run itself fails
    job = wait(client, start(client, style_layers=["relu3_1"]).json()["id"])
    assert job["state"] == "failed" and "relu3_1" in job["error"]
    assert wait(client, start(client).json()["id"])["state"] == "done"


def test_requests_from_other_sites_and_hosts_are_refused(client):
    body = {"content": CAT, "style": NIGHT}
    one_line_error(client.post("/api/jobs", json=body, headers={"origin": "http://evil.example"}),
                   403)
    assert client.get("/api/config", headers={"host": "evil.example"}).status_code == 400
    same = client.post("/api/jobs", json=body, headers={"origin": "http://127.0.0.1"})
    assert same.status_code == 202


# ------------------------------------------------------------------ queue and cancel

def test_queue_positions_and_cancel_running_and_queued(gated, gate):
    first = start(gated).json()
    assert gate.entered.wait(10)  # the first job is running, held at the gate
    second, third = start(gated).json(), start(gated).json()
    assert gated.get(f"/api/jobs/{first['id']}").json()["state"] == "running"
    assert (second["state"], second["position"]) == ("queued", 1)
    assert (third["state"], third["position"]) == ("queued", 2)

    assert gated.post(f"/api/jobs/{second['id']}/cancel").json()["state"] == "cancelled"
    assert gated.get(f"/api/jobs/{third['id']}").json()["position"] == 1

    running = gated.post(f"/api/jobs/{first['id']}/cancel").json()
    assert running["state"] == "running" and running["cancelling"]
    gate.opened.set()
    assert wait(gated, first["id"])["state"] == "cancelled"
    assert wait(gated, third["id"])["state"] == "done"
    assert gated.post("/api/jobs/nope/cancel").status_code == 404
    done = gated.post(f"/api/jobs/{third['id']}/cancel").json()
    assert done["state"] == "done"  # cancelling a finished job changes nothing


def test_cancel_frees_the_run_s_memory(gated, gate):
    def tensors() -> int:
        gc.collect()
        return sum(1 for obj in gc.get_objects() if issubclass(type(obj), torch.Tensor))

    gate.opened.set()
    wait(gated, start(gated).json()["id"])  # warm up whatever is cached for good
    gate.opened.clear()
    before = tensors()
    job = start(gated, size=48, iterations=50).json()
    assert gate.entered.wait(10)
    gate.opened.set()
    while gated.get(f"/api/jobs/{job['id']}").json()["progress"] is None:
        time.sleep(0.01)
    assert tensors() > before  # the run holds its network copy and images
    gated.post(f"/api/jobs/{job['id']}/cancel")
    assert wait(gated, job["id"])["state"] == "cancelled"
    assert tensors() <= before


def test_full_queue_answers_429(gated, gate):
    start(gated)
    assert gate.entered.wait(10)
    answers = [start(gated) for _ in range(5)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429, 429]
    assert "queue is full" in one_line_error(answers[-1], 429)
    assert answers[-1].headers["retry-after"]


# ------------------------------------------------------------------ progress stream

def events_of(text: str) -> list[tuple[str, dict]]:
    found = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines()
                      if ": " in line and not line.startswith(":"))
        if "event" in fields:
            found.append((fields["event"], json.loads(fields["data"])))
    return found


def test_event_stream_delivers_progress_then_done(client):
    job = start(client, iterations=12).json()
    response = client.get(job["events"])  # the stream ends after the final event
    assert response.headers["content-type"].startswith("text/event-stream")
    events = events_of(response.text)
    names = [name for name, _ in events]
    assert names[-1] == "done" and "progress" in names and names.count("done") == 1
    progress = [data for name, data in events if name == "progress"]
    points = [p for data in progress for p in data["points"]]
    assert [p[0] for p in points] == list(range(1, 13))  # every step's losses, once
    last = progress[-1]
    assert last["done"] == last["total"] == 12 and set(last["losses"]) >= {"content", "style"}
    assert last["eta"] == 0 and last["preview"].startswith(f"/api/jobs/{job['id']}/preview.jpg")
    assert client.get(last["preview"]).headers["content-type"] == "image/jpeg"
    assert events[-1][1]["result"].endswith("/result.png")
    again = events_of(client.get(job["events"]).text)  # a late client gets the whole curve
    assert sum(len(d["points"]) for n, d in again if n == "progress") == 12


def test_stream_of_a_queued_job_shows_its_position(gated, gate):
    start(gated)
    assert gate.entered.wait(10)
    second = start(gated).json()
    threading.Timer(0.5, lambda: gated.post(f"/api/jobs/{second['id']}/cancel")).start()
    events = events_of(gated.get(second["events"]).text)  # returns once it is cancelled
    assert events[0] == ("status", {"id": second["id"], "state": "queued", "position": 1,
                                    "cancelling": False})
    assert [name for name, _ in events[1:]] == ["status", "cancelled"]


# ------------------------------------------------------------------ explore tab

def test_explore_views_run_through_the_queue(client):
    status = client.get("/api/explore").json()
    assert status["available"], status["message"]
    views = {view["id"]: view for view in status["views"]}
    assert {"activations", "neurons"} <= set(views)
    assert views["activations"]["layers"] == ["conv1_1", "relu1_1", "conv2_1", "relu2_1"]
    response = client.post("/api/explore", json={"view": "activations", "image": CAT,
                                                 "layer": "relu2_1"})
    assert response.status_code == 202, response.text
    job = wait(client, response.json()["id"])
    assert job["state"] == "done", job
    assert events_of(client.get(job["events"]).text)[-1][0] == "done"  # no losses: still JSON
    image = Image.open(io.BytesIO(client.get(job["download"]).content))
    assert json.loads(image.text["painterly"])["explore"]["settings"]["layer"] == "relu2_1"


@pytest.mark.parametrize("body, words", [
    ({"view": "telepathy", "image": CAT}, "view must be one of"),
    ({"view": "activations", "image": CAT, "layer": "relu5_1"}, "unknown layer 'relu5_1'"),
    ({"view": "activations", "image": "../x"}, "no image with id"),
    ({"view": "activations", "image": CAT, "size": 4096}, "unknown parameter 'size'"),
])
def test_explore_bad_requests(client, body, words):
    assert words in one_line_error(client.post("/api/explore", json=body), 400)


def test_eta_counts_pixels_not_steps():
    stages = (Scale(64, 40), Scale(128, 20))
    # after the coarse scale (40 steps of 1/4 the cost), a third of the work is done
    assert eta(stages, 1, 40, 10.0) == pytest.approx(20.0)
    assert eta(stages, 2, 20, 30.0) == 0
    assert eta(stages, 1, 1, 0.0) is None


# ------------------------------------------------------------------ a real server

@pytest.fixture
def live(tmp_path, gate):
    app = make_app(tmp_path, random_vgg_like((8, 16), make_preprocess=lambda: gate),
                   max_queued=8)
    with server.background(app) as url:
        yield url, app
        gate.opened.set()


def test_client_that_disconnects_mid_stream_does_not_stop_the_job(live, gate):
    url, app = live
    with httpx.Client(base_url=url, timeout=10) as http:
        job = http.post("/api/jobs", json={"content": CAT, "style": NIGHT,
                                           "iterations": 30}).json()
        gate.opened.set()
        with http.stream("GET", job["events"]) as stream:
            lines = stream.iter_lines()
            while not next(lines).startswith("event: progress"):
                pass
        # the connection is closed mid-job; the job and the server carry on
        deadline = time.monotonic() + 20
        while http.get(f"/api/jobs/{job['id']}").json()["state"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert http.get(f"/api/jobs/{job['id']}/result.png").status_code == 200


def test_a_burst_of_requests_is_handled(live, gate):
    url, app = live

    def post(_):
        with httpx.Client(base_url=url, timeout=20) as http:
            return http.post("/api/jobs", json={"content": CAT, "style": NIGHT}).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(post, range(20)))
    assert codes.count(202) == 9 and codes.count(429) == 11  # 1 running + 8 waiting
    with httpx.Client(base_url=url, timeout=10) as http:
        jobs = http.get("/api/jobs").json()["jobs"]
        assert sorted(j["position"] for j in jobs if j["state"] == "queued") == list(range(1, 9))
        for job in jobs:
            http.post(f"/api/jobs/{job['id']}/cancel")
        gate.opened.set()
        deadline = time.monotonic() + 20
        while any(j["state"] not in ("cancelled", "done")
                  for j in http.get("/api/jobs").json()["jobs"]):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert http.get("/api/config").status_code == 200
