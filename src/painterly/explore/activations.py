"""Where on an image a layer's strongest channels respond: activation maps as heat maps.

A channel's strength (captioned as "mean") is the mean of its rectified response,
``max(response, 0)``: what the next layer receives, whether the layer named is a
convolution (before its ReLU) or a ReLU. Each map is upsampled to the image, scaled to its
own maximum and coloured (dark: no response, yellow: the channel's peak) over a grey copy
of the image.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..devices import Runtime
from ..examples import bundled_image
from ..image_io import load_image, tensor_to_pil
from ..models.vgg import FeatureExtractor
from ..optimize import run_network
from .common import (ExploreCallback, ExploreResult, ImageLike, Reporter, check_layers,
                     check_positive, check_size, describe_input, network, rounded)
from .grid import grid_shape, render_grid

DEFAULT_IMAGE = "content/chelsea_cat.png"
# Anchors of a perceptually ordered dark-to-bright colour map (close to matplotlib's inferno).
HEAT = np.array([(0, 0, 4), (40, 11, 84), (101, 21, 110), (159, 42, 99), (212, 72, 66),
                 (245, 125, 21), (250, 193, 39), (252, 255, 164)], dtype=np.float32)


def load_input(image: ImageLike | None, long_edge: int) -> torch.Tensor:
    """A path, PIL image or tensor (default: the bundled cat) -> (1,3,H,W) in [0,1]."""
    return load_image(image if image is not None else bundled_image(DEFAULT_IMAGE),
                      long_edge=long_edge)


@torch.no_grad()
def layer_response(net: FeatureExtractor, image: torch.Tensor, layer: str,
                   runtime: Runtime) -> torch.Tensor:
    """(C,h,w) float32 response of ``layer`` to image (1,3,H,W) in [0,1]."""
    feats = run_network(net, image.to(runtime.device), [layer], runtime)[layer]
    return feats[0].float().cpu()


def top_channels(net: FeatureExtractor, image: torch.Tensor, layer: str, k: int,
                 runtime: Runtime) -> list[tuple[int, float]]:
    """The ``k`` channels with the highest mean rectified response: [(channel, mean), ...]."""
    strength = layer_response(net, image, layer, runtime).clamp(min=0).mean(dim=(1, 2))
    values, indices = torch.topk(strength, min(k, strength.numel()))
    return [(int(i), float(v)) for i, v in zip(indices, values)]


def activation_maps(
    image: ImageLike | None = None,
    layer: str = "conv4_1",
    top: int = 9,
    *,
    size: int = 256,
    columns: int | None = None,
    extractor: FeatureExtractor | None = None,
    device: str = "auto",
    precision: str = "auto",
    pooling: str = "avg",
    callback: ExploreCallback | None = None,
) -> ExploreResult:
    """The input image, then the response maps of ``layer``'s ``top`` strongest channels.

    image: path, PIL image or (1,3,H,W) tensor in [0,1] (default: the bundled cat), resized
    to long edge ``size``. Per cell: channel, mean, max, std (of the raw response),
    active (fraction of positions > 0) and peak_xy (the peak in image pixels).
    """
    check_layers([layer], extractor)
    check_size(size)
    check_positive(top=top)
    photo = load_input(image, size)
    net, runtime = network(extractor, device, precision, pooling, layer)
    response = layer_response(net, photo, layer, runtime)
    Reporter(callback, f"activations {layer}", 1, 1).step(1, {})
    ranked = top_channels(net, photo, layer, top, runtime)
    tiles = [tensor_to_pil(photo)] + [heat_overlay(photo, response[c]) for c, _ in ranked]
    captions = ["input"] + [f"ch {c}, mean {m:.3g}" for c, m in ranked]
    rows, cols = grid_shape(len(tiles), columns or min(len(tiles), 5))
    cells = [{"row": 0, "column": 0, "label": "input"}]
    for i, (channel, strength) in enumerate(ranked, start=1):
        cells.append({"row": i // cols, "column": i % cols, "label": f"ch {channel}",
                      "channel": channel, "strength": rounded(strength),
                      **map_statistics(response[channel], photo.shape[-2:])})
    title = f"{layer}: the {len(ranked)} strongest of {response.shape[0]} channels"
    grid = render_grid(tiles, columns=cols, captions=captions, title=title)
    settings = {"layer": layer, "top": top, "size": size, "pooling": pooling,
                "layer_channels": response.shape[0], "map_size": list(response.shape[1:]),
                "image": describe_input(image, DEFAULT_IMAGE)}
    return ExploreResult("activations", grid, tuple(tiles), title, (), (), tuple(cells), settings)


def map_statistics(response: torch.Tensor, image_hw) -> dict:
    """mean, max, std, active fraction and peak position (image pixels) of a (h,w) map."""
    h, w = response.shape
    peak = int(torch.argmax(response))
    scale_y, scale_x = image_hw[0] / h, image_hw[1] / w
    return {"mean": rounded(response.mean().item()), "max": rounded(response.max().item()),
            "std": rounded(response.std().item()) if response.numel() > 1 else 0.0,
            "active": rounded((response > 0).float().mean().item()),
            "peak_xy": [round((peak % w + 0.5) * scale_x), round((peak // w + 0.5) * scale_y)]}


def heat_overlay(photo: torch.Tensor, response: torch.Tensor, alpha: float = 0.75) -> Image.Image:
    """A (h,w) response map, upsampled to photo (1,3,H,W), coloured over the photo in grey."""
    h, w = photo.shape[-2:]
    heat = F.interpolate(response.clamp(min=0)[None, None], size=(h, w), mode="bilinear",
                         align_corners=False)[0, 0]
    heat = heat / heat.max() if heat.max() > 0 else heat
    colour = colormap(heat.numpy())
    grey = photo[0].float().mean(0).cpu().numpy()[..., None] * 255
    mixed = alpha * colour + (1 - alpha) * grey
    return Image.fromarray(mixed.clip(0, 255).astype(np.uint8), "RGB")


def colormap(values: np.ndarray) -> np.ndarray:
    """(h,w) values in [0,1] -> (h,w,3) float RGB in 0..255 along :data:`HEAT`."""
    x = np.clip(values, 0, 1) * (len(HEAT) - 1)
    low = np.floor(x).astype(int).clip(0, len(HEAT) - 2)
    frac = (x - low)[..., None]
    return HEAT[low] * (1 - frac) + HEAT[low + 1] * frac
