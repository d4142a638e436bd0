"""The studio's guards: every malformed request gets a 4xx with a one-line JSON error and
no traceback in the log, whatever the body, the headers or the uploaded file.

Hypothesis generates the requests against a studio whose queue takes no jobs
(``max_queued=0``), so a request that happens to be valid is answered 429 and nothing is
ever painted. The fixed cases below are the reproductions these properties grew from.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import math
import os
import pathlib
import urllib.parse

import anyio
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from starlette.testclient import TestClient
from test_web_api import CAT, NIGHT, TINY, png_bytes, start, upload, wait
from test_web_fast import jpeg_bytes, tiny_styles

from painterly import StyleConfig
from painterly.models.vgg import random_vgg_like
from painterly.web import guards
from painterly.web.app import create_app
from painterly.web.params import Limits, ParamError, parse_job, work

FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


class Recorder(logging.Handler):
    """Every log record, to find tracebacks (records with exc_info) and errors."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def tracebacks(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()}" for r in self.records
                if r.exc_info or r.levelno >= logging.ERROR]


@pytest.fixture
def log():
    recorder = Recorder()
    root = logging.getLogger()
    root.addHandler(recorder)
    yield recorder
    root.removeHandler(recorder)


def studio(tmp_path, **options) -> TestClient:
    options.setdefault("base_config", TINY)
    app = create_app(results_dir=tmp_path / "results", extractor=random_vgg_like((8, 16)),
                     preview_interval=0.0, **options)
    return TestClient(app, base_url="http://127.0.0.1")


@pytest.fixture(scope="module")
def closed(tmp_path_factory):
    """A studio whose queue is full from the start (valid jobs get 429), with fast styles."""
    with studio(tmp_path_factory.mktemp("closed"), max_queued=0,
                fast_styles=tiny_styles()) as client:
        yield client


@pytest.fixture
def client(tmp_path):
    with studio(tmp_path) as client:
        yield client


def refused(response, log: Recorder, statuses=range(400, 500)) -> str:
    """The one-line error of a refusal with a status in ``statuses``; nothing logged as an
    error or with a traceback."""
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    assert isinstance(message, str) and message and "\n" not in message
    assert "Traceback" not in message and len(message) < 600
    assert not log.tracebacks(), log.tracebacks()
    return message


# ------------------------------------------------------------------ bodies

def nested(depth: int, opener: str = "[") -> bytes:
    closer = {"[": "]", '{"a":': "}"}[opener]
    return (opener * depth + "0" + closer * depth).encode()


@pytest.mark.parametrize("route", ["/api/jobs", "/api/fast", "/api/explore", "/api/universal"])
@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deeply_nested_json_is_a_400(closed, log, route, opener):
    body = nested(20_000 // len(opener), opener)  # 40 KB, under the 64 KB body limit
    message = refused(closed.post(route, content=body,
                                  headers={"content-type": "application/json"}), log, {400})
    assert "nested too deeply" in message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=4),
    max_leaves=20)
setting_values = json_values | st.sampled_from(
    [0, -1, 2**63, 2**64, 10**30, 1e308, math.nan, math.inf, -math.inf, "", "NaN", [], [""],
     ["relu9_9"], ["relu1_1"] * 50, True, 0.5, "luminance", "../../etc/passwd"])
job_bodies = st.fixed_dictionaries(
    {}, optional={key: setting_values for key in
                  ("content", "style", "size", "iterations", "scales", "seed", "style_weight",
                   "content_weight", "tv_weight", "init", "optimizer", "pooling",
                   "content_layers", "style_layers", "preserve_color", "weights", "device",
                   "image", "view", "layer")})
ids = st.sampled_from([CAT, NIGHT, "ex-content-nope", "", "0" * 24])


@FAST
@given(body=json_values | job_bodies | job_bodies.map(lambda b: {"content": CAT,
                                                                 "style": NIGHT, **b}),
       route=st.sampled_from(["/api/jobs", "/api/fast", "/api/explore", "/api/universal",
                             "/api/clips/paint"]))
def test_any_json_body_is_answered_with_a_4xx(closed, log, body, route):
    data = json.dumps(body, allow_nan=True).encode()
    refused(closed.post(route, content=data, headers={"content-type": "application/json"}), log)


@FAST
@given(data=st.binary(max_size=300) | st.integers(1, 3000).map(nested),
       route=st.sampled_from(["/api/jobs", "/api/fast", "/api/explore", "/api/universal",
                             "/api/clips/paint"]))
def test_any_bytes_as_a_json_body_are_answered_with_a_4xx(closed, log, data, route):
    refused(closed.post(route, content=data, headers={"content-type": "application/json"}), log)


@pytest.mark.parametrize("params, words", [
    ({"style_weight": math.nan}, "style_weight"),
    ({"content_weight": math.inf}, "content_weight"),
    ({"seed": 2**63}, "seed"),
    ({"seed": 2**64}, "seed"),
    ({"seed": -1}, "seed"),
    ({"style_layers": []}, "style_layers"),
    ({"content_weight": 0, "style_weight": 0, "tv_weight": 0}, "weight"),
    ({"size": 2048, "iterations": 2000, "scales": 5}, "too long for the studio"),
])
def test_configuration_errors_are_a_400_naming_the_setting(closed, log, params, words):
    body = json.dumps({"content": CAT, "style": NIGHT, **params}, allow_nan=True)
    message = refused(closed.post("/api/jobs", content=body.encode(),
                                  headers={"content-type": "application/json"}), log, {400})
    assert words in message


def test_the_work_limit_admits_the_default_schedule_at_the_largest_size():
    limits, base = Limits(), StyleConfig(device="cpu")
    largest = parse_job({"content": CAT, "style": NIGHT, "size": limits.max_size}, base, limits)
    assert work(largest[2]) <= limits.max_work
    assert work(base.replace(size=512, iterations=2000, scales=1)) <= limits.max_work
    with pytest.raises(ParamError, match="size 2048, iterations 2000 and scales 5"):
        parse_job({"content": CAT, "style": NIGHT, "size": 2048, "iterations": 2000,
                   "scales": 5}, base, limits)
    # the old bounds alone allowed 20,000 steps; the work bound keeps a job under an hour
    assert work(base.replace(size=2048, iterations=2000, scales=5)) > 10 * limits.max_work


# ------------------------------------------------------------------ headers, paths, methods

def raw(client: TestClient, method: str, target: str, headers: dict[str, bytes],
        body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One request through ASGI with header values as given, byte for byte (TestClient
    re-encodes them as UTF-8; a real client may send any byte a server lets through, e.g.
    Latin-1 "²" = 0xB2). Returns (status, response headers, body)."""
    path, _, query = target.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": urllib.parse.unquote(path),
             "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [(b"host", b"127.0.0.1")] * ("host" not in headers)
             + [(name.encode(), value) for name, value in headers.items()],
             "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 80), "state": {}}

    async def run():
        pending = [{"type": "http.request", "body": body, "more_body": False}]
        sent, never = [], anyio.Event()  # the client stays connected until the answer ends

        async def receive():
            if pending:
                return pending.pop()
            await never.wait()

        async def send(message):
            sent.append(message)

        await client.app(scope, receive, send)
        return sent

    sent = anyio.run(run)
    start_message = next(m for m in sent if m["type"] == "http.response.start")
    answer = {k.decode("latin-1"): v.decode("latin-1") for k, v in start_message["headers"]}
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start_message["status"], answer, content


def raw_refusal(status: int, headers: dict, content: bytes, log: Recorder) -> str:
    assert 400 <= status < 500 and headers["content-type"].startswith("application/json")
    message = json.loads(content)["error"]
    assert message and "\n" not in message and not log.tracebacks(), log.tracebacks()
    return message


def test_last_event_id_that_is_not_an_ascii_number_is_ignored(client, log):
    job = wait(client, start(client).json()["id"])
    for value in ("²", "³", "¹", "12" * 20, "-1", " 3", "9" * 18, "3"):
        status, _, content = raw(client, "GET", job["events"],
                                 {"last-event-id": value.encode("latin-1")})
        assert status == 200 and b"event: done" in content, value
    assert not log.tracebacks(), log.tracebacks()


def test_content_length_that_is_not_an_ascii_number_is_ignored(client, log):
    for target in ("/api/uploads", "/api/fast/frame?style=a", "/api/clips"):
        status, headers, content = raw(client, "POST", target, {"content-length": b"\xb2"})
        raw_refusal(status, headers, content, log)


header_values = st.binary(max_size=30).map(  # what HTTP lets through: no controls but tab
    lambda data: bytes(b for b in data if b == 9 or 32 <= b != 127))


@FAST
@given(headers=st.dictionaries(
    st.sampled_from(["host", "origin", "last-event-id", "content-type", "content-length",
                     "accept", "cookie", "x-forwarded-for", "range"]),
    header_values, max_size=4),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
    path=st.sampled_from(["/api/config", "/api/jobs", "/api/uploads", "/api/fast",
                          "/api/universal", "/api/fast/frame?style=a", "/api/explore",
                          "/api/fast/styles", "/api/clips", "/api/clips/paint",
                          "/api/jobs/{}", "/api/jobs/{}/events", "/api/jobs/{}/result.png",
                          "/api/jobs/{}/result.mp4",
                          "/api/images/{}/thumb.jpg", "/api/fast/results/{}.png",
                          "/static/{}", "/{}"]),
    segment=st.text(max_size=12), body=st.binary(max_size=64))
def test_any_headers_path_and_method_get_no_server_error(closed, log, headers, method, path,
                                                        segment, body):
    target = path.format(urllib.parse.quote(segment, safe="") or "x")
    status, answer, content = raw(closed, method, target, headers, body)
    assert status < 500, (status, content[:300])
    if status >= 400 and method != "HEAD":
        raw_refusal(status, answer, content, log)
    assert not log.tracebacks(), log.tracebacks()


def test_unknown_hosts_get_a_json_400_and_the_bound_address_is_allowed(tmp_path, log):
    with studio(tmp_path, allowed_hosts=("127.0.0.1", "127.0.0.5", "::1")) as client:
        assert client.get("/api/config", headers={"host": "127.0.0.5:8765"}).status_code == 200
        assert client.get("/api/config", headers={"host": "[::1]:8765"}).status_code == 200
        for host in ("evil.example", "127.0.0.5.evil.example", "127.0.0.1:x", "[::1", ""):
            message = refused(client.get("/api/config", headers={"host": host}), log, {400})
            assert "Host header" in message


# ------------------------------------------------------------------ uploads

def image_bytes(width: int, height: int, fmt: str = "PNG", mode: str = "RGB") -> bytes:
    pixels = np.random.default_rng(width * 7919 + height).integers(0, 256, (height, width, 3),
                                                                  dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB").convert(mode)
    buffer = io.BytesIO()
    (image.convert("RGB") if fmt == "JPEG" and mode == "P" else image).save(buffer, format=fmt)
    return buffer.getvalue()


uploads = (st.binary(max_size=2000)
           | st.builds(image_bytes, st.integers(1, 48), st.integers(1, 48),
                       st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"]),
                       st.sampled_from(["RGB", "L", "P"])).flatmap(
               lambda data: st.sampled_from([data, data[:len(data) // 2], data[:20]])))


@FAST
@given(data=uploads, name=st.text(max_size=80), field=st.sampled_from(["file", "File", "x"]),
       content_type=st.sampled_from(["image/png", "application/octet-stream", "text/plain"]))
def test_any_upload_is_stored_or_refused_with_a_4xx(closed, log, data, name, field,
                                                    content_type):
    response = closed.post("/api/uploads", files={field: (name, data, content_type)})
    if response.status_code == 201:
        image = response.json()
        assert min(image["width"], image["height"]) >= 1 and field == "file"
    else:
        refused(response, log)
    assert not list((closed.app.state.run_dir / "uploads").glob(".upload-*"))


@FAST
@given(data=uploads, name=st.text(max_size=80),
       content_type=st.sampled_from(["video/mp4", "video/webm", "image/png", "text/plain"]))
def test_any_clip_upload_is_refused_with_a_4xx(closed, log, data, name, content_type):
    response = closed.post("/api/clips", params={"name": name}, content=data,
                           headers={"content-type": content_type})
    refused(response, log)  # (none of these bytes is a clip)
    assert not list((closed.app.state.run_dir / "clips").glob(".upload-*"))


def test_a_picture_too_narrow_for_the_network_is_refused_at_upload(tmp_path, log):
    base = TINY.replace(style_layers=("relu1_1", "relu5_1"))  # VGG19 needs 16 px up to relu5_1
    with studio(tmp_path, base_config=base) as client:
        message = refused(upload(client, png_bytes(2048, 4), name="strip.png"), log, {400})
        assert message.startswith("strip.png (2048x4 px) is too narrow") and "16 px" in message
        message = refused(upload(client, png_bytes(4000, 24), name="wide.png"), log, {400})
        assert "shrunk to 2048 px it is 2048x12" in message
        assert upload(client, png_bytes(2048, 16)).status_code == 201
        assert len(list((client.app.state.run_dir / "uploads").iterdir())) == 1


def test_a_job_on_a_picture_too_narrow_at_its_size_is_a_400_naming_it(client, log):
    image = upload(client, png_bytes(2048, 4), name="strip.png").json()
    message = refused(start(client, content=image["id"], size=32), log, {400})
    assert message.startswith("content: strip.png (2048x4 px) is too narrow")
    assert client.get("/api/jobs").json()["jobs"] == []


def test_explore_refuses_a_picture_too_narrow_for_the_network(client, log):
    image = upload(client, png_bytes(2048, 8), name="strip.png").json()
    body = {"view": "activations", "image": image["id"], "layer": "relu2_1"}
    message = refused(client.post("/api/explore", json=body), log, {400})
    assert message.startswith("image: strip.png (2048x8 px) is too narrow: at 256 px it is 256x1")
    assert client.get("/api/jobs").json()["jobs"] == []


def test_fast_mode_refuses_a_picture_too_narrow_for_the_network(tmp_path, log):
    with studio(tmp_path, fast_styles=tiny_styles()) as client:
        image = upload(client, png_bytes(2048, 8), name="strip.png").json()
        message = refused(client.post("/api/fast", json={"image": image["id"], "style": "a",
                                                         "size": 256}), log, {400})
        assert message.startswith("strip.png (2048x8 px) is too narrow")
        frame = client.post("/api/fast/frame?style=a", content=jpeg_bytes(640, 4),
                            headers={"content-type": "image/jpeg"})
        assert refused(frame, log, {400}).startswith("the frame (320x2 px) is too narrow")
        odd = client.post("/api/fast/frame?style=a&edge=²", content=jpeg_bytes(),
                          headers={"content-type": "image/jpeg"})
        assert "edge must be a whole number" in refused(odd, log, {400})


def fail_writes_after(limit: int):
    """A replacement for os.write-based saving: write ``limit`` bytes, then ENOSPC."""
    def write(self, data):
        with open(self, "wb") as file:
            file.write(data[:limit])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
    return write


def test_a_full_disk_during_an_upload_is_a_507_and_leaves_no_file(client, log, monkeypatch):
    uploads_dir = client.app.state.run_dir / "uploads"
    monkeypatch.setattr(pathlib.Path, "write_bytes", fail_writes_after(100))
    message = refused(upload(client, png_bytes(), name="photo.png"), log, {507})
    assert message.startswith("photo.png: the disk is full")
    monkeypatch.undo()
    assert not list(uploads_dir.iterdir())

    real_fsync = os.fsync  # the decoded picture cannot be saved: save_image's own cleanup

    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", fsync)
    message = refused(upload(client, png_bytes(), name="photo.png"), log, {507})
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert "the disk is full" in message and not list(uploads_dir.iterdir())
    assert upload(client, png_bytes()).status_code == 201  # and the count was given back


def test_an_unexpected_error_is_a_json_500_with_the_traceback_logged(client, log, monkeypatch):
    def broken(image_id):
        raise RuntimeError("a bug")
    monkeypatch.setattr(client.app.state.images, "thumbnail", broken)
    response = client.get(f"/api/images/{CAT}/thumb.jpg")
    assert response.status_code == 500 and "RuntimeError" in response.json()["error"]
    assert any(r.exc_info for r in log.records)  # a bug: its traceback is in the log


def test_a_full_disk_anywhere_is_a_507_without_a_traceback(client, log, monkeypatch):
    def full(image_id):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(client.app.state.images, "thumbnail", full)
    message = refused(client.get(f"/api/images/{CAT}/thumb.jpg"), log, {507})
    assert message.startswith("the disk is full")


def test_host_header_parsing():
    assert guards.host_of("127.0.0.5:8765") == "127.0.0.5"
    assert guards.host_of("[::1]:80") == guards.host_of("[::1]") == "::1"
    assert guards.host_of("LOCALHOST") == "localhost"
    for bad in ("", "[::1", "host:", "host:²", "host:1:2", "[::1]x"):
        assert guards.host_of(bad) is None, bad
