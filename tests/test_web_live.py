"""The studio's Live tab and Fast mode in real headless Chromium (driven by Playwright).

Chromium's fake camera (``--use-fake-device-for-media-stream``, a moving test pattern) and
fake permission prompt (``--use-fake-ui-for-media-stream``) stand in for a webcam. A tiny
two-style network saved to a temporary folder stands in for the bundled styles. Chromium is
found, or the test skipped (failed under CI), as in test_web_browser.
"""

from __future__ import annotations

import pytest
from test_web_browser import ARGS, CHROMIUM, _browser_or_skip
from test_web_fast import tiny_styles

from painterly import StyleConfig
from painterly.fast.store import save_styles
from painterly.models.vgg import random_vgg_like
from painterly.web import server
from painterly.web.app import create_app

CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
TIMEOUT_MS = 20_000

CHECKSUM = """() => {  // a fingerprint of the painted canvas's pixels
    const canvas = document.getElementById('live-output');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0;
    for (let i = 0; i < data.length; i += 7) sum = (sum * 31 + data[i]) % 1000000007;
    return `${canvas.width}x${canvas.height}:${sum}`;
}"""


@pytest.fixture
def studio(tmp_path):
    tiny = StyleConfig(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"),
                       size=64, iterations=4, scales=1, device="cpu", precision="fp32")
    folder = save_styles(tiny_styles(["ink", "ember"]), tmp_path / "styles")
    app = create_app(results_dir=tmp_path / "results", extractor=random_vgg_like((8, 16)),
                     base_config=tiny, fast_styles=folder)
    with server.background(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    sync_playwright = _browser_or_skip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS + CAMERA)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.errors = []  # script errors and failed requests
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("response", lambda r: r.status >= 400 and page.errors.append(f"{r.status} {r.url}"))
    yield page
    context.close()


def test_live_camera_frames_are_painted(studio, page):
    page.goto(studio)
    page.locator("#fast-styles button[data-fast='ink']").wait_for(state="attached")
    page.click("#tab-live")
    assert page.is_hidden("#paint") and page.is_visible("#live-tab")
    assert page.eval_on_selector_all("#live-style option", "os => os.map(o => o.value)") == \
        ["ink", "ember"]
    page.fill("#live-edge", "64")
    page.click("#live-start")
    try:
        page.wait_for_function("Number(document.getElementById('live-fps').textContent) > 0")
    except Exception as error:  # a timeout: say what the page showed
        raise AssertionError(f"no painted frames; the page says "
                             f"{page.inner_text('#live-message')!r}, {page.errors}") from error
    size = page.evaluate("[document.getElementById('live-output').width, "
                         "document.getElementById('live-output').height]")
    assert max(size) == 64  # painted at the size asked for
    first = page.evaluate(CHECKSUM)
    frames = int(page.get_attribute("#live-output", "data-frames"))
    page.select_option("#live-style", "ember")  # the next frames use the other style
    page.wait_for_function(f"Number(document.getElementById('live-output').dataset.frames) "
                           f">= {frames + 3}")
    assert page.evaluate(CHECKSUM) != first  # the painted picture changes
    assert "painted in" in page.inner_text("#live-timing")

    page.click("#tab-paint")  # leaving the tab turns the camera off
    assert page.evaluate("document.getElementById('live-video').srcObject") is None
    frames = int(page.get_attribute("#live-output", "data-frames"))
    page.wait_for_timeout(300)
    assert int(page.get_attribute("#live-output", "data-frames")) <= frames + 1
    assert page.errors == []


def test_fast_mode_paints_the_chosen_photo(studio, page):
    page.goto(studio)
    page.locator("#fast-styles button[data-fast='ember']").wait_for(state="attached")
    page.click("button[data-id='ex-content-chelsea_cat']")
    page.check("#method-fast")
    assert page.is_hidden("#style-picker") and page.is_visible("#fast-picker")
    assert page.is_hidden("#iterations") and page.inner_text("#start") == "Paint"
    page.click("#fast-styles button[data-fast='ember']")
    assert page.get_attribute("#fast-styles button[data-fast='ember']", "aria-pressed") == "true"
    page.fill("#size", "48")
    page.click("#start")
    page.wait_for_function(
        "(document.getElementById('live').src || '').includes('/api/fast/results/')")
    assert page.inner_text("#status").startswith("Painted in")
    assert "Chelsea cat × Ember" in page.inner_text("#status")
    assert page.is_hidden("#loss")  # no loss curve: nothing is optimised
    assert page.evaluate("document.getElementById('live').naturalWidth") == 48
    download = page.get_attribute("#download", "download")
    assert download == "chelsea_cat_ember_fast_48px.png" and page.is_visible("#download")

    page.check("#method-optimise")  # back to optimising: the painting picker returns
    assert page.is_visible("#style-picker") and page.is_visible("#iterations")
    assert page.errors == []
