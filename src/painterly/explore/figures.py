"""Every figure of the README's "What the network sees", regenerated on the bundled images.

``make_figures(out_dir)`` writes small JPEGs (quality 85) and ``figures.json`` (each figure's
numbers and settings, and how long it took). The settings below are chosen so that the
whole set runs in a few minutes on a laptop CPU; ``quick=True`` shrinks everything to a
smoke test that exercises each step in seconds (the images are then meaningless).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PIL import Image

from .. import __version__, image_io
from ..models.vgg import FeatureExtractor
from .activations import activation_maps
from .common import BLOCK_CONVS, ExploreCallback, ExploreProgress, ExploreResult, write_json
from .neurons import visualize_neurons
from .reconstruct import reconstruct_content, reconstruct_style
from .tradeoff import tradeoff_grid

JPEG_QUALITY, LOWEST_QUALITY, MAX_BYTES = 85, 60, 150_000
"""JPEG quality 85, lowered in steps of 5 (to 60 at most) while a figure exceeds 150 KB:
the figures are committed, so they should stay small."""
CAT_CHANNELS = 5
"""How many of the conv4_1 channels most active on the cat (the first of the activation
maps) are also visualised by activation maximisation."""
NEURON_CHANNELS = "0-5"
"""Channels shown per block: the first six, not picked by hand. (The channels most active
on a photo are a poor sample: at conv1_1 they are all flat-colour detectors.)"""

FULL = {"neurons": dict(size=128, steps=256), "content": dict(size=192, steps=200),
        "style": dict(size=192, steps=200), "tradeoff": dict(size=128, steps=100),
        "activations": dict(size=256)}
"""The commands' defaults: each figure is what its command makes by default."""
QUICK = {"neurons": dict(size=32, steps=2), "content": dict(size=32, steps=2),
         "style": dict(size=32, steps=2),
         "tradeoff": dict(size=32, steps=2, style_weights=(100.0, 1.0),
                          style_layers=("relu1_1", "relu5_1")),
         "activations": dict(size=32)}

FILES = (*(f"neurons_{layer}.jpg" for layer in BLOCK_CONVS), "content.jpg", "style.jpg",
         "tradeoff.jpg", "activations.jpg", "neurons_cat_conv4_1.jpg", "figures.json")


def make_figures(
    out_dir: str | Path,
    *,
    quick: bool = False,
    seed: int = 0,
    device: str = "auto",
    precision: str = "auto",
    overwrite: bool = False,
    extractor: FeatureExtractor | None = None,
    callback: ExploreCallback | None = None,
) -> list[Path]:
    """Write the figures (see :data:`FILES`) into the existing folder ``out_dir``.

    Neuron grids for conv1_1 ... conv5_1, content and style reconstructions (Fig. 1), the
    trade-off grid (Fig. 3), conv4_1's activation maps on the bundled cat and what the
    channels most active there look for. Every path is checked before any work starts.
    extractor: a network to use instead of VGG19 (tests); it must have the layers used.
    Returns the paths written, in :data:`FILES` order.
    """
    paths = _check_paths(Path(out_dir), overwrite)
    common = dict(seed=seed, device=device, precision=precision, extractor=extractor)
    runs = _runs(QUICK if quick else FULL, common)
    results: list[ExploreResult] = []
    record = {"version": __version__, "quick": quick, "figures": {}}
    for index, (name, run) in enumerate(runs, start=1):
        start = time.perf_counter()
        result = run(results, _prefixed(callback, f"[{index}/{len(runs)}] "))
        results.append(result)
        seconds = round(time.perf_counter() - start, 1)
        record["figures"][name] = {**result.to_json(), "seconds": seconds}
    for result, path in zip(results, paths):
        image_io.save_image(result.image, path, overwrite=overwrite,
                            quality=jpeg_quality(result.image))
    write_json(record, paths[-1])
    return paths


def _check_paths(out: Path, overwrite: bool) -> list[Path]:
    paths = [out / name for name in FILES]
    for path in paths:
        if path.suffix == ".json":
            if path.exists() and not overwrite:
                raise ValueError(f"cannot write '{path}': file already exists (use --overwrite)")
        else:
            image_io.check_output_path(path, overwrite=overwrite)
    return paths


Run = Callable[[list, ExploreCallback], ExploreResult]


def _runs(settings: dict, common: dict) -> list[tuple[str, Run]]:
    """(name, run(results so far, callback)) for each figure, in :data:`FILES` order."""
    runs: list[tuple[str, Run]] = [
        (f"neurons {layer}", _neuron_run(layer, settings["neurons"], common))
        for layer in BLOCK_CONVS]
    unseeded = {k: v for k, v in common.items() if k != "seed"}
    return runs + [
        ("content", lambda _, cb: reconstruct_content(**settings["content"], **common,
                                                      callback=cb)),
        ("style", lambda _, cb: reconstruct_style(**settings["style"], **common, callback=cb)),
        ("tradeoff", lambda _, cb: tradeoff_grid(**settings["tradeoff"], **common, callback=cb)),
        ("activations", lambda _, cb: activation_maps(**settings["activations"], **unseeded,
                                                      callback=cb)),
        # What the strongest channels of the activation maps (the run before) look for, on
        # the same network (average pooling).
        ("neurons cat conv4_1", lambda done, cb: visualize_neurons(
            "conv4_1", [cell["channel"] for cell in done[-1].cells[1:CAT_CHANNELS + 1]],
            pooling="avg", columns=CAT_CHANNELS, **settings["neurons"], **common, callback=cb)),
    ]


def jpeg_quality(image: Image.Image) -> int:
    """The highest quality from JPEG_QUALITY down to LOWEST_QUALITY that fits MAX_BYTES."""
    quality = JPEG_QUALITY
    while quality > LOWEST_QUALITY:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        if buffer.tell() <= MAX_BYTES:
            break
        quality -= 5
    return quality


def _neuron_run(layer: str, settings: dict, common: dict) -> Run:
    def run(_done: list, callback: ExploreCallback | None) -> ExploreResult:
        return visualize_neurons(layer, NEURON_CHANNELS, columns=6, **settings, **common,
                                 callback=callback)
    return run


def _prefixed(callback: ExploreCallback | None, prefix: str) -> ExploreCallback | None:
    if callback is None:
        return None

    def relay(progress: ExploreProgress) -> None:
        callback(replace(progress, task=prefix + progress.task))
    return relay
