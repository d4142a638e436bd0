"""The studio's Clip tab: a clip uploaded, painted with a fast style through the job queue
(progress per frame, the latest frame as preview, Cancel) and downloaded as MP4; limits and
bad files refused with one line; without the video extra, unavailable and 501."""

from __future__ import annotations

import io
import sys
import time

import pytest
from PIL import Image
from starlette.testclient import TestClient
from test_web_api import TINY, one_line_error, png_bytes, wait
from test_web_fast import tiny_styles

from painterly.models.vgg import random_vgg_like
from painterly.web import clip_views
from painterly.web.app import create_app
from painterly.web.clip_views import ClipLimits


def make_app(tmp_path, **options):
    return create_app(results_dir=tmp_path / "results", extractor=random_vgg_like((8, 16)),
                      base_config=TINY, fast_styles=tiny_styles(), preview_interval=0.0,
                      **options)


@pytest.fixture
def client(tmp_path):
    with TestClient(make_app(tmp_path), base_url="http://127.0.0.1") as client:
        yield client


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory):
    """An MP4 of 8 frames, 64x48, at 10 frames a second, with a tone as its audio."""
    pytest.importorskip("av")
    pytest.importorskip("cv2")
    from test_video import make_clip

    return make_clip(tmp_path_factory.mktemp("clips") / "walk.mp4", audio=True).read_bytes()


def send(client, data, content_type="video/mp4", name="walk.mp4"):
    return client.post(f"/api/clips?name={name}", content=data,
                       headers={"content-type": content_type})


def paint(client, clip_id, **params):
    return client.post("/api/clips/paint", json={"clip": clip_id, "style": "a", **params})


def decoded(data: bytes, tmp_path):
    """(frames decoded, (width, height), has audio) of an MP4's bytes."""
    import av

    path = tmp_path / "downloaded.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        audio = bool(container.streams.audio)
        frames = [frame for frame in container.decode(video=0)]
    return len(frames), (frames[0].width, frames[0].height), audio


def leftovers(client) -> list[str]:
    """Files of the clips folder other than stored clips (uploads, work folders)."""
    folder = client.app.state.run_dir / "clips"
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".clip")) \
        if folder.exists() else []


# ------------------------------------------------------------------ the whole round

def test_a_clip_is_uploaded_painted_and_downloaded(client, clip_bytes, tmp_path):
    config = client.get("/api/config").json()["clips"]
    assert config["available"] and config["limits"]["max_frames"] == 300
    stored = send(client, clip_bytes)
    assert stored.status_code == 201, stored.text
    clip = stored.json()
    assert (clip["width"], clip["height"], clip["frames"], clip["audio"]) == (64, 48, 8, True)
    assert clip["name"] == "walk.mp4" and clip["rate"] == 10 and "path" not in clip

    started = paint(client, clip["id"], size=32)
    assert started.status_code == 202, started.text
    job = wait(client, started.json()["id"])
    assert job["state"] == "done", job
    assert job["progress"]["done"] == job["progress"]["total"] == job["total_steps"] == 8
    assert job["progress"]["size"] == [32, 24] and job["info"]["kind"] == "clip"
    assert job["result"] == f"/api/jobs/{job['id']}/result.mp4"

    events = client.get(job["events"]).text
    assert events.count("event: progress") >= 1 and "event: done" in events
    assert "result.mp4" in events.split("event: done")[1]
    thumb = client.get(job["thumb"])  # the last painted frame
    assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.content)).size == (32, 24)
    preview = client.get(f"/api/jobs/{job['id']}/preview.jpg")
    assert preview.status_code == 200 and Image.open(io.BytesIO(preview.content)).size == (32, 24)
    result = client.get(job["download"])
    assert result.status_code == 200 and result.headers["content-type"] == "video/mp4"
    assert "attachment" in result.headers["content-disposition"]
    assert "walk_a_32px.mp4" in result.headers["content-disposition"]
    assert decoded(result.content, tmp_path) == (8, (32, 24), True)
    assert "painted a clip" in one_line_error(client.get(f"/api/jobs/{job['id']}/result.png"), 404)
    assert leftovers(client) == []  # the work folder went with the job


def test_progress_is_reported_per_frame_with_the_latest_frame(client, clip_bytes):
    clip = send(client, clip_bytes).json()
    job = wait(client, paint(client, clip["id"], size=32, blend=0).json()["id"])
    history = client.app.state.jobs.get(job["id"]).history
    assert [point[0] for point in history] == list(range(1, 9))
    assert job["preview"] and job["thumb"]


def test_a_clip_job_can_be_cancelled_between_frames(client, clip_bytes, monkeypatch):
    painter = clip_views._painter

    def slow(fast, style, colours):
        paint_frame = painter(fast, style, colours)
        return lambda image: time.sleep(0.3) or paint_frame(image)

    monkeypatch.setattr(clip_views, "_painter", slow)
    clip = send(client, clip_bytes).json()
    job_id = paint(client, clip["id"], size=32).json()["id"]
    wait(client, job_id, states=("running",))
    assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 200
    job = wait(client, job_id)
    assert job["state"] == "cancelled" and job["result"] is None
    assert not list((client.app.state.run_dir / "results").glob("*.mp4"))
    assert leftovers(client) == []
    assert "no result" in one_line_error(client.get(f"/api/jobs/{job_id}/result.mp4"), 404)


# ------------------------------------------------------------------ refusals

@pytest.mark.parametrize("damage, words", [
    ("garbage", "not a video file"),
    ("png", "still picture"),
    ("truncated", "truncated"),
    ("empty", "empty"),
    ("cdg", "not a clip the studio paints"),  # FFmpeg takes these bytes for CD+G graphics
])
def test_what_is_not_a_readable_clip_is_a_one_line_400(client, clip_bytes, damage, words):
    data = {"garbage": b"not a video" * 50, "png": png_bytes(64, 48),
            "truncated": clip_bytes[:len(clip_bytes) // 2], "empty": b"",
            "cdg": b"\t" + bytes(23)}[damage]
    message = one_line_error(send(client, data, name="bad.mp4"), 400)
    assert words in message and message.startswith("bad.mp4: ")
    assert str(client.app.state.run_dir) not in message and ".upload-" not in message
    assert leftovers(client) == [] and client.app.state.clips.get("x") is None


def test_a_clip_needs_a_video_content_type(client, clip_bytes):
    message = one_line_error(send(client, clip_bytes, content_type="image/png"), 415)
    assert "video" in message and leftovers(client) == []


@pytest.mark.parametrize("limits, words", [
    (ClipLimits(max_frames=5), "8 frames"),
    (ClipLimits(max_pixels=64 * 48 - 1), "64x48"),
    (ClipLimits(max_bytes=1000), "larger than the limit"),
])
def test_limits_on_frames_pixels_and_bytes_are_a_413(tmp_path, clip_bytes, limits, words):
    with TestClient(make_app(tmp_path, clip_limits=limits), base_url="http://127.0.0.1") as c:
        assert words in one_line_error(send(c, clip_bytes), 413)
        if limits.max_bytes == 1000:  # no Content-Length: the limit holds while reading
            chunks = (clip_bytes[i:i + 500] for i in range(0, len(clip_bytes), 500))
            response = c.post("/api/clips", content=chunks, headers={"content-type": "video/mp4"})
            assert words in one_line_error(response, 413)
        assert leftovers(c) == [] and not list((c.app.state.run_dir / "clips").glob("*.clip"))


def test_clips_kept_per_run_are_limited(tmp_path, clip_bytes):
    with TestClient(make_app(tmp_path, clip_limits=ClipLimits(max_clips=1)),
                    base_url="http://127.0.0.1") as c:
        assert send(c, clip_bytes).status_code == 201
        assert "restart" in one_line_error(send(c, clip_bytes), 429)


@pytest.mark.parametrize("params, words", [
    ({"clip": "0" * 24}, "no clip"),
    ({"style": "nope"}, "no fast style"),
    ({"style": 3}, "style must be"),
    ({"size": 8}, "size must be between"),
    ({"size": 4000}, "size must be between"),
    ({"blend": 1}, "blend"),
    ({"blend": True}, "blend"),
    ({"preserve_color": "yes"}, "preserve_color"),
    ({"frames": 2}, "unknown parameter"),
])
def test_bad_paint_requests_are_a_one_line_400(client, clip_bytes, params, words):
    clip = send(client, clip_bytes).json()
    assert words in one_line_error(paint(client, clip["id"], **params), 400)
    assert "must be a JSON object" in one_line_error(
        client.post("/api/clips/paint", json=[clip["id"]]), 400)
    assert client.get("/api/jobs").json()["jobs"] == []


def test_a_clip_too_small_or_too_narrow_at_the_chosen_size(client, tmp_path):
    pytest.importorskip("av")
    from test_video import make_clip

    data = make_clip(tmp_path / "thin.mp4", frames=2, size=(320, 16)).read_bytes()
    clip = send(client, data).json()
    assert "too narrow" in one_line_error(paint(client, clip["id"], size=16), 400)
    tiny = make_clip(tmp_path / "tiny.mp4", frames=2, size=(32, 8)).read_bytes()
    assert "at least 16 px" in one_line_error(send(client, tiny), 400)


# ------------------------------------------------------------------ without the extra

def test_without_the_video_extra_clips_are_unavailable_and_501(client, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # as if PyAV were not installed
    monkeypatch.delitem(sys.modules, "painterly.video", raising=False)
    status = client.get("/api/config").json()["clips"]
    assert status["available"] is False and 'pip install "painterly[video]"' in status["message"]
    for response in (send(client, b"anything"), paint(client, "x"),
                     client.get("/api/jobs/x/result.mp4")):
        assert 'painterly[video]' in one_line_error(response, 501)


# ------------------------------------------------------------------ in the browser

def test_the_clip_tab_in_the_browser(tmp_path, clip_bytes):
    from test_web_browser import ARGS, CHROMIUM, _browser_or_skip

    from painterly.web import server

    sync_playwright = _browser_or_skip()
    (tmp_path / "walk.mp4").write_bytes(clip_bytes)
    with server.background(make_app(tmp_path)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(60_000)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
        page.goto(url)
        page.locator("#clip-style option[value='b']").wait_for(state="attached")
        page.click("#tab-clip")
        assert page.is_visible("#clip-tab") and page.is_disabled("#clip-start")
        page.set_input_files("#clip-file", str(tmp_path / "walk.mp4"))
        page.wait_for_function("!document.getElementById('clip-start').disabled")
        assert "8 frames" in page.inner_text("#clip-chosen")
        page.fill("#clip-size", "32")
        page.select_option("#clip-style", "b")
        page.click("#clip-start")
        page.locator("#clip-download").wait_for(state="visible")
        assert page.inner_text("#clip-status").startswith("Done in")
        assert page.get_attribute("#clip-download", "download") == "walk_b_32px.mp4"
        page.wait_for_function("document.getElementById('clip-video').readyState >= 1 || "
                               "document.getElementById('clip-video').error")
        assert page.evaluate("document.getElementById('clip-video').videoWidth") == 32
        assert "clip · 32×24 · 8 frames" in page.inner_text("#gallery")
        assert errors == []
        browser.close()
