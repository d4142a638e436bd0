"""Tiled optimisation: the grid, the blending ramps, shared style statistics, and that a tiled
run of a small image matches the untiled one (tiny network)."""

import pytest
import torch

from painterly import StyleConfig, stylize, tiling
from painterly.devices import resolve_runtime
from painterly.image_io import pil_to_tensor
from painterly.losses import gram_matrix
from painterly.models.vgg import random_vgg_like
from painterly.optimize import compute_targets, objective
from painterly.pipeline import _prepare, loss_weights

TINY = dict(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"),
            size=96, scales=1, precision="fp32", device="cpu")
RUNTIME = resolve_runtime("cpu", "fp32")


def gradient(h=64, w=96):
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return torch.stack([x, y, (x + y) / 2])[None]


def stripes(h=32, w=32):
    return (torch.arange(w) % 6 < 3).float().expand(1, 3, h, w).clone()


@pytest.fixture
def tiny():
    return random_vgg_like((8, 16))


@pytest.mark.parametrize("length, tile, overlap", [(96, 64, 16), (1000, 512, 64), (4096, 768, 64),
                                                    (2731, 1024, 64), (64, 64, 16), (40, 64, 16)])
def test_tiles_cover_the_axis_and_overlap_enough(length, tile, overlap):
    for starts in (tiling.tile_starts(length, tile, overlap),
                   tiling.shifted_starts(tiling.tile_starts(length, tile, overlap), length, tile)):
        assert starts[0] == 0 and min(starts[-1] + tile, length) == length
        assert starts == sorted(set(starts))
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))


def test_boxes_and_counts():
    boxes = tiling.tile_boxes(64, 96, 48, 16)
    assert boxes[0] == (0, 0, 48, 48) and boxes[-1] == (16, 48, 64, 96)
    assert tiling.count_tiles(64, 96, 48, 16) == len(boxes) == 6
    assert tiling.count_tiles(64, 96, 48, 16, sweeps=2) == 6 + len(tiling.tile_boxes(64, 96, 48, 16, 1))
    assert tiling.tile_boxes(30, 40, 48, 16) == [(0, 0, 30, 40)]
    with pytest.raises(ValueError, match="larger than the overlap"):
        tiling.tile_starts(100, 32, 32)


def test_ramps_fade_only_inside_the_image():
    weight = tiling.ramp((16, 48, 64, 96), 64, 96, 16)[0, 0]
    assert weight.shape == (48, 48)
    assert weight[-1, -1] == 1 and weight[0, 0] < 0.01 and weight[24, 24] == 1  # image corner: 1
    assert torch.all(weight[:, 1:] >= weight[:, :-1]) and torch.all(weight[1:] >= weight[:-1])
    near_only = tiling.ramp((16, 16, 64, 64), 96, 96, 16, fade_far=False)[0, 0]
    assert near_only[-1, -1] == 1 and near_only[0, 0] < 0.01
    rise = tiling.ramp((0, 0, 8, 40), 8, 80, 16)[0, 0, 0, 24:]
    fall = tiling.ramp((0, 24, 8, 80), 8, 80, 16)[0, 0, 0, :16]
    assert torch.allclose(rise + fall, torch.ones(16))  # symmetric cross-fade sums to one


def test_constant_tiles_blend_to_the_constant(monkeypatch):
    """Write-back is a convex mix: if every tile comes out as 0.7, so does every pixel."""
    monkeypatch.setattr(tiling, "optimize", lambda image, *a, **k: torch.full_like(image, 0.7))
    result = tiling.optimize_tiled(torch.rand(1, 3, 64, 96), lambda box: None, tile=48,
                                   overlap=16, steps=1, sweeps=2)
    assert torch.allclose(result, torch.full_like(result, 0.7))


def test_tiled_painting_grams_match_the_whole_painting(tiny):
    net = _prepare(tiny, StyleConfig(**TINY), RUNTIME)
    painting = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    whole = tiling.painting_grams(net, painting, ["relu1_1", "relu2_1"], RUNTIME)
    tiled = tiling.painting_grams(net, painting, ["relu1_1", "relu2_1"], RUNTIME, tile=64)
    features = net(painting, ["relu1_1"])["relu1_1"]
    assert torch.equal(whole["relu1_1"], gram_matrix(features))
    for name in whole:  # only the zero padding at the tiles' borders differs
        error = (tiled[name] - whole[name]).norm() / whole[name].norm()
        assert error < 0.05, name


def _full_objective(net, image, config):
    weights = loss_weights(config)
    net = _prepare(net, config, RUNTIME)
    targets = compute_targets(net, gradient(), [(stripes(), 1.0)], weights, RUNTIME)
    return objective(net, image, targets, weights, RUNTIME)["total"].item()


def test_tiled_reconstruction_matches_the_untiled_one(tiny):
    """Without style the optimum is unique (the photo's reconstruction from its features), so
    tiled and untiled runs must meet: they differ by 0.005 on average after 50 steps, about as
    much as either differs from the photo (0.007, 2/255); 0.015 leaves room for platforms."""
    config = StyleConfig(**TINY, iterations=50, style_weight=0.0, init="noise")
    untiled = pil_to_tensor(stylize(gradient(), stripes(), config, extractor=tiny))
    tiled = pil_to_tensor(stylize(gradient(), stripes(), config.replace(tile_size=64, tile_overlap=16),
                                  extractor=tiny))
    assert (tiled - untiled).abs().mean() < 0.015
    assert (untiled - gradient()).abs().mean() < 0.015


def test_tiled_style_transfer_reaches_the_untiled_objective(tiny):
    """With style the texture's phase is arbitrary, so pixels cannot be compared; the
    whole-image objective can: the tiled result scores within 10% of the untiled one (measured
    -3%..+3% for 30-60 steps), and both well below the photo's (4.7 against 6.3)."""
    config = StyleConfig(**TINY, iterations=30)
    untiled = pil_to_tensor(stylize(gradient(), stripes(), config, extractor=tiny))
    tiled = pil_to_tensor(stylize(gradient(), stripes(), config.replace(tile_size=64, tile_overlap=16),
                                  extractor=tiny))
    start, plain, tiles = (_full_objective(tiny, image, config)
                           for image in (gradient(), untiled, tiled))
    assert tiles < 1.1 * plain and plain < 0.85 * start


def test_tiled_stage_reports_whole_image_progress(tiny):
    seen = []
    config = StyleConfig(**TINY, iterations=2, tile_size=64, tile_overlap=16)
    image = stylize(gradient(), stripes(), config, extractor=tiny, callback=seen.append)
    assert image.size == (96, 64)
    assert [p.step for p in seen] == list(range(1, 2 * 2 + 1)) and seen[-1].steps == 4
    assert all(p.size == (96, 64) for p in seen) and seen[-1].preview().size == (96, 64)
