"""The benchmarks' own code, small and on the CPU: the tutorial-style reference computes
painterly's objective (fp32, 32 px), the roofline counts by hand, the device check runs.

No timings here: the benchmarks measure and print them.
"""

import json
import re

import pytest
import torch
from synthetic import benchmark

from painterly import StyleConfig
from painterly.devices import resolve_runtime
from painterly.models.layers import conv_channels
from painterly.models.vgg import vgg19
from painterly.models.weights import VGGWeights
from painterly.optimize import compute_targets, objective
from painterly.pipeline import loss_weights


def _random_vgg19_weights(seed: int = 0) -> VGGWeights:
    generator = torch.Generator().manual_seed(seed)
    convs = {}
    for name, (c_in, c_out) in conv_channels().items():
        weight = torch.randn(c_out, c_in, 3, 3, generator=generator) * (2 / (9 * c_in)) ** 0.5
        convs[name] = (weight, torch.randn(c_out, generator=generator) * 0.1)
    return VGGWeights(convs, "caffe", "random")


def test_reference_objective_and_gradient_match_painterly():
    reference = benchmark("reference")
    weights = _random_vgg19_weights()
    generator = torch.Generator().manual_seed(1)
    content, style, image = (torch.rand(1, 3, 32, 40, generator=generator) for _ in range(3))
    config = StyleConfig(size=40, precision="fp32", device="cpu")

    runtime = resolve_runtime("cpu", "fp32")
    net = vgg19(weights, pooling="avg").truncated("relu5_1")
    lw = loss_weights(config)
    targets = compute_targets(net, content, [(style, 1.0)], lw, runtime)
    ours_image = image.clone().requires_grad_(True)
    ours = objective(net, ours_image, targets, lw, runtime)
    ours["total"].backward()

    tutorial = reference.TutorialStyleTransfer(
        weights, content, style, content_layers=config.content_layers,
        style_layers=config.style_layers, content_weight=config.content_weight,
        style_weight=config.style_weight, tv_weight=config.tv_weight)
    theirs_image = image.clone().requires_grad_(True)
    theirs = tutorial.objective(theirs_image)
    theirs["total"].backward()

    for term in ("content", "style", "tv", "total"):
        assert torch.allclose(theirs[term], ours[term], rtol=1e-4, atol=1e-7), term
    assert ours["style"] > 0 and ours["content"] > 0
    assert torch.allclose(theirs_image.grad, ours_image.grad, rtol=1e-3, atol=1e-6 * ours_image.grad.abs().max())


def test_roofline_counts_multiply_adds_by_hand():
    roofline = benchmark("roofline")
    net = vgg19(_random_vgg19_weights(), pooling="avg").truncated("relu2_1")
    image = torch.rand(1, 3, 32, 40)
    convs, features = roofline.conv_macs(net, image, ["relu1_1", "relu2_1"])
    # conv1_1: 3->64 over 32x40 px; conv1_2: 64->64 there; conv2_1: 64->128 over 16x20 px.
    assert convs == 32 * 40 * 64 * 3 * 9 + 32 * 40 * 64 * 64 * 9 + 16 * 20 * 128 * 64 * 9
    assert roofline.gram_macs(features, ["relu2_1"]) == 16 * 20 * 128 * 128


@pytest.mark.slow
def test_device_benchmark_runs_every_engine_on_the_cpu(tmp_path, capsys):
    # The GPU check (scripts/device_check.sh) runs this same code with --device cuda.
    benchmark("device").main(["--device", "cpu", "--size", "128", "--iterations", "2",
                              "--step-sizes", "64,96", "--fast-sizes", "128x72,96x54",
                              "--repeat", "1", "--steps", "1", "--out", str(tmp_path)])
    table = capsys.readouterr().out
    # the header; three default runs, the ceiling, two steps, two fast frames, universal, training
    assert table.count("\n| ") == 11
    assert re.search(r"\| objective \+ gradient, 96x64 \| [0-9.]+ ms; [0-9.]+ TFLOP/s, [0-9]+% ", table)
    assert {p.name for p in tmp_path.glob("*.png")} == {
        "stylize_auto.png", "stylize_fp32.png", "fast_style_128x72.png", "fast_style_96x54.png",
        "any_painting.png"}


@pytest.mark.slow
def test_fast_benchmark_paints_the_prepared_and_the_given_folder(tmp_path, capsys):
    # Two photos larger than the output: the whole-process table has a row for the prepared
    # 64x36 folder and one for the folder as given (64 px long edge).
    from PIL import Image
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, size in (("wide.jpg", (320, 200)), ("tall.png", (150, 240))):
        Image.effect_noise(size, 40).convert("RGB").save(photos / name)
    benchmark("fast").main(["--photos", str(photos), "--sizes", "64x36", "--repeat", "1",
                            "--warmup", "0", "--process-repeat", "1", "--out", str(tmp_path / "o")])
    table = capsys.readouterr().out.split("Whole process")[1]
    assert re.search(r"painterly fast CLI, fp32 +64x36 +[0-9.]+ ", table)
    assert re.search(r"painterly fast CLI, fp32 +64 long +[0-9.]+ ", table)
    for tag in ("64", "64_given"):
        assert sorted(p.name for p in (tmp_path / "o" / f"cli_painterly_fp32_{tag}").iterdir()) == [
            "tall.png", "wide.png"]


@pytest.mark.slow
def test_new_style_benchmark_scores_each_engine_and_draws_the_sheet(tmp_path, capsys):
    from PIL import Image
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.effect_noise((96, 64), 40).convert("RGB").save(photos / "noise.png")
    painting = tmp_path / "painting.png"
    Image.radial_gradient("L").convert("RGB").save(painting)
    benchmark("new_style").main([str(painting), "--engine", "bundled=starry_night",
                                 "--photos", str(photos), "--size", "64", "--optimise", "0",
                                 "--cell", "32", "--out", str(tmp_path / "o")])
    scores = json.loads((tmp_path / "o" / "scores.json").read_text())
    assert [r["engine"] for r in scores] == ["bundled", "any painting"]
    assert all(r["style"] > 0 and r["content"] > 0 for r in scores)
    assert Image.open(tmp_path / "o" / "sheet.jpg").size == (4 * 32, 20 + 32)  # photo, 2, painting
    assert "median over the photos" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.skipif(not torch.backends.nnpack.is_available(), reason="this PyTorch has no NNPACK")
def test_winograd_benchmark_times_both_kinds_of_convolution(capsys):
    benchmark("winograd").main(["--sizes", "64", "--universal-size", "64", "--repeat", "1"])
    table = capsys.readouterr().out
    for what in ("optimiser step, 64 px", "universal picture, 64 px"):
        assert re.search(rf"\| {what} \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|", table), table


@pytest.mark.slow
def test_resample_benchmark_times_plain_and_rewritten_layers(capsys):
    benchmark("resample").main(["--sizes", "64x48", "--universal-size", "64", "--repeat", "1",
                                "--precision", "fp32"])
    table = capsys.readouterr().out
    for what in ("fast style, 64×48", "universal picture, 64 px"):
        assert re.search(rf"\| {what} \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|", table), table


def test_resample_benchmark_plain_layers_paint_the_same_and_are_put_back():
    from painterly.fast import network
    from painterly.fast.network import TransformerNet, one_hot

    resample = benchmark("resample")
    net = TransformerNet(2).eval()
    photo, mix = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(1)), one_hot(0, 2)
    rewritten = net.paint(photo, mix)
    with resample.plain_layers(True):
        assert network.upsample_conv is resample._plain_upsample_conv
        plain = net.paint(photo, mix)
    assert network.upsample_conv.__module__ == "painterly.fast.resample"
    assert torch.allclose(plain, rewritten, atol=1e-5)
