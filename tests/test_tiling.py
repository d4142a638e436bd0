"""Tiled optimisation: the grid, the blending ramps, shared style statistics, and that a tiled
run of a small image matches the untiled one (tiny network)."""

import pytest
import torch

from painterly import StyleConfig, stylize, tiling
from painterly.devices import resolve_runtime
from painterly.image_io import pil_to_tensor
from painterly.losses import gram_matrix
from painterly.optimize import compute_targets, objective
from painterly.pipeline import _prepare, loss_weights

import synthetic

TINY = dict(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"),
            size=96, scales=1, precision="fp32", device="cpu")
RUNTIME = resolve_runtime("cpu", "fp32")


def gradient():
    return synthetic.gradient(64, 96)


def stripes():
    return synthetic.stripes(32, 32)


GRIDS = [(96, 64, 16), (1000, 512, 64), (4096, 768, 64), (2725, 1024, 64), (64, 64, 16),
         (40, 64, 16), (1030, 1024, 64), (100, 48, 0)]


@pytest.mark.parametrize("length, tile, overlap", GRIDS)
def test_tiles_cover_the_axis_and_overlap_enough(length, tile, overlap):
    starts = tiling.tile_starts(length, tile, overlap)
    assert starts[0] == 0 and min(starts[-1] + tile, length) == length
    assert starts == sorted(set(starts))
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))


def test_boxes_and_counts():
    boxes = tiling.tile_boxes(64, 96, 48, 16)
    assert boxes[0] == (0, 0, 48, 48) and boxes[-1] == (16, 48, 64, 96)
    assert tiling.count_tiles(64, 96, 48, 16) == len(boxes) == 6
    assert tiling.tile_boxes(30, 40, 48, 16) == [(0, 0, 30, 40)]
    with pytest.raises(ValueError, match="larger than the overlap"):
        tiling.tile_starts(100, 32, 32)


@pytest.mark.parametrize("length, tile, overlap", GRIDS)
def test_axis_weights_sum_to_one_and_fade_over_the_overlap(length, tile, overlap):
    starts = tiling.tile_starts(length, tile, overlap)
    weights = tiling.axis_weights(length, tile, overlap)
    total = torch.zeros(length)
    for start, weight in zip(starts, weights):
        assert weight.shape == (min(start + tile, length) - start,)
        assert weight.min() >= 0 and weight.max() == 1
        total[start:start + len(weight)] += weight
    assert torch.allclose(total, torch.ones(length))
    for (a, wa), (b, wb) in zip(zip(starts, weights), zip(starts[1:], weights[1:])):
        shared = a + len(wa) - b  # the strip both tiles cover
        fading = ((wa[b - a:] > 0) & (wa[b - a:] < 1)).sum()
        width = min(overlap // 2, b - a, shared)
        assert width - 1 <= fading <= width  # one less where the centre falls between pixels
        # each tile's edge inside the image, where it saw zero padding, is never kept
        margin = (shared - width) // 2
        assert (wa[len(wa) - margin:] == 0).all() and (wb[:margin] == 0).all()
        if shared >= overlap:
            assert margin >= overlap // 4


def test_tile_weights_sum_to_one_over_the_image():
    total = torch.zeros(1, 1, 100, 140)
    for (top, left, bottom, right), weight in zip(tiling.tile_boxes(100, 140, 48, 16),
                                                  tiling.tile_weights(100, 140, 48, 16)):
        assert weight.shape == (1, 1, bottom - top, right - left)
        total[..., top:bottom, left:right] += weight
    assert torch.allclose(total, torch.ones_like(total))


def test_constant_tiles_blend_to_the_constant(monkeypatch):
    """Write-back is a convex mix: if every tile comes out as 0.7, so does every pixel."""
    monkeypatch.setattr(tiling, "optimize", lambda image, *a, **k: torch.full_like(image, 0.7))
    result = tiling.optimize_tiled(torch.rand(1, 3, 64, 96), lambda box: None, tile=48,
                                   overlap=16, steps=1)
    assert torch.allclose(result, torch.full_like(result, 0.7))


def test_tile_borders_never_reach_the_result(monkeypatch):
    """A tile whose outermost pixels came out wrong (as zero padding makes them) leaves no trace
    once its neighbours are blended in: the result is the tiles' good value everywhere."""
    def paint_with_bad_border(image, *args, **kwargs):
        out = torch.full_like(image, 0.5)
        out[..., :2, :] = out[..., -2:, :] = out[..., :, :2] = out[..., :, -2:] = 1.0
        return out

    monkeypatch.setattr(tiling, "optimize", paint_with_bad_border)
    result = tiling.optimize_tiled(torch.zeros(1, 3, 160, 230), lambda box: None, tile=64,
                                   overlap=16, steps=1)
    inner = result[..., 2:-2, 2:-2]  # the image's own border belongs to one tile only
    assert torch.allclose(inner, torch.full_like(inner, 0.5))


def test_tiles_start_from_the_image_as_painted_so_far(monkeypatch):
    """Each tile starts where its finished neighbours left the shared strip."""
    starts = []

    def record(image, *args, **kwargs):
        starts.append(image.clone())
        return torch.ones_like(image)

    monkeypatch.setattr(tiling, "optimize", record)
    tiling.optimize_tiled(torch.zeros(1, 3, 32, 80), lambda box: None, tile=48, overlap=8,
                          steps=1)
    first, second = starts  # tiles [0, 48) and [32, 80): they share columns 32..47
    assert torch.equal(first, torch.zeros_like(first))
    shared = second[..., :16]
    assert shared[..., :4].eq(1).all() and shared[..., -4:].eq(0).all()  # fade in the middle
    assert second[..., 16:].eq(0).all()


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
