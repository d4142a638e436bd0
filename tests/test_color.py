"""Colour preservation (Gatys et al. 2016): YIQ round trips, luminance-only transfer keeps the
photo's chroma, histogram matching gives the painting the photo's colour statistics."""

import pytest
import torch
from click.testing import CliRunner

from painterly import StyleConfig, cli, color, stylize
from painterly.image_io import pil_to_tensor
from painterly.models.vgg import random_vgg_like

TINY = dict(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"),
            size=32, scales=1, iterations=5, precision="fp32", device="cpu")


def rand(h=16, w=20, seed=0, low=0.0, high=1.0):
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(1, 3, h, w, generator=generator)


def moments(image):
    pixels = image.double().flatten(2)[0]
    mean = pixels.mean(1, keepdim=True)
    return mean, (pixels - mean) @ (pixels - mean).T / pixels.shape[1]


def test_rgb_yiq_round_trip():
    image = rand(seed=1)
    assert torch.allclose(color.yiq_to_rgb(color.rgb_to_yiq(image)), image, atol=1e-6)
    yiq = torch.rand(2, 3, 5, 7) - torch.tensor([0, 0.5, 0.5]).view(1, 3, 1, 1)
    assert torch.allclose(color.rgb_to_yiq(color.yiq_to_rgb(yiq)), yiq, atol=1e-6)


def test_grey_has_no_chroma_and_its_own_luminance():
    value = torch.rand(1, 1, 4, 4)
    yiq = color.rgb_to_yiq(value.expand(1, 3, 4, 4))
    assert torch.allclose(yiq[:, :1], value, atol=1e-6)
    assert yiq[:, 1:].abs().max() < 1e-6
    assert torch.equal(color.grey(value), value.expand(1, 3, 4, 4))


def test_recombined_result_keeps_the_photos_chroma_exactly():
    photo, result = rand(seed=2), rand(seed=3)
    mixed = color.recombine_chroma(result, photo)  # before clamping: exact to float rounding
    assert torch.allclose(color.rgb_to_yiq(mixed)[:, 1:], color.rgb_to_yiq(photo)[:, 1:], atol=1e-6)
    assert torch.allclose(color.luminance(mixed), color.luminance(result), atol=1e-6)


def test_luminance_inputs_are_grey_and_matched_to_the_photo():
    photo, painting = rand(seed=4, low=0.3, high=0.6), rand(24, 24, seed=5)
    grey_photo, (grey_painting,) = color.luminance_inputs(photo, [painting])
    for image in (grey_photo, grey_painting):
        assert torch.equal(image[:, 0], image[:, 1]) and torch.equal(image[:, 0], image[:, 2])
    photo_y = color.luminance(photo)
    assert torch.allclose(grey_painting[:, 0].mean(), photo_y.mean(), atol=1e-5)
    assert torch.allclose(grey_painting[:, 0].std(unbiased=False), photo_y.std(unbiased=False),
                          atol=1e-4)


@pytest.mark.parametrize("method", ["analogies", "cholesky"])
def test_match_color_gives_the_painting_the_photos_mean_and_covariance(method):
    photo = rand(seed=6, low=0.35, high=0.65)
    painting = rand(24, 24, seed=7, low=0.4, high=0.6) * torch.tensor([1.0, 0.8, 0.5]).view(1, 3, 1, 1)
    matched = color.match_color(painting, photo, method)
    assert matched.shape == painting.shape and 0 <= matched.min() and matched.max() <= 1
    (m1, c1), (m2, c2) = moments(matched), moments(photo)
    assert torch.allclose(m1, m2, atol=1e-5) and torch.allclose(c1, c2, atol=1e-5)


def test_bad_shapes_are_value_errors():
    with pytest.raises(ValueError, match="differ in shape"):
        color.recombine_chroma(rand(8, 8), rand(8, 9))
    with pytest.raises(ValueError, match=r"\(B,3,H,W\)"):
        color.rgb_to_yiq(torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError, match="method"):
        color.match_color(rand(), rand(), "lab")


def test_stylize_luminance_mode_keeps_the_photos_chroma():
    """Through the pipeline the output is 8-bit: each channel is off by up to 0.5/255, which
    moves I and Q by at most (0.596+0.274+0.321)*0.5/255 = 0.0023, and clamping changes the
    chroma of pixels outside the RGB gamut (none here: the photo's colours are muted)."""
    photo = rand(24, 32, seed=8, low=0.3, high=0.7)
    painting = (torch.arange(24) % 6 < 3).float().expand(1, 3, 24, 24) * torch.tensor(
        [0.9, 0.2, 0.1]).view(1, 3, 1, 1)
    config = StyleConfig(**TINY, preserve_color="luminance", style_weight=1000.0)
    out = pil_to_tensor(stylize(photo, painting, config, extractor=random_vgg_like((8, 16))))
    expected = pil_to_tensor(__import__("PIL.Image").Image.fromarray(
        (photo[0].permute(1, 2, 0) * 255).round().byte().numpy()))
    chroma = (color.rgb_to_yiq(out)[:, 1:] - color.rgb_to_yiq(expected)[:, 1:]).abs()
    assert chroma.max() < 0.0025 * 2  # the output's and the photo's own 8-bit rounding
    assert (color.luminance(out) - color.luminance(expected)).abs().mean() > 0.01  # it was stylised


def test_stylize_histogram_mode_differs_from_plain_transfer():
    photo, painting = rand(24, 32, seed=9), rand(24, 24, seed=10) * 0.5
    net = random_vgg_like((8, 16))
    plain = stylize(photo, painting, StyleConfig(**TINY), extractor=net)
    matched = stylize(photo, painting, StyleConfig(**TINY, preserve_color="histogram"), extractor=net)
    assert plain.tobytes() != matched.tobytes()


def test_cli_option(tmp_path, content_png, style_png):
    result = CliRunner().invoke(cli.cli, [
        "stylize", str(content_png), str(style_png), "-o", str(tmp_path / "out.png"),
        "--size", "32", "--iterations", "1", "--scales", "1", "--preserve-color", "sepia"])
    assert result.exit_code == 2 and "sepia" in result.stderr


# ------------------------------------------- style scale (the other per-painting control)

def test_style_scale_sets_the_paintings_long_edge():
    from painterly.pipeline import _shrunk, style_long_edge

    assert style_long_edge(StyleConfig(size=512)) == 512
    assert style_long_edge(StyleConfig(size=512, style_scale=0.5)) == 256
    assert style_long_edge(StyleConfig(size=512, style_size=300, style_scale=2.0)) == 600
    assert style_long_edge(StyleConfig(size=64, style_scale=0.1)) == 32  # never below 32 px
    assert _shrunk(torch.zeros(1, 3, 100, 200), 1 / 16, 16) == 32  # coarse scales: same floor
    assert _shrunk(torch.zeros(1, 3, 24, 24), 0.5, 16) == 24  # nor above a tiny painting's own size


def test_style_scale_changes_the_strokes():
    net, photo = random_vgg_like((8, 16)), rand(24, 32, seed=11)
    painting = (torch.arange(48) % 8 < 4).float().expand(1, 3, 48, 48).clone()
    fine, coarse = (stylize(photo, painting, StyleConfig(**TINY, style_scale=s), extractor=net)
                    for s in (0.7, 2.0))
    assert fine.tobytes() != coarse.tobytes()
