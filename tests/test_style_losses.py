"""The style distances beyond Gram (mean and covariance, sliced Wasserstein), VGG19's padding
modes, and that blends, masks, tiles and the CLI accept every style loss (tiny network)."""

import pytest
import torch
from click.testing import CliRunner

from painterly import StyleConfig, cli, losses, pipeline, stylize, tiling
from painterly.image_io import pil_to_tensor
from painterly.models.vgg import random_vgg_like
from painterly.optimize import projection_draws
from synthetic import gradient, stripes

KINDS = losses.STYLE_LOSSES
TINY = dict(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"),
            size=32, scales=1, iterations=3, precision="fp32", device="cpu")


def _features(seed: int, shape=(1, 5, 6, 7), dtype=torch.float32) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _distance(features, target, seed=0, **kwargs):
    directions = losses.random_projections(features.shape[1], torch.Generator().manual_seed(seed))
    return losses.style_distance(features, target, projections=directions.to(features.dtype),
                                 **kwargs)


@pytest.mark.parametrize("kind", KINDS)
def test_zero_for_identical_features_and_positive_otherwise(kind):
    features = _features(0)
    target = losses.style_statistics(features, kind)
    assert abs(_distance(features, target).item()) < 1e-5
    assert _distance(_features(1), target).item() > 1e-3
    # Zero responses are a relative error of one, as for the Gram loss.
    assert abs(_distance(torch.zeros_like(features), target).item() - 1) < 1e-4


def test_meancov_by_hand():
    # One channel: responses 1, 3 (mean 2, variance 1) against 0, 4 (mean 2, variance 4):
    # W2^2 = (2-2)^2 + 1 + 4 - 2 sqrt(1 * 4) = 1, relative to E[f^2] = (0 + 16) / 2 = 8.
    target = losses.style_statistics(torch.tensor([0.0, 4.0]).reshape(1, 1, 1, 2), "meancov")
    assert torch.allclose(target.mean, torch.tensor([[2.0]]))
    value = losses.meancov_loss(torch.tensor([1.0, 3.0]).reshape(1, 1, 1, 2), target)
    assert abs(value.item() - 1 / 8) < 1e-6
    # A shift of the mean alone: responses 3, 7 against 0, 4 -> (5-2)^2 / 8.
    shifted = losses.meancov_loss(torch.tensor([3.0, 7.0]).reshape(1, 1, 1, 2), target)
    assert abs(shifted.item() - 9 / 8) < 1e-5


def test_sliced_is_invariant_to_pixel_permutation():
    features, target = _features(0), losses.style_statistics(_features(1, (1, 5, 8, 8)), "sliced")
    order = torch.randperm(42, generator=torch.Generator().manual_seed(2))
    shuffled = features.flatten(2)[..., order].reshape(features.shape)
    assert torch.allclose(_distance(features, target), _distance(shuffled, target))


def test_sliced_reads_the_painting_as_a_quantile_function():
    """Equal distributions at different pixel counts are at distance (nearly) zero."""
    small = _features(0, (1, 3, 4, 4))
    big = small.repeat(1, 1, 3, 3)
    assert _distance(small, losses.style_statistics(big, "sliced")).item() < 1e-6


@pytest.mark.parametrize("kind", ["meancov", "sliced"])
def test_gradients_flow_float64(kind):
    features = _features(0, dtype=torch.float64).requires_grad_(True)
    target = losses.style_statistics(_features(1, dtype=torch.float64), kind)
    assert torch.autograd.gradcheck(lambda f: _distance(f, target), (features,))


def test_meancov_gradient_is_finite_with_fewer_pixels_than_channels():
    """A deep layer at a coarse scale: 4 pixels, 64 channels, a rank-3 covariance."""
    features = _features(0, (1, 64, 2, 2)).requires_grad_(True)
    loss = losses.meancov_loss(features, losses.style_statistics(_features(1, (1, 64, 4, 4)), "meancov"))
    loss.backward()
    assert torch.isfinite(features.grad).all() and features.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", KINDS)
def test_blend_is_the_statistic_of_the_mixture(kind):
    a, b = _features(0, (1, 5, 4, 4)), _features(1, (1, 5, 4, 4))
    both = torch.cat([a, b], dim=-1)
    blended = losses.blend_statistics(
        [losses.style_statistics(a, kind), losses.style_statistics(b, kind)], [1.0, 1.0])
    assert abs(_distance(both, blended).item()) < 1e-5


@pytest.mark.parametrize("kind", KINDS)
def test_weighted_pixels_of_a_region_match_the_region(kind):
    features = _features(0, (1, 5, 6, 8))
    region = torch.zeros(1, 1, 6, 8)
    region[..., :4] = 1
    target = losses.style_statistics(features[..., :4], kind)
    assert abs(_distance(features, target, pixel_weights=region).item()) < 1e-5


def test_sliced_needs_projections():
    target = losses.style_statistics(_features(0), "sliced")
    with pytest.raises(ValueError, match="projections"):
        losses.style_distance(_features(0), target)


def test_projection_draws_are_seeded_and_fresh_each_step():
    target = {"relu1_1": losses.style_statistics(_features(0), "sliced")}
    first, second = projection_draws(3), projection_draws(3)
    a, b = first(target)["relu1_1"], first(target)["relu1_1"]
    assert torch.equal(a, second(target)["relu1_1"]) and not torch.equal(a, b)
    assert a.shape == (5, 5) and torch.allclose(a.norm(dim=0), torch.ones(5))


@pytest.mark.parametrize("kind", KINDS)
def test_blends_masks_and_tiles_accept_every_loss(kind):
    tiny = random_vgg_like((8, 16))
    config = StyleConfig(**TINY, style_loss=kind)
    two = [(stripes(), 1.0), (gradient(24, 24), 0.5)]
    blended = pil_to_tensor(stylize(gradient(), two, config, extractor=tiny))
    left = torch.zeros(24, 32)
    left[:, :16] = 1
    masked = pil_to_tensor(stylize(gradient(), two, config, extractor=tiny, masks=[left, 1 - left]))
    tiled = pil_to_tensor(stylize(gradient(48, 64), stripes(), config.replace(
        size=64, tile_size=40, tile_overlap=16), extractor=tiny))
    for image in (blended, masked, tiled):
        assert torch.isfinite(image).all() and (image - image.mean()).abs().max() > 0


@pytest.mark.parametrize("kind", KINDS)
def test_painting_statistics_in_tiles_are_close_to_the_whole(kind):
    """Tiles of a periodic painting: only the zero padding at tile borders differs."""
    tiny, runtime = random_vgg_like((8, 16)), pipeline.resolve_runtime("cpu", "fp32")
    painting = stripes(48, 48)
    whole = tiling.painting_grams(tiny, painting, ["relu1_1"], runtime, None, kind)["relu1_1"]
    parts = tiling.painting_grams(tiny, painting, ["relu1_1"], runtime, 24, kind)["relu1_1"]
    assert type(parts) is type(whole)
    features = tiny(painting, ["relu1_1"])["relu1_1"]
    assert _distance(features, parts).item() < 0.05


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_padding_changes_only_the_border(mode):
    image = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(0))
    zeros = random_vgg_like((4,))(image, ["conv1_1"])["conv1_1"]
    other = random_vgg_like((4,), padding=mode)(image, ["conv1_1"])["conv1_1"]
    assert torch.equal(zeros[..., 1:-1, 1:-1], other[..., 1:-1, 1:-1])
    assert not torch.equal(zeros[..., 0, :], other[..., 0, :])


def test_config_validates_style_loss_and_padding():
    assert StyleConfig().style_loss in KINDS and StyleConfig().padding in ("zeros", "reflect", "replicate")
    with pytest.raises(ValueError, match="style_loss must be one of gram, meancov, sliced"):
        StyleConfig(style_loss="wasserstein")
    with pytest.raises(ValueError, match="padding must be one of zeros, reflect, replicate"):
        StyleConfig(padding="circular")
    with pytest.raises(ValueError, match="style_loss must be one of gram, meancov, sliced"):
        losses.style_statistics(_features(0), "histogram")


def test_cli_options_reach_the_library(tmp_path, content_png, style_png, monkeypatch):
    seen = []
    monkeypatch.setattr(pipeline, "stylize", lambda content, style, config, **kw: (
        seen.append(config), pipeline.Image.new("RGB", (8, 8)))[1])
    result = CliRunner().invoke(cli.cli, [
        "stylize", str(content_png), str(style_png), "-o", str(tmp_path / "out.png"),
        "--style-loss", "sliced", "--padding", "reflect", "--quiet"])
    assert result.exit_code == 0, result.stderr
    assert (seen[0].style_loss, seen[0].padding) == ("sliced", "reflect")
    bad = CliRunner().invoke(cli.cli, ["stylize", str(content_png), str(style_png), "-o",
                                       str(tmp_path / "x.png"), "--style-loss", "histogram"])
    assert bad.exit_code == 2 and "histogram" in bad.stderr
