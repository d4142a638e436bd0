"""What single channels respond to: feature visualisation by activation maximisation.

Each channel gets its own image, started from faint noise and optimised with Adam to raise
the channel's mean response over the whole map (Olah et al.'s "channel" objective, Distill
2017), under the priors of :mod:`.fourier`: a decorrelated 1/f Fourier parameterisation
and random jitter, scale and rotation at every step. All channels of a grid are one batch
(each image only feeds its own channel's objective), so a grid costs about one run.

The objective is the mean of the channel's rectified response, whether the layer is named
``convB_I`` or ``reluB_I`` (so both give the same picture). Rectifying matters at conv1_1:
its response is linear in the pixels, and the mean of an edge filter over the whole map is
maximised by a flat colour, not by edges; the mean of the rectified response is maximised
by contrasting edges and colours. The rectifier leaks (slope :data:`LEAK` below zero), so a
channel that is silent on the start image still gets a gradient.

Pooling defaults to max, as VGG19 was trained: feature visualisations are about the trained
network (average pooling, which the paper prefers for synthesis, gives similar pictures).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..image_io import tensor_to_pil
from ..models.vgg import FeatureExtractor
from ..models.winograd import WinogradConv2d
from ..optimize import run_network
from .activations import DEFAULT_IMAGE, load_input, top_channels
from .common import (ExploreCallback, ExploreResult, ImageLike, Reporter, channel_count,
                     check_channels, check_layers, check_positive, check_size,
                     compact_channels, describe_input, network, parse_channels, rounded)
from .defaults import NEURON_CHANNELS, NEURON_STEPS
from .fourier import FourierImage, random_transform
from .grid import grid_shape, render_grid

DEFAULT_STEPS, DEFAULT_CHANNELS = NEURON_STEPS, NEURON_CHANNELS
LEAK = 0.1
"""Slope of the objective's rectifier below zero, so that a silent channel still gets a gradient."""


def visualize_neurons(
    layer: str = "conv3_1",
    channels: str | Sequence[int] | None = DEFAULT_CHANNELS,
    *,
    top: int | None = None,
    image: ImageLike | None = None,
    size: int = 128,
    steps: int = DEFAULT_STEPS,
    learning_rate: float = 0.05,
    columns: int | None = None,
    seed: int = 0,
    extractor: FeatureExtractor | None = None,
    device: str = "auto",
    precision: str = "auto",
    pooling: str = "max",
    callback: ExploreCallback | None = None,
) -> ExploreResult:
    """A grid of images, each made to excite one channel of ``layer`` as much as possible.

    channels: ``"0-7"``, ``"3,7,12"`` or a list of ints; ignored when ``top`` is given.
    top: instead, the ``top`` channels with the highest mean response to ``image`` (a path,
    PIL image or (1,3,H,W) tensor in [0,1]; default: the bundled cat photo).
    size: side of each square image in pixels. steps: Adam steps; learning_rate: Adam's.
    pooling: VGG19's pooling (ignored with ``extractor``).
    Returns an :class:`ExploreResult`: tiles (size x size) captioned ``ch N``; per-cell
    ``channel`` and ``activation`` (the channel's mean response to its final image).
    """
    check_layers([layer], extractor)
    check_size(size)
    check_positive(steps=steps)
    if top is not None:
        check_positive(top=top)
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    net, runtime = network(extractor, device, precision, pooling, layer)
    count = channel_count(net, layer, runtime)
    picked = _pick_channels(net, runtime, layer, count, channels, top, image, size)
    report = Reporter(callback, f"neurons {layer}", 1, steps)
    images, scores = _maximise(net, runtime, layer, picked, size, steps, learning_rate,
                               torch.Generator().manual_seed(seed), report)
    tiles = tuple(tensor_to_pil(img[None]) for img in images)
    _, cols = grid_shape(len(picked), columns)
    captions = [f"ch {c}" for c in picked]
    how = (f"the {len(picked)} channels most active on the image" if top
           else f"channels {compact_channels(picked)}")
    title = f"{layer}: {how}, activation maximisation"
    grid = render_grid(tiles, columns=cols, captions=captions, title=title)
    cells = tuple({"row": i // cols, "column": i % cols, "label": captions[i], "channel": c,
                   "activation": rounded(s)} for i, (c, s) in enumerate(zip(picked, scores)))
    settings = {"layer": layer, "channels": picked, "top": top,
                "image": describe_input(image, DEFAULT_IMAGE) if top else None,
                "size": size, "steps": steps,
                "learning_rate": learning_rate, "seed": seed, "pooling": pooling,
                "layer_channels": count, "objective": f"mean leaky_relu(response, {LEAK})",
                "device": str(runtime.device), "dtype": str(runtime.dtype).split(".")[-1]}
    return ExploreResult("neurons", grid, tiles, title, (), (), cells, settings)


def _pick_channels(net, runtime, layer, count, channels, top, image, size) -> list[int]:
    """The channels asked for (checked against ``count``), or the ``top`` most active ones."""
    if top is not None:
        ranked = top_channels(net, load_input(image, size * 2), layer, min(top, count), runtime)
        return [channel for channel, _ in ranked]
    picked = list(parse_channels(channels if channels is not None else DEFAULT_CHANNELS))
    check_channels(picked, layer, count)
    return picked


def _maximise(net, runtime, layer: str, channels: list[int], size: int, steps: int,
              learning_rate: float, generator: torch.Generator, report: Reporter):
    """Optimise one image per channel; returns ((B,3,size,size) in [0,1], final activations)."""
    param = FourierImage(len(channels), size, size, generator=generator).to(runtime.device)
    optimizer = torch.optim.Adam(param.parameters(), lr=learning_rate)
    index = torch.tensor(channels, device=runtime.device)
    for step in range(1, steps + 1):
        optimizer.zero_grad(set_to_none=True)
        images = random_transform(param(), generator)
        activation = _channel_means(net, images, layer, index, runtime)
        (-activation.sum()).backward()
        optimizer.step()
        report.step(step, {"activation": activation.mean().item()})
    with torch.no_grad():
        images = param()
        final = _channel_means(net, images, layer, index, runtime)
    return images.float().cpu(), [float(v) for v in final]


def _channel_means(net, images: torch.Tensor, layer: str, index: torch.Tensor, runtime):
    """(B,) mean rectified response of channel ``index[b]`` to image b, in float32.

    When ``layer`` is a convolution (or the ReLU right after one), that convolution runs
    only for the channels asked for: a grid of 16 channels of conv1_1 then costs a quarter
    of the full 64-channel layer, which dominates the cost of shallow layers.
    """
    conv, before = _last_conv(net, layer)
    if conv is None:
        feats = run_network(net, images, [layer], runtime)[layer]
    else:
        inputs = run_network(net, images, [before], runtime)[before] if before else \
            net.preprocess(images.to(runtime.dtype, memory_format=runtime.memory_format))
        feats = F.conv2d(inputs, conv.weight[index], conv.bias[index], padding=conv.padding)
        index = torch.arange(len(index), device=feats.device)
    picked = feats[torch.arange(len(index), device=feats.device), index].float()
    return F.leaky_relu(picked, LEAK).mean(dim=(1, 2))


def _last_conv(net, layer: str):
    """(the conv module computing ``layer``, the layer before it or None) for convX/reluX."""
    position = net.names.index(layer)
    if layer.startswith("relu") and position > 0:
        position -= 1
    module = net.body[position]
    if not isinstance(module, (torch.nn.Conv2d, WinogradConv2d)):
        return None, None
    return module, net.names[position - 1] if position > 0 else None
