"""The painting's fine detail, band by band (fast/detail.py, Heeger & Bergen 1995)."""

import torch

from painterly.fast.detail import (BANDS, EDGE, apply_detail, detail_reach, detail_remap,
                                   detail_stats, pyramid, quantiles, rebuild)

SIDE = EDGE  # pictures at the size paintings are measured at pair band k with band k


def smooth(h, w, seed=0):
    """A picture with detail at every scale: random noise over a smooth gradient."""
    generator = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0.2, 0.8, w).expand(1, 3, h, w)
    return (ramp + 0.1 * torch.randn(1, 3, h, w, generator=generator)).clamp(0, 1)


def test_the_pyramid_rebuilds_the_picture_exactly():
    image = smooth(37, 50)
    bands, rest = pyramid(image, 3)
    assert [b.shape[-2:] for b in bands] == [(37, 50), (18, 25), (9, 12)]
    assert torch.allclose(rebuild(bands, rest), image, atol=1e-6)


def test_each_matched_band_takes_the_paintings_histogram():
    picture = smooth(SIDE, SIDE, seed=1) * 0.5 + 0.25  # lower contrast than the painting
    painting = smooth(SIDE, SIDE, seed=2)
    stats = detail_stats(painting)
    out = apply_detail(picture, detail_remap(picture, [(stats, 1.0)]))
    bands, _ = pyramid(out, BANDS)
    for k in range(BANDS):
        # One pass, as painterly makes it (Heeger & Bergen iterate): the bands of a Laplacian
        # pyramid are not independent, so the finer bands' new values leak a little into the
        # coarser ones when the picture is taken apart again; the finest is matched exactly.
        error = (quantiles(bands[k]) - stats.quantiles[k]).abs().mean()
        before = (quantiles(pyramid(picture, BANDS)[0][k]) - stats.quantiles[k]).abs().mean()
        assert error < (0.02 if k == 0 else 0.34) * before, (k, error, before)


def test_a_picture_matched_to_itself_or_at_strength_0_is_unchanged():
    picture = smooth(SIDE, SIDE * 3 // 4)
    own = detail_remap(picture, [(detail_stats(picture), 1.0)])
    assert [k for k, _, _ in own] == list(range(BANDS))
    change = (apply_detail(picture, own) - picture).abs()
    # only the few values beyond the extremes of the quantiles' subsample (SAMPLES) move
    assert change.mean() < 1e-5 and (change > 2e-3).float().mean() < 1e-4
    other = detail_remap(picture, [(detail_stats(smooth(48, 40, seed=3)), 1.0)])
    assert torch.equal(apply_detail(picture, other, strength=0), picture)


def test_a_flat_painting_flattens_the_detail_without_nans():
    picture = smooth(SIDE, SIDE)
    flat = detail_stats(torch.full((1, 3, 32, 32), 0.4))
    assert flat.quantiles.abs().max() < 1e-6
    out = apply_detail(picture, detail_remap(picture, [(flat, 1.0)]))
    assert torch.isfinite(out).all()
    bands, _ = pyramid(out, BANDS)
    assert bands[0].abs().max() < 0.02  # the finest band left is only the clamp's doing


def test_bands_pair_at_the_same_scale_relative_to_the_picture():
    painting = detail_stats(smooth(64, 64))  # measured at EDGE, whatever its size
    assert [k for k, _, _ in detail_remap(smooth(SIDE, 40), [(painting, 1.0)])] == [0, 1, 2]
    # a picture twice that size: its finest band is finer than the painting shows
    assert [k for k, _, _ in detail_remap(smooth(2 * SIDE, 64), [(painting, 1.0)])] == [1, 2, 3]
    assert [k for k, _, _ in detail_remap(smooth(SIDE // 2, 64), [(painting, 1.0)])] == [0, 1]
    # tiles of a picture twice the size, remapped by the bands of its copy at half its size:
    # that copy's finest band stands for the picture's band 1
    tiles = detail_remap(smooth(SIDE, 64), [(painting, 1.0)], edge=2 * SIDE)
    assert [k for k, _, _ in tiles] == [1, 2, 3]
    tiles = detail_remap(smooth(SIDE // 2, 64), [(painting, 1.0)], edge=2 * SIDE)
    assert [k for k, _, _ in tiles] == [2, 3]  # nothing shows its band 1


def test_a_blend_targets_the_weighted_mean_of_the_paintings_quantiles():
    a, b = detail_stats(smooth(32, 32, seed=4)), detail_stats(smooth(32, 32, seed=5) * 0.3)
    picture = smooth(SIDE, 64, seed=6)
    (k, _, target), *_ = detail_remap(picture, [(a, 3.0), (b, 1.0)])
    assert k == 0
    assert torch.allclose(target, 0.75 * a.quantiles[0] + 0.25 * b.quantiles[0])


def test_the_reach_grows_with_the_coarsest_band():
    painting = detail_stats(smooth(64, 64))
    assert detail_reach([]) == 0
    assert detail_reach(detail_remap(smooth(SIDE, 64), [(painting, 1.0)])) == 16
    assert detail_reach(detail_remap(smooth(4 * SIDE, 64), [(painting, 1.0)])) == 64
