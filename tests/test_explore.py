"""painterly.explore on a tiny random network (shapes, labels, JSON, errors), its CLI group,
and one smoke run of every figure on the real VGG19 at a tiny size."""

import json

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from painterly.explore import (activation_maps, make_figures, paper_name, paper_ratio,
                               parse_channels, reconstruct_content, reconstruct_style,
                               render_grid, tradeoff_grid, visualize_neurons)
from painterly.explore.commands import explore
from painterly.explore.common import compact_channels
from painterly.explore.figures import FILES
from painterly.explore.fourier import FourierImage, random_transform
from painterly.image_io import OutputError
from synthetic import gradient as photo, stripes

TINY_LAYERS = "conv1_1, relu1_1, pool1, conv2_1, relu2_1, pool2"
CPU = dict(device="cpu", precision="fp32")


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------- building blocks

def test_parse_channels():
    assert parse_channels("0-3,8") == (0, 1, 2, 3, 8)
    assert parse_channels(" 5 , 2,5 ") == (5, 2)
    assert parse_channels([3, 1, 3]) == (3, 1)
    assert parse_channels(7) == (7,)
    for bad in ("a-b", "3-1", "", "1,,2", "0-1000000"):
        with pytest.raises(ValueError):
            parse_channels(bad)


def test_compact_channels():
    assert compact_channels([0, 1, 2, 3, 7]) == "0-3, 7"
    assert compact_channels([4, 5]) == "4, 5"


def test_fourier_image_is_seeded_and_in_range():
    a = FourierImage(2, 20, 24, generator=torch.Generator().manual_seed(1))()
    b = FourierImage(2, 20, 24, generator=torch.Generator().manual_seed(1))()
    assert a.shape == (2, 3, 20, 24) and torch.equal(a, b)
    assert 0 < a.min() and a.max() < 1
    moved = random_transform(a, torch.Generator().manual_seed(0))
    assert moved.shape == a.shape and not torch.equal(moved, a)


def test_render_grid_layout():
    tiles = [Image.new("RGB", (20, 10), c) for c in ("red", "green", "blue")]
    plain = render_grid(tiles, columns=3)
    labelled = render_grid(tiles, columns=3, title="T", row_labels=["row"],
                           column_labels=["a", "b", "c"], captions=["1", "2", "3"])
    assert labelled.width > plain.width and labelled.height > plain.height
    assert render_grid(tiles, columns=2).height > plain.height
    with pytest.raises(ValueError):
        render_grid([], columns=1)


def test_paper_names_and_ratios():
    assert paper_name("relu4_2") == "conv4_2" and paper_name("conv4_2") == "conv4_2"
    assert paper_ratio(10.0) == pytest.approx(1e-3)
    assert paper_ratio(1000.0) == pytest.approx(1e-5)


# ---------------------------------------------------------------------------- neurons

def test_neurons_grid_labels_and_numbers(tiny):
    seen = []
    result = visualize_neurons("conv2_1", "0-3", size=32, steps=4, extractor=tiny,
                               callback=seen.append, **CPU)
    assert [c["label"] for c in result.cells] == ["ch 0", "ch 1", "ch 2", "ch 3"]
    assert [c["channel"] for c in result.cells] == [0, 1, 2, 3]
    assert [t.size for t in result.tiles] == [(32, 32)] * 4
    assert result.image.mode == "RGB" and result.image.width > 2 * 32
    assert [p.step for p in seen] == [1, 2, 3, 4] and seen[-1].task == "neurons conv2_1"
    data = json.loads(json.dumps(result.to_json()))
    assert data["kind"] == "neurons" and data["settings"]["layer_channels"] == 16
    assert all(isinstance(c["activation"], float) for c in data["cells"])


def test_neurons_raise_the_activation_and_are_seeded(tiny):
    seen = []
    a = visualize_neurons("relu1_1", [2, 5], size=24, steps=12, extractor=tiny,
                          callback=seen.append, **CPU)
    b = visualize_neurons("relu1_1", [2, 5], size=24, steps=12, extractor=tiny, **CPU)
    assert seen[-1].losses["activation"] > seen[0].losses["activation"]
    assert a.image.tobytes() == b.image.tobytes()


def test_neurons_top_channels_on_an_image(tiny):
    result = visualize_neurons("conv2_1", top=3, image=photo(), size=24, steps=1,
                               extractor=tiny, **CPU)
    channels = [c["channel"] for c in result.cells]
    assert len(set(channels)) == 3 and all(0 <= c < 16 for c in channels)
    assert result.settings["top"] == 3


def test_neurons_channel_out_of_range(tiny):
    with pytest.raises(ValueError) as excinfo:
        visualize_neurons("conv1_1", "0-20", size=24, steps=1, extractor=tiny, **CPU)
    assert "valid channels are 0-7" in one_line_error(excinfo)


@pytest.mark.parametrize("call", [
    lambda net: visualize_neurons("conv9_1", extractor=net, **CPU),
    lambda net: reconstruct_content(photo(), ["conv1_1", "conv5_2"], extractor=net, **CPU),
    lambda net: reconstruct_style(stripes(), ["relu1_1", "nope"], extractor=net, **CPU),
    lambda net: tradeoff_grid(photo(), stripes(), style_layers=["relu1_1"],
                              content_layer="relu4_2", extractor=net, **CPU),
    lambda net: activation_maps(photo(), "conv4_1", extractor=net, **CPU),
])
def test_unknown_layer_lists_valid_ones(tiny, call):
    with pytest.raises(ValueError) as excinfo:
        call(tiny)
    assert f"valid layers: {TINY_LAYERS}" in one_line_error(excinfo)


# ------------------------------------------------------------------ reconstructions

def test_content_reconstruction(tiny):
    seen = []
    result = reconstruct_content(photo(), ["conv1_1", "relu2_1"], size=32, steps=6,
                                 extractor=tiny, callback=seen.append, **CPU)
    assert result.column_labels == ("input", "conv1_1", "relu2_1\n(paper: conv2_1)")
    assert [t.size for t in result.tiles] == [(32, 24)] * 3
    assert [c.get("loss") is not None for c in result.cells] == [False, True, True]
    first = [p for p in seen if p.stage == 1]
    assert len(seen) == 12 and first[-1].losses["content"] < first[0].losses["content"]
    assert result.to_json()["settings"]["layers"] == ["conv1_1", "relu2_1"]
    assert result.settings["image"] == "tensor"


def test_style_reconstruction_grows_layer_sets(tiny):
    result = reconstruct_style(stripes(), ["relu1_1", "relu2_1"], size=24, steps=3,
                               extractor=tiny, **CPU)
    assert [c.get("layers") for c in result.cells] == [None, ["relu1_1"], ["relu1_1", "relu2_1"]]
    assert result.column_labels[2] == "relu1_1 + relu2_1\n(paper: conv1_1+2_1)"
    assert result.tiles[1].size == (24, 24)


def test_reconstruction_rejects_bad_numbers(tiny):
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        reconstruct_content(photo(), ["conv1_1"], steps=0, extractor=tiny, **CPU)
    with pytest.raises(ValueError, match="size must be at least 16"):
        reconstruct_style(stripes(), ["relu1_1"], size=8, extractor=tiny, **CPU)


def test_tradeoff_grid(tiny):
    result = tradeoff_grid(photo(), stripes(), style_weights=(100.0, 1.0),
                           style_layers=("relu1_1", "relu2_1"), content_layer="relu2_1",
                           size=32, steps=2, extractor=tiny, **CPU)
    assert len(result.tiles) == 4
    assert result.row_labels == ("up to relu1_1\n(paper: conv1_1)",
                                 "up to relu2_1\n(paper: conv2_1)")
    assert result.column_labels[0].startswith("style weight 100\n(paper ratio ~1e-4)")
    cell = result.cells[3]
    assert (cell["row"], cell["column"], cell["style_weight"]) == (1, 1, 1.0)
    assert cell["style_layers"] == ["relu1_1", "relu2_1"] and "content" in cell
    assert cell["style_error"] == pytest.approx(cell["style"], rel=1e-3)  # style weight 1
    with pytest.raises(ValueError, match="style weights must be finite numbers > 0"):
        tradeoff_grid(photo(), stripes(), style_weights=(0.0,), style_layers=["relu1_1"],
                      content_layer="relu2_1", extractor=tiny, **CPU)


# ---------------------------------------------------------------------- activations

def test_activation_maps(tiny):
    result = activation_maps(photo(), "relu2_1", 3, size=32, extractor=tiny, **CPU)
    assert [c["label"] for c in result.cells][0] == "input" and len(result.tiles) == 4
    stats = result.cells[1]
    assert {"channel", "mean", "max", "std", "active", "peak_xy"} <= set(stats)
    means = [c["mean"] for c in result.cells[1:]]
    assert result.settings["layer_channels"] == 16 and result.settings["map_size"] == [12, 16]
    assert all(t.size == (32, 24) for t in result.tiles)
    assert len(means) == 3


# ------------------------------------------------------------------------------ CLI

@pytest.fixture
def tiny_vgg(monkeypatch, tiny):
    """Every explore command runs on the tiny network instead of VGG19."""
    import painterly.explore.common
    import painterly.explore.tradeoff

    monkeypatch.setattr(painterly.explore.common, "load_vgg19", lambda *args: tiny)
    monkeypatch.setattr(painterly.explore.tradeoff, "load_vgg19", lambda *args: tiny)
    return tiny


def run(*args):
    return CliRunner().invoke(explore, [*args, "--device", "cpu", "--precision", "fp32",
                                        "--quiet"])


def test_cli_neurons_writes_png_and_json(tiny_vgg, tmp_path):
    out, numbers = tmp_path / "n.png", tmp_path / "n.json"
    result = run("neurons", "--layer", "conv2_1", "--channels", "0-2", "--size", "24",
                 "--steps", "2", "-o", str(out), "--json", str(numbers))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    data = json.loads(numbers.read_text())
    assert data["command"] == "neurons" and [c["channel"] for c in data["cells"]] == [0, 1, 2]
    assert Image.open(out).size == tuple(data["size"])


@pytest.mark.parametrize("args", [
    ["reconstruct", "--layers", "conv1_1,relu2_1"],
    ["style", "--layers", "relu1_1,relu2_1", "--style-size", "32"],
    ["tradeoff", "--layers", "relu1_1", "--content-layer", "relu2_1", "--style-weights", "10,1"],
    ["activations", "--layer", "relu2_1", "--top", "2"],
])
def test_cli_commands_on_bundled_images(tiny_vgg, tmp_path, args):
    out = tmp_path / "grid.png"
    steps = [] if args[0] == "activations" else ["--steps", "1"]
    result = run(*args, *steps, "--size", "24", "-o", str(out), "--json", str(tmp_path / "g.json"))
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "g.json").read_text())
    assert data["kind"] in ("content", "style", "tradeoff", "activations")
    assert "bundled:" in json.dumps(data["settings"])


def test_cli_errors_are_one_line_value_errors(tiny_vgg, tmp_path):
    out = tmp_path / "n.png"
    result = run("neurons", "--layer", "conv9_1", "-o", str(out))
    assert isinstance(result.exception, ValueError) and result.exit_code == 1
    assert str(result.exception).startswith("unknown layer 'conv9_1'; valid layers: conv1_1")
    result = run("neurons", "--layer", "conv1_1", "--channels", "3-99", "-o", str(out))
    assert "channel 8 is out of range" in str(result.exception)
    result = run("neurons", "-o", str(out), "--json", str(tmp_path / "n.txt"))
    assert "must end in .json" in str(result.exception)
    assert not out.exists()


def test_errors_through_the_main_cli(tiny_vgg, tmp_path):
    """Registered in ``painterly``'s group, a bad argument is one line and exit code 2."""
    from painterly.cli import cli

    main = type(cli)(name="painterly", commands={"explore": explore})  # cli is not modified
    result = CliRunner().invoke(main, ["explore", "neurons", "--layer", "conv9_1", "-o",
                                       str(tmp_path / "n.png"), "--quiet"])
    assert result.exit_code == 2
    assert result.stderr.startswith("painterly: error: unknown layer 'conv9_1'; valid layers:")
    assert result.stderr.count("\n") == 1


def test_cli_refuses_to_overwrite_before_working(tiny_vgg, tmp_path):
    out = tmp_path / "n.png"
    out.write_bytes(b"keep")
    result = run("activations", "--layer", "relu1_1", "-o", str(out))
    assert isinstance(result.exception, OutputError) and out.read_bytes() == b"keep"
    assert run("activations", "--layer", "relu1_1", "-o", str(out), "--overwrite").exit_code == 0


# ------------------------------------------------------------------ real VGG19 smoke

def test_real_vgg19_smoke():
    """The real network, tiny and few steps: deepest neurons and a shallow reconstruction."""
    neurons = visualize_neurons("conv5_1", "0,511", size=32, steps=3, precision="fp32")
    assert neurons.settings["layer_channels"] == 512 and len(neurons.tiles) == 2
    content = reconstruct_content(layers=["relu1_2"], size=32, steps=3, precision="fp32")
    assert content.tiles[1].size == content.tiles[0].size and content.cells[1]["loss"] < 1


@pytest.mark.slow
def test_figures_quick_on_vgg19(tmp_path):
    """Every figure once on the real network, tiny and few steps (the images mean nothing)."""
    result = CliRunner().invoke(explore, ["figures", "--out", str(tmp_path), "--quick", "--quiet"])
    assert result.exit_code == 0, result.output
    assert [line.rsplit("/", 1)[-1] for line in result.stdout.split()] == list(FILES)
    record = json.loads((tmp_path / "figures.json").read_text())
    assert set(record["figures"]) == {"neurons conv1_1", "neurons conv2_1", "neurons conv3_1",
                                      "neurons conv4_1", "neurons conv5_1", "content", "style",
                                      "tradeoff", "activations", "neurons cat conv4_1"}
    assert record["figures"]["neurons conv5_1"]["settings"]["layer_channels"] == 512
    with Image.open(tmp_path / "tradeoff.jpg") as image:
        assert image.format == "JPEG"
    with pytest.raises(ValueError, match="already exists"):
        make_figures(tmp_path, quick=True)


@pytest.mark.parametrize("command", [["activations", "--layer", "relu5_1"], ["reconstruct"], ["style"]])
def test_explore_refuses_a_picture_too_narrow_for_vgg19_before_work(tmp_path, command):
    from click.testing import CliRunner
    from PIL import Image

    from painterly.cli import cli

    wide = tmp_path / "wide.png"
    Image.new("RGB", (4000, 8), "red").save(wide)
    args = ["explore", command[0], str(wide), *command[1:], "-o", str(tmp_path / "o.png")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "wide.png" in result.output and "too narrow" in result.output
    assert "cpu" not in result.output  # refused before the device is even chosen
