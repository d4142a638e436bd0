"""Spatial control (Gatys et al. 2017): masks, label images, guided Gram matrices, and that a
mask of ones is the unmasked run."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from painterly import StyleConfig, cli, losses, masks, pipeline, stylize
from painterly.image_io import pil_to_tensor
from synthetic import gradient, stripes

TINY = dict(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"),
            size=32, scales=1, iterations=5, precision="fp32", device="cpu")
CLI_TINY = ["--size", "32", "--iterations", "2", "--scales", "1", "--optimizer", "adam",
            "--content-layers", "relu2_1", "--style-layers", "relu1_1,relu2_1"]


def test_load_mask_accepts_tensors_and_files(tmp_path):
    assert masks.load_mask(torch.ones(4, 6)).shape == (1, 1, 4, 6)
    assert masks.load_mask(torch.zeros(1, 4, 6, dtype=torch.bool)).dtype == torch.float32
    path = tmp_path / "m.png"
    Image.fromarray(np.array([[0, 255], [128, 255]], np.uint8)).save(path)
    assert masks.load_mask(path).flatten().tolist() == pytest.approx([0, 1, 128 / 255, 1])
    with pytest.raises(ValueError, match=r"\[0,1\]"):
        masks.load_mask(torch.full((4, 4), 2.0))
    with pytest.raises(ValueError, match="mask tensor"):
        masks.load_mask(torch.ones(2, 3, 4, 4))


def test_labels_black_keeps_the_photo_and_colours_sort_by_value(tmp_path):
    pixels = np.zeros((4, 6, 3), np.uint8)
    pixels[:, 2:4] = (200, 30, 30)
    pixels[:, 4:] = (20, 200, 30)
    path = tmp_path / "labels.png"
    Image.fromarray(pixels).save(path)
    first, second = masks.from_labels(path, 2)
    assert first[0, 0, 0].tolist() == [0, 0, 0, 0, 1, 1]  # (20,200,30) sorts first
    assert second[0, 0, 0].tolist() == [0, 0, 1, 1, 0, 0]
    with pytest.raises(ValueError, match="2 colours besides black but there are 3 styles"):
        masks.from_labels(path, 3)


def test_guides_must_have_the_photos_aspect_ratio():
    guides = masks.fit_guides([None, torch.ones(12, 16)], (24, 32))
    assert guides.shape == (2, 1, 24, 32) and torch.equal(guides, torch.ones_like(guides))
    with pytest.raises(ValueError, match="aspect ratio"):
        masks.fit_guides([torch.ones(16, 16)], (24, 32))


def test_pooled_guide_of_ones_gives_exactly_the_plain_gram_matrix():
    features = torch.randn(1, 5, 6, 8)
    guide = masks.resize_guides(torch.ones(1, 1, 24, 32), (6, 8))
    assert torch.equal(guide, torch.ones_like(guide))
    assert torch.equal(masks.guided_gram(features, guide), losses.gram_matrix(features))


def test_guided_gram_is_the_gram_matrix_of_the_region():
    features = torch.randn(1, 4, 6, 8)
    guide = torch.zeros(1, 1, 6, 8)
    guide[..., :, :3] = 1
    region = losses.gram_matrix(features[..., :, :3])
    assert torch.allclose(masks.guided_gram(features, guide), region, atol=1e-5)


@pytest.mark.parametrize("changes", [{}, {"size": 64, "scales": 2, "iterations": 10}])
def test_mask_of_ones_equals_the_unmasked_run(tiny, changes):
    """Exactly: a pooled guide of ones is exactly one, mean(1) = 1, F * 1 = F."""
    config = StyleConfig(**{**TINY, **changes})
    plain = stylize(gradient(), stripes(), config, extractor=tiny)
    masked = stylize(gradient(), [(stripes(), 1.0)], config, extractor=tiny,
                     masks=[torch.ones(24, 32)])
    assert plain.tobytes() == masked.tobytes()


def test_zero_weight_style_and_its_mask_are_dropped(tiny):
    config = StyleConfig(**TINY)
    plain = stylize(gradient(), stripes(), config, extractor=tiny)
    masked = stylize(gradient(), [(stripes(), 1.0), (gradient(), 0.0)], config, extractor=tiny,
                     masks=[None, torch.zeros(24, 32)])
    assert plain.tobytes() == masked.tobytes()


def test_unmasked_region_keeps_the_photo(tiny):
    """Right half masked: the left half only has the content and smoothness terms."""
    mask = torch.zeros(24, 32)
    mask[:, 16:] = 1
    config = StyleConfig(**{**TINY, "iterations": 15}, style_weight=100.0)
    out = pil_to_tensor(stylize(gradient(), stripes(), config, extractor=tiny, masks=[mask]))
    change = (out - gradient()).abs().mean(dim=(0, 1, 2))
    assert change[:12].mean() < change[20:].mean() / 3


def test_two_regions_two_styles(tiny):
    left = torch.zeros(24, 32)
    left[:, :16] = 1
    red, blue = torch.zeros(1, 3, 24, 24), torch.zeros(1, 3, 24, 24)
    red[:, 0], blue[:, 2] = 1, 1
    red[..., ::4, :] = blue[..., ::4, :] = 0.5
    config = StyleConfig(**{**TINY, "iterations": 20}, style_weight=1000.0, content_weight=0.0)
    out = pil_to_tensor(stylize(gradient(), [(red, 1.0), (blue, 1.0)], config, extractor=tiny,
                                masks=[left, 1 - left]))
    assert out[0, 0, :, :12].mean() > out[0, 2, :, :12].mean()  # left: red
    assert out[0, 2, :, 20:].mean() > out[0, 0, :, 20:].mean()  # right: blue


def test_one_mask_per_style(tiny):
    with pytest.raises(ValueError, match="one mask"):
        stylize(gradient(), stripes(), StyleConfig(**TINY), extractor=tiny, masks=[None, None])


@pytest.fixture
def tiny_cli(monkeypatch, tiny):
    real, calls = pipeline.stylize, []

    def stylize_tiny(content, style, config, *, callback=None, extractor=None, masks=None):
        calls.append(masks)
        return real(content, style, config, callback=callback, extractor=tiny, masks=masks)
    monkeypatch.setattr(pipeline, "stylize", stylize_tiny)
    return calls


def run(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], prog_name="painterly")


def test_cli_masks_and_labels(tmp_path, content_png, style_png, tiny_cli):
    mask = tmp_path / "mask.png"
    Image.new("L", (40, 30), 255).save(mask)
    out = tmp_path / "out.png"
    result = run("stylize", content_png, style_png, style_png, "--mask", mask, "--mask", "all",
                 "-o", out, *CLI_TINY, "--quiet")
    assert result.exit_code == 0, result.stderr
    assert tiny_cli[-1] == [str(mask), None]
    labels = tmp_path / "labels.png"
    Image.new("RGB", (40, 30), (255, 255, 255)).save(labels)
    result = run("stylize", content_png, style_png, "--labels", labels, "-o", out, *CLI_TINY,
                 "--quiet", "--overwrite")
    assert result.exit_code == 0, result.stderr
    assert torch.equal(tiny_cli[-1][0], torch.ones(1, 1, 30, 40))


@pytest.mark.parametrize("extra, message", [
    (["--mask", "all"], "one --mask per style"),
    (["--mask", "all", "--mask", "all", "--labels", "x.png"], "not both"),
    (["--mask", "missing.png", "--mask", "all"], "missing.png"),
])
def test_cli_mask_errors_are_one_line(tmp_path, content_png, style_png, extra, message, tiny_cli):
    result = run("stylize", content_png, style_png, style_png, *extra, "-o", tmp_path / "o.png",
                 *CLI_TINY)
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert tiny_cli == []
