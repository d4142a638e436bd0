"""The studio end to end in real headless Chromium (Debian's ``chromium``, driven by Playwright).

The page is loaded from a real uvicorn server in a thread; it picks bundled examples,
shows the message for a rejected upload, starts a small job, watches the live image change,
downloads the result and checks its parameters, then cancels a second job.

Where Chromium is missing the test fails under CI (``$CI`` set: ``.ci/install-browser``
should have installed it) and is skipped elsewhere. ``PAINTERLY_SCREENSHOT=docs/studio.png``
runs it with the real VGG19 at 256 px and writes the README's screenshot there (a few
minutes on a CPU); otherwise a tiny random network keeps it to seconds.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from painterly import StyleConfig
from painterly.models.vgg import random_vgg_like
from painterly.web import server
from painterly.web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = os.environ.get("PAINTERLY_SCREENSHOT")
README_MODE = bool(SCREENSHOT)
# 400 steps on the tiny network take a few seconds: at 40, a fast CPU finished the whole job in
# well under a second, before the page's event stream had seen a single preview.
SIZE, ITERATIONS = (384, 60) if README_MODE else (64, 400)
MAX_SCREENSHOT_BYTES = 300_000


def _browser_or_skip():
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the playwright package is not installed (pip install -e '.[dev]')"
    if missing is None and not CHROMIUM.exists():
        missing = f"{CHROMIUM} is missing (run .ci/install-browser)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test must run in CI: {missing}")
        pytest.skip(missing)
    return sync_playwright


@pytest.fixture
def studio(tmp_path):
    if README_MODE:
        app = create_app(results_dir=tmp_path / "results", preview_interval=0.5,
                         base_config=StyleConfig(size=SIZE, scales=2, device="cpu"))
    else:
        tiny = StyleConfig(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"),
                           size=SIZE, iterations=ITERATIONS, scales=1, device="cpu",
                           precision="fp32")
        app = create_app(results_dir=tmp_path / "results", extractor=random_vgg_like((8, 16)),
                         base_config=tiny, preview_interval=0.05)
    with server.background(app) as url:
        yield url


@pytest.fixture
def page(tmp_path):
    sync_playwright = _browser_or_skip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        viewport = {"width": 1280, "height": 1120 if README_MODE else 960}
        context = browser.new_context(viewport=viewport, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(900_000 if README_MODE else 180_000)
        page.errors = []  # script errors and server failures (a refused upload's 4xx is fine)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on("response", lambda r: r.status >= 500 and page.errors.append(f"{r.status} {r.url}"))
        yield page
        context.close()
        browser.close()


def test_paint_in_the_browser(studio, page, tmp_path):
    page.goto(studio)
    page.locator("#content-examples button").first.wait_for()

    # a file that is not an image is refused, with the reason next to the drop zone
    page.set_input_files("#content-file", files=[{
        "name": "notes.png", "mimeType": "image/png", "buffer": b"not a picture"}])
    page.wait_for_function("document.getElementById('content-error').textContent.length > 0")
    assert "notes.png: not an image" in page.inner_text("#content-error")

    # a painting dropped onto the page is uploaded, shown and selected
    page.evaluate("""async () => {
        const canvas = Object.assign(document.createElement('canvas'), {width: 60, height: 40});
        const g = canvas.getContext('2d');
        for (let i = 0; i < 6; i++) { g.fillStyle = `hsl(${i * 60}, 80%, 50%)`; g.fillRect(i * 10, 0, 10, 40); }
        const blob = await new Promise((done) => canvas.toBlob(done, 'image/png'));
        const files = new DataTransfer();
        files.items.add(new File([blob], 'stripes.png', {type: 'image/png'}));
        document.getElementById('style-drop').dispatchEvent(
            new DragEvent('drop', {dataTransfer: files, bubbles: true, cancelable: true}));
    }""")
    uploaded = page.locator("#style-examples button[aria-pressed='true'][title='stripes.png']")
    uploaded.wait_for()

    page.click("button[data-id='ex-content-chelsea_cat']")
    page.click("button[data-id='ex-style-starry_night']")
    assert page.get_attribute("button[data-id='ex-style-starry_night']", "aria-pressed") == "true"
    assert page.inner_text("#content-error") == ""  # choosing an image clears the message

    page.fill("#size", str(SIZE))
    page.fill("#iterations", str(ITERATIONS))
    page.evaluate("""() => {
        window.liveSources = [];
        new MutationObserver(() => window.liveSources.push(document.getElementById('live').src))
            .observe(document.getElementById('live'), {attributes: true, attributeFilter: ['src']});
    }""")
    page.click("#start")
    try:
        page.wait_for_function("window.liveSources.length >= 2")  # the image changes as it forms
    except Exception as error:  # a timeout: say what the page showed, not only that it timed out
        raise AssertionError(f"the live image never changed; the page says: "
                             f"{page.inner_text('#status')!r} {page.inner_text('#message')!r}") from error
    if README_MODE:
        page.wait_for_function("window.liveSources.length >= 4")
    page.locator("#download").wait_for(state="visible")
    page.wait_for_function("(window.liveSources.at(-1) || '').endsWith('/result.png')")
    sources = page.evaluate("window.liveSources")
    assert len(set(sources)) >= 2 and any("/preview.jpg" in s for s in sources)
    assert sources[-1].endswith("/result.png")
    assert page.inner_text("#status").startswith("Done in")
    page.locator("#gallery li[data-job] a", has_text="PNG").wait_for()
    page.wait_for_function("[...document.images].every(i => i.complete)")
    _screenshot(page, tmp_path)

    with page.expect_download() as download_info:
        page.click("#download")
    download = download_info.value
    assert download.suggested_filename.endswith(f"_{SIZE}px.png")
    data = Path(download.path()).read_bytes()
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG" and max(image.size) == SIZE
    record = json.loads(image.text["painterly"])
    assert record["config"]["size"] == SIZE and record["config"]["iterations"] == ITERATIONS
    assert record["content"] == "Chelsea cat" and record["styles"][0][0] == "The Starry Night"

    if not README_MODE:  # Cancel stops a running job
        page.fill("#iterations", "2000")
        page.click("#start")
        page.wait_for_function("document.getElementById('status').textContent.startsWith('Scale')")
        page.click("#cancel")
        page.wait_for_function("document.getElementById('status').textContent === 'Cancelled.'")
        page.locator("#gallery li .state", has_text="cancelled").wait_for()

        # the Explore tab runs a view of the chosen photo through the same queue
        page.click("#tab-explore")
        page.click("button[data-view='activations']")
        page.wait_for_function(
            "(document.getElementById('explore-image').src || '').endsWith('/result.png')")
        page.locator("#explore-image").wait_for(state="visible")
        page.screenshot(path=str(tmp_path / "explore.png"))
    assert page.errors == []


def _screenshot(page, tmp_path: Path) -> None:
    """The finished page; in README mode also ``SCREENSHOT``, shrunk below 300 KB."""
    shot = tmp_path / "studio.png"
    page.screenshot(path=str(shot), full_page=False)
    if not SCREENSHOT:
        return
    image = Image.open(shot).convert("RGB")
    out = Path(SCREENSHOT)
    for colours in (256, 192, 128, 96):
        image.quantize(colours, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
        if out.stat().st_size <= MAX_SCREENSHOT_BYTES:
            break
    assert out.stat().st_size <= MAX_SCREENSHOT_BYTES
    shutil.copy(shot, tmp_path / "studio-full.png")
