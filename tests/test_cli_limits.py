"""Work that would explode, degenerate shapes and degenerate settings: each refused by the CLI
at once, with one line naming the culprit, exit 2, before the network loads."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner
from PIL import Image

from painterly import cli, pipeline


def run(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], prog_name="painterly")


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the network was used")
    monkeypatch.setattr(pipeline, "stylize", refuse)
    monkeypatch.setattr(pipeline, "load_vgg19", refuse)


def picture(path, width, height):
    Image.new("RGB", (width, height), (90, 120, 200)).save(path)
    return path


def refused(result, *fragments):
    assert result.exit_code == 2, (result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("painterly: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("args, fragments", [
    # work that explodes before it starts
    (["--size", "1000000000"], ["size must be an integer from 16 to 16384"]),
    (["--scales", "1000000"], ["scales must be an integer from 1 to 16"]),
    (["--iterations", "1000000000", "--save-every", "1"], ["iterations must be"]),
    (["--style-size", "1000000"], ["style_size must be"]),
    (["--style-scale", "16", "--size", "2048"], ["style_scale times style_size"]),
    # degenerate settings
    (["--style-layers", ""], ["style_layers must name at least one layer"]),
    (["--content-weight", "0", "--style-weight", "0", "--tv-weight", "0"],
     ["content_weight, style_weight and tv_weight", "all 0"]),
    (["--style-weight", "nan"], ["style_weight must be a finite number"]),
    (["--tv-weight", "inf"], ["tv_weight must be a finite number"]),
    (["--style-layer-weights", "nan,1,1,1,1"], ["style_layer_weights must be finite"]),
    (["--style-layer-weights", "1e308,1e308,1,1,1"], ["style_layer_weights", "finite sum"]),
    (["--max-memory", "inf"], ["max_memory must be a finite number"]),
    (["--max-memory", "nan"], ["max_memory"]),
    (["--device", "meta"], ["device must be auto, cpu, cuda, cuda:N or mps", "'meta'"]),
    (["--device", "xpu"], ["device must be", "'xpu'"]),
    (["--seed", str(2**63)], ["seed must be an integer from 0 to"]),
    (["--seed", "-1"], ["seed must be"]),
    (["--style-layers", "relu1_1,relu1_1"], ["style_layers names 'relu1_1' more than once"]),
    (["--iterations-per-scale", "1,2"], ["iterations_per_scale"]),
    (["--iterations-per-scale", "1,-1,1"], ["iterations_per_scale"]),
    (["--init", ""], ["init must be"]),
])
def test_refused_at_once(tmp_path, no_network, args, fragments):
    content = picture(tmp_path / "c.png", 64, 48)
    style = picture(tmp_path / "s.png", 64, 64)
    started = time.perf_counter()
    refused(run("stylize", content, style, "-o", tmp_path / "out.png", *args), *fragments)
    assert time.perf_counter() - started < 30  # generous: a hang would take far longer
    assert not (tmp_path / "out.png").exists()


def test_save_every_is_bounded_and_cheap(tmp_path, no_network):
    content = picture(tmp_path / "c.png", 64, 48)
    style = picture(tmp_path / "s.png", 64, 64)
    line = refused(run("stylize", content, style, "-o", tmp_path / "out.png", "--size", "64",
                       "--iterations", "100000", "--save-every", "1"),
                   "--save-every 1 would write", "intermediate images")
    assert "use --save-every" in line
    # an intermediate file that exists is still found (one listing of the folder)
    (tmp_path / "out.step0004.png").write_bytes(b"x")
    refused(run("stylize", content, style, "-o", tmp_path / "out.png", "--size", "64",
                "--scales", "1", "--iterations", "8", "--save-every", "2"),
            "out.step0004.png")


@pytest.mark.parametrize("size, picture_size, args, fragments", [
    ((4000, 8), (64, 64), [], ["'", "c.png' (4000x8 px) is too narrow", "crop it"]),
    ((400, 300), (64, 64), ["--size", "16"], ["c.png' (400x300 px) is too narrow",
                                              "size of at least 21"]),
    ((64, 48), (2048, 4), [], ["s.png' (2048x4 px) is too narrow"]),
])
def test_too_narrow_pictures_are_named(tmp_path, no_network, size, picture_size, args,
                                       fragments):
    content = picture(tmp_path / "c.png", *size)
    style = picture(tmp_path / "s.png", *picture_size)
    refused(run("stylize", content, style, "-o", tmp_path / "out.png", *args), *fragments)


def test_fast_refuses_a_picture_too_narrow_for_the_network(tmp_path):
    thin = picture(tmp_path / "thin.png", 2048, 4)
    refused(run("fast", thin, "--style", "starry_night", "-o", tmp_path / "out.png"),
            "thin.png' (2048x4 px) is too narrow", "at least 9 px")
    assert not (tmp_path / "out.png").exists()


def test_fast_paints_a_long_narrow_picture_in_tiles():
    import torch

    from painterly.devices import resolve_runtime
    from painterly.fast import bundled_styles, load_mix
    from painterly.fast.paint import FastPainter

    styles, mix = load_mix([bundled_styles()[0]])
    painter = FastPainter(styles, mix, runtime=resolve_runtime("cpu", "fp32"), tile_size=256)
    assert painter(torch.rand(1, 3, 9, 1200)).shape == (1, 3, 9, 1200)
