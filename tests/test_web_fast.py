"""The studio's Fast mode and Live frames over HTTP: listing styles, painting a stored image,
painting camera frames, and every way a request can be refused.

A tiny two-style network (4 channels, one residual block) saved to a temporary folder stands
in for the bundled styles, so each painting takes milliseconds and no weights are needed.
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from starlette.testclient import TestClient
from test_web_api import CAT, TINY, bomb_png, noise_png, one_line_error, png_bytes, upload

from painterly.fast.network import NetworkShape, TransformerNet
from painterly.fast.store import FastStyles, save_styles
from painterly.models.vgg import random_vgg_like
from painterly.web import fast_views, server
from painterly.web.app import create_app
from painterly.web.fast_views import FastLimits

try:  # the HTTP client Starlette's TestClient uses (httpx2; httpx before it)
    import httpx2 as httpx
except ImportError:
    import httpx


def tiny_styles(names=("a", "b")) -> FastStyles:
    """A random network whose styles differ (style i shifts every norm by 0.3 i)."""
    torch.manual_seed(0)
    net = TransformerNet(len(names), NetworkShape(base=4, residual_blocks=1))
    for norm in net.norms():
        norm.shift.data += 0.3 * torch.arange(len(names))[:, None]
    return FastStyles(net.eval(), list(names), {})


@pytest.fixture(scope="module")
def style_folder(tmp_path_factory):
    return save_styles(tiny_styles(), tmp_path_factory.mktemp("styles") / "tiny")


def make_app(tmp_path, fast_styles, **options):
    return create_app(results_dir=tmp_path / "results", extractor=random_vgg_like((8, 16)),
                      base_config=TINY, fast_styles=fast_styles, **options)


@pytest.fixture
def client(tmp_path, style_folder):
    with TestClient(make_app(tmp_path, style_folder), base_url="http://127.0.0.1") as client:
        yield client


def jpeg_bytes(width=64, height=48) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(png_bytes(width, height))).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def frame(client, data, content_type="image/jpeg", query="style=a", headers=None):
    headers = {"content-type": content_type, **(headers or {})}
    return client.post(f"/api/fast/frame?{query}", content=data, headers=headers)


def decoded(response) -> Image.Image:
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


# ------------------------------------------------------------------ styles

def test_the_styles_of_the_given_folder_are_listed(client):
    listing = client.get("/api/fast/styles").json()
    assert listing["available"] and listing["message"] == ""
    assert [(s["name"], s["source"]) for s in listing["styles"]] == [("a", "studio"),
                                                                     ("b", "studio")]
    assert listing["preserve_color"] == ["none", "luminance", "histogram"]
    assert listing["size"] == TINY.size
    limits = listing["limits"]
    assert limits["frame_edge"] == 320 and limits["max_frame_edge"] == 640
    assert limits["max_frame_bytes"] == FastLimits().max_frame_bytes
    assert "image/jpeg" in limits["frame_types"]


def test_by_default_the_bundled_and_the_user_s_styles_are_offered(tmp_path, style_folder,
                                                                  monkeypatch):
    monkeypatch.setattr(fast_views, "bundled_styles", list)  # whatever is installed
    mine = tmp_path / "my-styles"
    mine.mkdir()
    monkeypatch.setenv("PAINTERLY_STYLES_DIR", str(mine))
    with TestClient(make_app(tmp_path, None), base_url="http://127.0.0.1") as client:
        listing = client.get("/api/fast/styles").json()
        assert not listing["available"] and "no fast styles" in listing["message"]
        assert "no fast styles" in one_line_error(frame(client, jpeg_bytes()), 501)
        shutil.copytree(style_folder, mine / "tiny")  # styles trained while the studio runs
        listing = client.get("/api/fast/styles").json()
        assert [(s["name"], s["source"]) for s in listing["styles"]] == [("a", "yours"),
                                                                         ("b", "yours")]
        assert frame(client, jpeg_bytes()).status_code == 200


def test_a_loaded_network_can_be_given_and_a_broken_folder_fails_at_once(tmp_path):
    with TestClient(make_app(tmp_path, tiny_styles(["x"])), base_url="http://127.0.0.1") as c:
        assert [s["name"] for s in c.get("/api/fast/styles").json()["styles"]] == ["x"]
        assert frame(c, jpeg_bytes(), query="style=x").status_code == 200
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    (broken / "model.safetensors").write_bytes(b"junk")
    with pytest.raises(ValueError, match="broken"):
        make_app(tmp_path, broken)


def test_each_network_is_loaded_once_and_again_when_it_changes(tmp_path, monkeypatch):
    folder = save_styles(tiny_styles(), tmp_path / "styles")
    loads = []
    real = fast_views.load_styles
    monkeypatch.setattr(fast_views, "load_styles", lambda f: loads.append(f) or real(f))
    with TestClient(make_app(tmp_path, folder), base_url="http://127.0.0.1") as client:
        for style in ("a", "b", "a"):
            assert frame(client, jpeg_bytes(), query=f"style={style}").status_code == 200
        assert client.post("/api/fast", json={"image": CAT, "style": "b"}).status_code == 201
        assert len(loads) == 1
        before = decoded(frame(client, jpeg_bytes()))
        retrained = tiny_styles()
        for norm in retrained.network.norms():
            norm.shift.data -= 0.5
        time.sleep(0.01)  # a new modification time
        save_styles(retrained, folder)
        after = decoded(frame(client, jpeg_bytes()))
        assert len(loads) == 2 and np.asarray(before).tolist() != np.asarray(after).tolist()


# ------------------------------------------------------------------ fast mode

def test_fast_mode_paints_a_stored_image_and_keeps_the_result(client, style_folder):
    response = client.post("/api/fast", json={"image": CAT, "style": "a", "size": 48})
    assert response.status_code == 201, response.text
    result = response.json()
    assert max(result["width"], result["height"]) == 48 and result["style"] == "a"
    assert result["elapsed"] >= 0 and result["content"]["id"] == CAT
    assert result["download_name"] == "chelsea_cat_a_fast_48px.png"
    shown = client.get(result["result"])
    assert shown.headers["content-type"] == "image/png"
    assert shown.headers["content-disposition"].startswith("inline")
    image = decoded(shown)
    assert max(image.size) == 48
    record = json.loads(image.text["painterly"])
    assert record["fast_style"] == "a" and record["size"] == 48 and record["studio"] is True
    assert record["network"] == str(Path(style_folder).resolve())
    download = client.get(result["download"])
    assert download.headers["content-disposition"].startswith("attachment")
    saved = list((client.app.state.run_dir / "results").iterdir())
    assert [p.name for p in saved] == [f"{result['id']}.png"]

    other = client.post("/api/fast", json={"image": CAT, "style": "b", "size": 48}).json()
    assert np.asarray(decoded(client.get(other["result"]))).tolist() != np.asarray(image).tolist()
    default = client.post("/api/fast", json={"image": CAT, "style": "a"}).json()
    assert max(default["width"], default["height"]) == TINY.size  # the studio's size


def test_fast_mode_on_an_upload_keeping_the_photo_s_colours(client):
    photo = upload(client, png_bytes(40, 30)).json()
    for colours in ("luminance", "histogram"):
        response = client.post("/api/fast", json={"image": photo["id"], "style": "b",
                                                  "preserve_color": colours})
        assert response.status_code == 201, response.text
        assert response.json()["preserve_color"] == colours
        assert decoded(client.get(response.json()["result"])).size == (32, 24)


@pytest.mark.parametrize("body, words", [
    ({"image": CAT, "style": "starry_night"}, "no fast style 'starry_night'; the studio has a, b"),
    ({"image": CAT, "style": "../../etc"}, "no fast style"),
    ({"image": CAT, "style": None}, "style must be the name"),
    ({"image": CAT}, "style must be the name"),
    ({"image": "../../etc/passwd", "style": "a"}, "no image with id"),
    ({"image": 7, "style": "a"}, "image must be the id"),
    ({"image": CAT, "style": "a", "size": 100_000}, "size must be between 16 and"),
    ({"image": CAT, "style": "a", "size": 8}, "size must be between 16 and"),
    ({"image": CAT, "style": "a", "size": "64"}, "size must be a whole number"),
    ({"image": CAT, "style": "a", "size": True}, "size must be a whole number"),
    ({"image": CAT, "style": "a", "preserve_color": "sepia"}, "preserve_color must be one of"),
    ({"image": CAT, "style": "a", "device": "cuda"}, "unknown parameter 'device'"),
])
def test_bad_fast_requests_get_a_one_line_400(client, body, words):
    assert words in one_line_error(client.post("/api/fast", json=body), 400)
    assert not list((client.app.state.run_dir / "results").iterdir())


def test_fast_requests_that_are_not_json_objects(client):
    one_line_error(client.post("/api/fast", content=b"{not json",
                               headers={"content-type": "application/json"}), 400)
    one_line_error(client.post("/api/fast", json=[CAT, "a"]), 400)
    one_line_error(client.post("/api/fast", content=b"{" + b" " * 70_000 + b"}"), 413)
    one_line_error(client.get("/api/fast"), 405)
    assert one_line_error(client.get("/api/fast/results/nope.png"), 404) == "no such result"
    one_line_error(client.get("/api/fast/results/..%2F..%2Fpyproject.toml.png"), 404)


# ------------------------------------------------------------------ live frames

def test_a_frame_is_painted_and_sent_back_as_jpeg(client):
    response = frame(client, jpeg_bytes(64, 48))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "no-store"
    assert float(response.headers["x-paint-seconds"]) >= 0
    assert decoded(response).size == (64, 48)  # smaller than the edge: never enlarged
    small = frame(client, jpeg_bytes(64, 48), query="style=b&edge=32&preserve_color=luminance")
    assert decoded(small).size == (32, 24)
    for data, kind in ((png_bytes(30, 20), "image/png"), (_webp(30, 20), "image/webp")):
        assert decoded(frame(client, data, kind + "; charset=binary")).size == (30, 20)


def test_frames_are_painted_at_their_own_size_and_fast_mode_small_pictures_enlarged(client):
    """Live frames cost what their size does; Fast mode paints small pictures as the CLI does
    (fast.paint.MIN_PAINT_EDGE)."""
    frame(client, jpeg_bytes(64, 48))
    fast = client.app.state.fast
    live = [p for key, p in fast._painters.items() if key[-1]]
    assert [p.min_edge for p in live] == [None]
    style = fast.styles()[0]
    assert fast.painter(style, "none").min_edge == fast_views.MIN_PAINT_EDGE


def test_frame_limits_on_bytes_and_pixels(tmp_path, style_folder):
    limits = FastLimits(max_frame_bytes=20_000, max_frame_pixels=64 * 64, frame_edge=48,
                        max_frame_edge=64)
    app = make_app(tmp_path, style_folder, fast_limits=limits)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        big = noise_png(100, 100)
        assert len(big) > 20_000
        assert "larger than the limit" in one_line_error(frame(client, big, "image/png"), 413)

        def chunks():  # no Content-Length: the limit holds while the body is read
            for _ in range(30):
                yield b"\xff" * 1000
        assert "larger than the limit" in one_line_error(frame(client, chunks()), 413)
        assert "exceeds the limit" in one_line_error(frame(client, jpeg_bytes(80, 60)), 413)
        bomb = bomb_png(20_000, 20_000)
        assert "exceeds the limit" in one_line_error(frame(client, bomb, "image/png"), 413)
        assert "edge must be between 16 and 64" in one_line_error(
            frame(client, jpeg_bytes(), query="style=a&edge=65"), 400)
        assert decoded(frame(client, jpeg_bytes(64, 64))).size == (48, 48)
    with pytest.raises(ValueError, match="frame_edge"):
        FastLimits(frame_edge=1000)


@pytest.mark.parametrize("data, content_type, query, status, words", [
    (b"", "image/jpeg", "style=a", 400, "the frame is empty"),
    (b"this is not a picture", "image/jpeg", "style=a", 400, "not a JPEG, PNG or WebP image"),
    (None, "image/jpeg", "style=a", 400, "truncated"),
    ("gif", "image/jpeg", "style=a", 400, "not a JPEG, PNG or WebP image"),
    ("jpeg", "image/gif", "style=a", 415, "must be sent as image/jpeg"),
    ("jpeg", "text/plain", "style=a", 415, "'text/plain'"),
    ("jpeg", "", "style=a", 415, "the content type was none"),
    ("jpeg", "image/jpeg", "style=starry_night", 400, "no fast style 'starry_night'"),
    ("jpeg", "image/jpeg", "style=..%2F..%2Fetc", 400, "no fast style '../../etc'"),
    ("jpeg", "image/jpeg", "", 400, "style must be the name"),
    ("jpeg", "image/jpeg", "style=a&edge=0", 400, "edge must be between 16 and 640"),
    ("jpeg", "image/jpeg", "style=a&edge=100000", 400, "edge must be between"),
    ("jpeg", "image/jpeg", "style=a&edge=big", 400, "edge must be a whole number"),
    ("jpeg", "image/jpeg", "style=a&edge=-5", 400, "edge must be a whole number"),
    ("jpeg", "image/jpeg", "style=a&preserve_color=sepia", 400, "preserve_color must be one of"),
])
def test_bad_frames_get_a_one_line_error(client, data, content_type, query, status, words):
    if data is None:  # a JPEG cut short
        buffer = io.BytesIO()
        Image.open(io.BytesIO(noise_png(64, 64))).save(buffer, format="JPEG", quality=95)
        data = buffer.getvalue()[:3000]
    elif data == "gif":  # an image, but not a format frames may have
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buffer, format="GIF")
        data = buffer.getvalue()
    elif data == "jpeg":
        data = jpeg_bytes()
    assert words in one_line_error(frame(client, data, content_type, query), status)


def test_frames_need_post_and_the_same_site(client):
    assert "method not allowed" in one_line_error(client.get("/api/fast/frame?style=a"), 405)
    one_line_error(client.put("/api/fast/frame?style=a", content=jpeg_bytes()), 405)
    one_line_error(frame(client, jpeg_bytes(), headers={"origin": "http://evil.example"}), 403)
    same = frame(client, jpeg_bytes(), headers={"origin": "http://127.0.0.1"})
    assert same.status_code == 200


# ------------------------------------------------------------------ a real server

class GatedNet(TransformerNet):
    """A network whose forward pass waits until the test opens the gate."""

    def __init__(self):
        super().__init__(1, NetworkShape(base=4, residual_blocks=1))
        self.entered, self.opened = threading.Event(), threading.Event()

    def forward(self, image, mix):
        self.entered.set()
        if not self.opened.wait(20):
            raise TimeoutError("the test never opened the gate")
        return super().forward(image, mix)


def test_painting_runs_off_the_event_loop_and_a_busy_painter_answers_503(tmp_path):
    net = GatedNet()
    app = make_app(tmp_path, FastStyles(net, ["gated"], {}),
                   fast_limits=FastLimits(busy_timeout=0.2))
    try:
        with server.background(app) as url, httpx.Client(base_url=url, timeout=20) as http, \
                concurrent.futures.ThreadPoolExecutor(1) as pool:
            def post():
                return http.post("/api/fast/frame?style=gated", content=jpeg_bytes(),
                                 headers={"content-type": "image/jpeg"})
            first = pool.submit(post)
            assert net.entered.wait(10)  # the first frame is being painted, held at the gate
            assert http.get("/api/fast/styles").status_code == 200  # the server still answers
            busy = post()
            assert "busy" in one_line_error(busy, 503) and busy.headers["retry-after"] == "1"
            net.opened.set()
            assert first.result(20).status_code == 200
            assert post().status_code == 200
    finally:
        net.opened.set()


def _webp(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(png_bytes(width, height))).save(buffer, format="WEBP")
    return buffer.getvalue()


def test_the_studio_paints_a_bundled_style_with_its_own_network_where_one_ships(tmp_path,
                                                                                monkeypatch):
    from painterly.devices import resolve_runtime
    from painterly.style_folders import BUNDLED_DIR

    monkeypatch.setenv("PAINTERLY_STYLES_DIR", str(tmp_path / "none"))
    studio = fast_views.FastStudio(None, resolve_runtime("cpu", "fp32"))
    folders = {style.name: style.folder for style in studio.styles()}
    own = [name for name in folders if (BUNDLED_DIR / name).is_dir()]
    assert own and all(folders[name] == BUNDLED_DIR / name for name in own)
    assert all(folders[name] == BUNDLED_DIR for name in folders if name not in own)
