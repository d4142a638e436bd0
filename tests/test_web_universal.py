"""The studio's one-pass preview (universal style transfer, Li et al. 2017) over HTTP: the
picture it returns, the requests it refuses, and what the studio says without decoders.

Untrained decoders (the ``random_decoders`` fixture) and a random encoder with VGG19's
widths up to relu2_1 stand in for the bundled decoders and VGG19, so a preview takes
milliseconds and no weights are needed.
"""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image
from starlette.testclient import TestClient
from test_web_api import CAT, NIGHT, TINY, one_line_error, png_bytes, upload

import painterly.fast.decoders as decoders_module
from painterly.models.vgg import random_vgg_like
from painterly.web.app import create_app
from painterly.web.fast_views import FastLimits

VGG_WIDTHS = (64, 128)
"""relu1_1 and relu2_1 with VGG19's channels: what the decoders of those layers invert."""


def make_app(tmp_path, **options):
    return create_app(results_dir=tmp_path / "results", extractor=random_vgg_like(VGG_WIDTHS),
                      base_config=TINY, **options)


@pytest.fixture
def client(tmp_path, random_decoders):
    with TestClient(make_app(tmp_path), base_url="http://127.0.0.1") as client:
        yield client


@pytest.fixture
def without_decoders(tmp_path, monkeypatch):
    monkeypatch.setattr(decoders_module, "BUNDLED_DIR", tmp_path / "no-decoders")


def preview(client, **body):
    return client.post("/api/universal", json={"photo": CAT, "painting": NIGHT, **body})


def picture(response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


# ------------------------------------------------------------------ painting

def test_config_says_the_preview_is_available(client):
    assert client.get("/api/config").json()["universal"] == {"available": True, "message": ""}


def test_preview_of_an_upload_has_the_requested_long_edge(client):
    photo = upload(client, png_bytes(60, 40), name="street.png").json()
    painting = upload(client, png_bytes(40, 50), name="my painting.png").json()
    response = client.post("/api/universal", json={
        "photo": photo["id"], "painting": painting["id"], "strength": 0.6,
        "preserve_color": "luminance", "size": 48})
    assert picture(response).size == (48, 32)
    assert response.headers["x-image-size"] == "48x32"
    assert float(response.headers["x-paint-seconds"]) >= 0


def test_preview_defaults_to_the_studios_size_and_full_strength(client):
    image = picture(preview(client))
    assert max(image.size) == TINY.size


def test_strength_zero_and_one_give_different_pictures(client):
    keep = picture(preview(client, strength=0, size=40)).convert("L")
    move = picture(preview(client, strength=1, size=40)).convert("L")
    assert keep.size == move.size
    assert keep.tobytes() != move.tobytes()


def test_preview_paints_the_levels_painterly_fast_paints_where_the_network_has_them(tmp_path,
                                                                                  random_decoders):
    """The test network has relu1_1 and relu2_1; of painterly fast's levels only relu2_1."""
    app = make_app(tmp_path)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        picture(preview(client, size=32))
    assert app.state.universal._painter.levels == ("relu2_1",)


@pytest.mark.parametrize("colours", ["none", "luminance", "histogram"])
def test_every_colour_choice_paints(client, colours):
    assert picture(preview(client, preserve_color=colours, size=32)).size[0] == 32


# ------------------------------------------------------------------ refusals

@pytest.mark.parametrize("body, words", [
    ({"photo": "nope"}, "photo: no image with id 'nope'"),
    ({"painting": "../../etc/passwd"}, "painting: no image with id"),
    ({"photo": 3}, "photo must be the id of an image"),
    ({"painting": None}, "painting must be the id of an image"),
    ({"strength": 1.5}, "strength must be between 0 and 1"),
    ({"strength": -0.1}, "strength must be between 0 and 1"),
    ({"strength": "strong"}, "strength must be a number"),
    ({"strength": True}, "strength must be a number"),
    ({"preserve_color": "sepia"}, "preserve_color must be one of none, luminance, histogram"),
    ({"size": 0}, "size must be between 16 and"),
    ({"size": 100_000}, "size must be between 16 and"),
    ({"size": "64"}, "size must be a whole number"),
    ({"style": NIGHT}, "unknown parameter 'style'"),
])
def test_bad_requests_get_one_line_errors(client, body, words):
    assert words in one_line_error(preview(client, **body), 400)


def test_bodies_that_are_not_json_objects_are_refused(client):
    one_line_error(client.post("/api/universal", json=[CAT, NIGHT]), 400)
    one_line_error(client.post("/api/universal", content=b"{not json",
                               headers={"content-type": "application/json"}), 400)
    one_line_error(client.get("/api/universal"), 405)


def test_a_photo_too_narrow_at_the_size_asked_is_named(client):
    strip = upload(client, png_bytes(200, 20), name="strip.png").json()
    message = one_line_error(preview(client, photo=strip["id"], size=64), 400)
    assert "strip.png" in message and "16 px" in message


def test_a_second_preview_waits_and_is_answered_503_when_the_painter_stays_busy(
        tmp_path, random_decoders):
    with TestClient(make_app(tmp_path, fast_limits=FastLimits(busy_timeout=0.05)),
                    base_url="http://127.0.0.1") as client:
        lock = client.app.state.universal._painting
        held = threading.Event()
        release = threading.Event()

        def hold():
            with lock:
                held.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait(5)
        try:
            busy = preview(client, size=32)
            assert "busy" in one_line_error(busy, 503)
            assert busy.headers["retry-after"] == "1"
        finally:
            release.set()
            holder.join()
        assert picture(preview(client, size=32)).size[0] == 32


# ------------------------------------------------------------------ without decoders

def test_without_decoders_the_config_says_unavailable_and_the_route_explains(
        tmp_path, without_decoders):
    with TestClient(make_app(tmp_path), base_url="http://127.0.0.1") as client:
        universal = client.get("/api/config").json()["universal"]
        assert universal["available"] is False
        assert "decoders" in universal["message"] and "\n" not in universal["message"]
        message = one_line_error(preview(client), 501)
        assert message == universal["message"]
        assert "train them with scripts/train_decoders.py" in message


def test_a_network_without_vggs_widths_makes_the_preview_unavailable(tmp_path, random_decoders):
    # the decoders invert VGG19's layers; a small test network's cannot feed them
    app = create_app(results_dir=tmp_path / "results", extractor=random_vgg_like((8, 16)),
                     base_config=TINY)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        universal = client.get("/api/config").json()["universal"]
        assert universal["available"] is False and "\n" not in universal["message"]
        assert one_line_error(preview(client), 501) == universal["message"]


def test_unreadable_decoders_are_a_one_line_server_error(tmp_path, random_decoders):
    (random_decoders / "model.safetensors").write_bytes(b"\0" * 20)
    with TestClient(make_app(tmp_path), base_url="http://127.0.0.1") as client:
        assert "cannot read the VGG decoders" in one_line_error(preview(client), 500)


# ------------------------------------------------------------------ the page

def test_the_page_shows_the_one_pass_preview_and_repaints_on_a_new_strength(tmp_path,
                                                                             random_decoders):
    from test_web_browser import ARGS, CHROMIUM, _browser_or_skip

    from painterly.web import server

    sync_playwright = _browser_or_skip()
    with server.background(make_app(tmp_path)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            page.locator("#preview-label").wait_for(state="visible")
            assert page.inner_text("#preview-label") == "one-pass preview (universal style transfer)"
            assert page.get_attribute("#live", "src").startswith("blob:")
            first = page.get_attribute("#live", "src")
            page.locator("#one-pass-strength").fill("0.5")
            page.wait_for_function(f"document.getElementById('live').src !== {first!r}")
            assert page.inner_text("#one-pass-strength-value") == "0.50"
            assert errors == []
        finally:
            browser.close()
