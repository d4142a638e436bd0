"""On a CUDA GPU every engine paints what it paints on the CPU (run: ``pytest -m cuda``).

Skipped on machines without CUDA; ``scripts/device_check.sh`` runs them on a GPU. Each test
compares the GPU's result with the CPU's fp32 result, with bounds taken from what bf16 costs
on the CPU (a 256 px cat, bf16 against fp32 on the CPU: mean difference 0.38/255 for the
bundled fast style, 0.97/255 for universal style transfer). fp32 on CUDA runs its convolutions
in TF32 (PyTorch's default for cuDNN), so it too differs from the CPU by rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from painterly import StyleConfig, examples, image_io, stylize
from painterly.devices import resolve_runtime
from painterly.fast import TrainConfig, make_painter
from painterly.fast.train import train
from painterly.image_io import pil_to_tensor
from painterly.pipeline import evaluate

import synthetic

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_auto_picks_a_half_precision_network_in_channels_last():
    runtime = resolve_runtime("cuda", "auto")
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert runtime.device.type == "cuda" and runtime.dtype == expected and runtime.channels_last


def test_optimiser_ends_where_the_cpu_in_fp32_ends(bundled):
    """The same claim as tests/test_precision.py makes for the CPU's bf16, scored alike."""
    config = StyleConfig(size=64, scales=1, iterations=100)
    totals = {}
    for device, precision in (("cpu", "fp32"), ("cuda", "auto")):
        image = stylize(bundled["content"], bundled["style"],
                        config.replace(device=device, precision=precision))
        totals[device] = evaluate(image, bundled["content"], bundled["style"], config)["total"]
    assert abs(totals["cuda"] - totals["cpu"]) <= 0.02 * totals["cpu"], totals


def test_tiled_optimiser_reconstructs_what_the_cpu_reconstructs(tiny):
    """Without style the optimum is unique, so pixels can be compared (as in test_tiling.py)."""
    config = StyleConfig(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"),
                         size=96, scales=1, precision="fp32", iterations=50,
                         style_weight=0.0, init="noise")
    photo, painting = synthetic.gradient(64, 96), synthetic.stripes(32, 32)
    on_cpu = pil_to_tensor(stylize(photo, painting, config.replace(device="cpu"), extractor=tiny))
    tiled = config.replace(device="cuda", tile_size=64, tile_overlap=16)
    on_gpu = pil_to_tensor(stylize(photo, painting, tiled, extractor=tiny))
    assert (on_gpu - on_cpu).abs().mean() < 0.015


def _cat(long_edge: int = 256) -> torch.Tensor:
    return image_io.resize_long_edge(image_io.load_image(examples.example_path("chelsea_cat")),
                                     long_edge)


# (precision, tile size): whole in both precisions, and in 160 px tiles (the 256 px cat in 2)
PAINTERS = [("fp32", 1024), ("auto", 1024), ("fp32", 160)]
# (the style, mean difference bounds in fp32 and in auto, in 1/255): a fast style, a painting
ENGINES = {"fast style": ("starry_night", 0.5, 1.5), "any painting": ("the_scream", 1, 3)}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("precision, tile_size", PAINTERS)
def test_one_pass_engines_paint_what_the_cpu_paints(engine, precision, tile_size):
    name, fp32_bound, auto_bound = ENGINES[engine]
    style = [name if engine == "fast style" else str(examples.example_path(name))]
    bound = (fp32_bound if precision == "fp32" else auto_bound) / 255
    cat = _cat()
    on_cpu = make_painter(style, runtime=resolve_runtime("cpu", "fp32"), tile_size=tile_size)(cat)
    on_gpu = make_painter(style, runtime=resolve_runtime("cuda", precision),
                          tile_size=tile_size)(cat)
    assert on_gpu.shape == on_cpu.shape and on_gpu.device.type == "cpu"
    assert (on_gpu - on_cpu).abs().mean() < bound


def _train_losses(precision: str, tiny, style_png, tmp_path) -> list[float]:
    """Each step's total loss, 60 steps of a tiny network on CUDA (the same batches whatever
    the precision: the batch generator's seed is the config's)."""
    seen = []
    config = TrainConfig(steps=60, batch_size=2, crop_size=32, base_width=4, residual_blocks=1,
                         content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"),
                         style_size=48, photo_edge=(40, 80), learning_rate=0.001,
                         device="cuda", precision=precision)
    photos = tmp_path / precision
    photos.mkdir()
    train([style_png], synthetic.photo_folder(photos, 3), photos / "out", config,
          extractor=tiny, callback=seen.append)
    return [p.losses["total"] for p in seen]


@pytest.mark.parametrize("precision", ["auto", "fp16"])
def test_training_in_mixed_precision_ends_where_fp32_ends(precision, tiny, style_png, tmp_path):
    """CUDA trains under autocast, fp16 with loss scaling (whose first steps are skipped while
    the scale settles); the CPU tests cannot reach it. On the CPU, the same 60 steps ended
    (mean of the last 10) at 0.35 of the untrained loss in fp32, bf16 and fp16 alike."""
    fp32 = _train_losses("fp32", tiny, style_png, tmp_path)
    mixed = _train_losses(precision, tiny, style_png, tmp_path)
    end_fp32, end_mixed = np.mean(fp32[-10:]), np.mean(mixed[-10:])
    assert end_fp32 < 0.5 * fp32[0]
    assert np.isfinite(end_mixed) and end_mixed < 1.15 * end_fp32, (end_mixed, end_fp32)
