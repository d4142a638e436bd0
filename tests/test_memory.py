"""The memory estimate, the automatic tiling it drives, and the guard that refuses a run that
will not fit before anything is loaded."""

import pytest
import torch
from click.testing import CliRunner

from painterly import StyleConfig, cli, memory, pipeline, stylize

GIB = memory.GIB


def test_layer_shapes_follow_vgg19():
    shapes = {name: (c, h, w) for name, c, h, w in memory.layer_shapes(224, 224, "pool5")}
    assert shapes["relu1_1"] == (64, 224, 224) and shapes["relu3_1"] == (256, 56, 56)
    assert shapes["pool5"] == (512, 7, 7)


def test_lbfgs_history_is_counted_up_to_fifty_pairs():
    config = StyleConfig()
    h, w = 1000, 1500
    ten, fifty, hundred = (memory.step_bytes(h, w, config, steps=s) for s in (10, 50, 100))
    assert fifty - ten == 40 * 2 * 3 * h * w * 4
    assert hundred == fifty
    adam = memory.step_bytes(h, w, config.replace(optimizer="adam"), steps=100)
    assert adam < ten


def test_estimate_grows_with_pixels_precision_and_guides():
    config = StyleConfig()
    small, large = memory.step_bytes(500, 500, config), memory.step_bytes(1000, 1000, config)
    assert 3.5 < large / small < 4.5
    assert memory.step_bytes(500, 500, config, dtype_bytes=4) > small
    assert memory.step_bytes(500, 500, config, guides=2) > small


def test_calibration_points():
    """Measured peak resident memory (VmHWM) of single-scale runs of the cat photo, bf16 on
    CPU (docs/control/README-section.md); the estimate stays within 15% of each."""
    measured = {(256, 1): 0.513, (512, 12): 0.811, (1024, 1): 1.460, (1024, 12): 1.780}
    for (size, steps), peak in measured.items():
        config = StyleConfig(size=size, scales=1, iterations=steps)
        plan = memory.plan_run(config, (round(300 * size / 451), size),
                               [(round(811 * size / 1024), size)])
        assert abs(plan[-1].peak / GIB / peak - 1) < 0.15, (size, steps)


def test_auto_tiling_only_where_the_image_does_not_fit():
    config = StyleConfig(size=4096, scales=5, iterations=20)
    plans = memory.plan_run(config, (2731, 4096), [(3244, 4096)], budget=12 * GIB)
    assert [p.tile for p in plans[:-1]] == [None] * 4
    assert plans[-1].tile in memory.AUTO_TILES and plans[-1].tiles > 1
    assert plans[-1].total_steps == plans[-1].steps * plans[-1].tiles
    assert all(p.peak <= 12 * GIB for p in plans)
    untiled = memory.plan_run(config, (2731, 4096), [(3244, 4096)])
    assert all(p.tile is None for p in untiled) and untiled[-1].peak > 20 * GIB


def test_explicit_tile_size_tiles_larger_scales_only():
    config = StyleConfig(size=1024, scales=3, iterations=10, tile_size=512)
    plans = memory.plan_run(config, (683, 1024), [])
    assert [p.tile for p in plans] == [None, None, 512]


def test_too_big_is_one_line_suggesting_tiling_or_a_smaller_size():
    config = StyleConfig(size=4096, tile_size=0, max_memory=8.0)
    with pytest.raises(ValueError) as info:
        memory.plan_run(config, (2731, 4096), [], budget=memory.budget_bytes(config))
    message = str(info.value)
    assert "\n" not in message and "--tile-size" in message
    assert "only 8.0 GiB are allowed (--max-memory)" in message
    assert "smaller --size (about" in message


def test_stylize_refuses_before_loading_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the network was loaded")
    monkeypatch.setattr(pipeline, "load_vgg19", refuse)
    config = StyleConfig(size=64, scales=1, max_memory=0.1, device="cpu")
    with pytest.raises(ValueError, match="raise --max-memory"):
        stylize(torch.rand(1, 3, 48, 64), torch.rand(1, 3, 32, 32), config)


def test_available_memory_on_linux():
    available = memory.available_bytes()
    assert available is None or available > 0
    assert memory.budget_bytes(StyleConfig(max_memory=2.5)) == int(2.5 * GIB)


def test_cli_refuses_with_exit_2_and_one_line(tmp_path, content_png, style_png, monkeypatch):
    monkeypatch.setattr(pipeline, "stylize", lambda *a, **k: pytest.fail("ran"))
    result = CliRunner().invoke(cli.cli, [
        "stylize", str(content_png), str(style_png), "-o", str(tmp_path / "out.png"),
        "--size", "2048", "--tile-size", "0", "--max-memory", "1"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("painterly: error: this run needs about")
    assert "--tile-size 512" in lines[0]
    assert not (tmp_path / "out.png").exists()


def test_smallest_tiles_only_suggest_a_smaller_size():
    config = StyleConfig(size=4096, tile_size=256, max_memory=0.5)
    with pytest.raises(ValueError) as info:
        memory.plan_run(config, (2731, 4096), [], budget=memory.budget_bytes(config))
    assert "in 256 px tiles" in str(info.value) and "--tile-size" not in str(info.value)


@pytest.mark.parametrize("args, fragment", [
    (["--tile-size", "40"], "tile_size"), (["--max-memory", "0"], "max_memory"),
    (["--style-scale", "0"], "style_scale"), (["--tile-overlap", "-1"], "tile_overlap")])
def test_cli_option_checks(tmp_path, content_png, style_png, args, fragment):
    result = CliRunner().invoke(cli.cli, ["stylize", str(content_png), str(style_png), "-o",
                                          str(tmp_path / "o.png"), *args])
    assert result.exit_code == 2 and fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_progress_counts_tile_steps(tmp_path, content_png, style_png, monkeypatch):
    """The bar's total includes every tile's steps (stages planned with their tiling)."""
    seen = []
    monkeypatch.setattr(pipeline, "stylize", lambda c, s, config, *, callback=None, **k:
                        seen.append(callback) or __import__("PIL.Image").Image.new("RGB", (8, 6)))
    result = CliRunner().invoke(cli.cli, [
        "stylize", str(content_png), str(style_png), "-o", str(tmp_path / "o.png"), "--size",
        "96", "--scales", "1", "--iterations", "3", "--tile-size", "48", "--tile-overlap", "16"])
    assert result.exit_code == 0, result.stderr
    assert seen[0].offsets == [0, 3 * 6]


def test_budget_below_painterlys_own_footprint_says_so_not_tiling():
    config = StyleConfig(size=32, scales=1, max_memory=0.001)
    with pytest.raises(ValueError) as info:
        memory.plan_run(config, (21, 32), [(32, 32)], budget=memory.budget_bytes(config))
    message = str(info.value)
    assert "only 0.001 GiB are allowed (--max-memory)" in message
    assert "raise --max-memory" in message and "tile" not in message and "--size" not in message


def test_paintings_too_large_blame_style_size_not_size():
    config = StyleConfig(size=64, scales=1, style_size=16384, max_memory=4.0)
    with pytest.raises(ValueError) as info:
        memory.plan_run(config, (43, 64), [(16384, 16384)], budget=memory.budget_bytes(config))
    message = str(info.value)
    assert "--style-size" in message and "smaller --size" not in message
    assert "\n" not in message


def test_small_image_is_not_advised_to_tile():
    config = StyleConfig(size=256, scales=1, tile_size=None)
    need = memory.plan_run(config, (171, 256), [])[0].peak
    assert need - 1 > memory.BASE_BYTES + 64 * 1024**2  # a size would help, tiles cannot
    with pytest.raises(ValueError) as info:
        memory.plan_run(config, (171, 256), [], budget=need - 1)
    assert "--tile-size" not in str(info.value) and "smaller --size" in str(info.value)
