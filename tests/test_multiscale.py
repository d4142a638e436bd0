import pytest

from painterly import multiscale


def test_default_schedule_gives_coarser_scales_more_steps():
    stages = multiscale.schedule(512, 3, 100)
    assert [(s.long_edge, s.steps) for s in stages] == [(128, 200), (256, 150), (512, 100)]


def test_four_scales():
    stages = multiscale.schedule(1024, 4, 10)
    assert [s.steps for s in stages] == [25, 20, 15, 10]


def test_small_sizes_drop_scales_below_minimum():
    assert multiscale.long_edges(100, 3) == [100]
    assert multiscale.long_edges(200, 3) == [200]  # 100 px would paint the composition
    assert multiscale.long_edges(256, 3) == [128, 256]
    assert multiscale.long_edges(32, 1) == [32]


def test_explicit_steps_keep_finest_entries_when_scales_dropped():
    stages = multiscale.schedule(100, 3, 1, iterations_per_scale=(5, 6, 7))
    assert [(s.long_edge, s.steps) for s in stages] == [(100, 7)]


def test_explicit_steps_must_match_scales():
    with pytest.raises(ValueError, match="entries"):
        multiscale.schedule(512, 3, 10, iterations_per_scale=(1, 2))
