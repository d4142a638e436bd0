"""A frozen feature extractor that returns the responses of named layers.

VGG19 (Simonyan & Zisserman 2014) is built by :func:`vgg19`; tests build tiny random
extractors with the same naming through :class:`FeatureExtractor` directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from .layers import BLOCKS, LAYER_NAMES, check_layer_names
from .weights import InputConvention, VGGWeights

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)


class MaxPool2x2(nn.MaxPool2d):
    """Max pooling over 2x2 blocks, stride 2: (B,C,H,W) -> (B,C,H//2,W//2).

    On the CPU, when no gradient is wanted (universal painting, video), it takes the maximum
    of the four 2x2 phases of x (strided views): the same numbers, NaNs included, without
    PyTorch's NCHW kernel, which took 38 ms where this takes 10 on a 64x384x512 fp32 map
    (the layout universal painting keeps with Winograd's convolutions; channels_last: 3.9 and
    2.7 ms in bf16). With gradients, nn.MaxPool2d's, which sends each block's gradient to one
    pixel.
    """

    def __init__(self):
        super().__init__(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.device.type != "cpu" or (x.requires_grad and torch.is_grad_enabled())
                or min(x.shape[-2:]) < 2):  # the last: max_pool2d's own error
            return super().forward(x)
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
        return torch.maximum(torch.maximum(x[..., 0:h:2, 0:w:2], x[..., 0:h:2, 1:w:2]),
                             torch.maximum(x[..., 1:h:2, 0:w:2], x[..., 1:h:2, 1:w:2]))


class Preprocess(nn.Module):
    """Map painterly's images, (B,3,H,W) RGB in [0,1], to a network's own input convention."""

    def __init__(self, convention: InputConvention):
        super().__init__()
        self.convention = convention
        if convention == "caffe":
            mean, scale, order = CAFFE_MEAN_BGR, (255.0,) * 3, [2, 1, 0]
        elif convention == "torchvision":
            mean, scale, order = IMAGENET_MEAN_RGB, tuple(1 / s for s in IMAGENET_STD_RGB), [0, 1, 2]
            mean = tuple(m / s for m, s in zip(mean, IMAGENET_STD_RGB))
        else:
            raise ValueError(f"unknown input convention {convention!r}; expected caffe or torchvision")
        self.order = order
        self.register_buffer("scale", torch.tensor(scale).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image: (B,3,H,W) RGB in [0,1] -> (B,3,H,W) in the network's convention."""
        return image[:, self.order] * self.scale - self.mean


class FeatureExtractor(nn.Module):
    """Runs named layers in order and returns the ones asked for.

    layers: ``[(name, module), ...]`` in forward order; names follow VGG's scheme.
    preprocess: maps (B,3,H,W) RGB in [0,1] to the first layer's input.
    The extractor is frozen: no parameter takes gradients, it stays in eval mode.
    """

    def __init__(self, layers: Sequence[tuple[str, nn.Module]], preprocess: nn.Module):
        super().__init__()
        self.preprocess = preprocess
        self.names = tuple(name for name, _ in layers)
        self.body = nn.ModuleList(module for _, module in layers)
        self.requires_grad_(False)
        self.eval()

    def forward(self, image: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        """image: (B,3,H,W) RGB in [0,1]. Returns {name: (B,C,h,w)} for each requested layer.

        Stops after the deepest requested layer, so no work is wasted past it.
        """
        wanted = set(layers)
        unknown = wanted - set(self.names)
        if unknown:
            raise ValueError(
                f"unknown layer {sorted(unknown)[0]!r}; valid layers: {', '.join(self.names)}")
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(image)
        for name, module in zip(self.names, self.body):
            x = module(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out

    def truncated(self, last_layer: str) -> FeatureExtractor:
        """A view of this extractor that ends at ``last_layer`` (shares the weights)."""
        if last_layer not in self.names:
            raise ValueError(f"unknown layer {last_layer!r}; valid layers: {', '.join(self.names)}")
        end = self.names.index(last_layer) + 1
        return FeatureExtractor(list(zip(self.names[:end], self.body[:end])), self.preprocess)


PADDINGS = ("zeros", "reflect", "replicate")


def vgg19(weights: VGGWeights, *, pooling: str = "avg", last_layer: str = "pool5",
          padding: str = "zeros") -> FeatureExtractor:
    """VGG19's convolutional part, frozen, truncated after ``last_layer``.

    pooling: "max" as trained, or "avg" as Gatys et al. (2015, Sec. 2) recommend, which they
    found gives slightly more appealing results through better gradient flow.
    padding: the convolutions' one-pixel border: "zeros" as trained, or "reflect" /
    "replicate", which do not show the network a dark frame around the image (a departure
    from the trained network that only changes responses near the borders).
    """
    check_layer_names([last_layer])
    if pooling not in ("avg", "max"):
        raise ValueError(f"pooling must be avg or max, got {pooling!r}")
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
    layers: list[tuple[str, nn.Module]] = []
    for name in LAYER_NAMES[: LAYER_NAMES.index(last_layer) + 1]:
        layers.append((name, _make_layer(name, weights, pooling, padding)))
    return FeatureExtractor(layers, Preprocess(weights.convention))


def _make_layer(name: str, weights: VGGWeights, pooling: str, padding: str) -> nn.Module:
    if name.startswith("relu"):
        return nn.ReLU()
    if name.startswith("pool"):
        return nn.AvgPool2d(kernel_size=2, stride=2) if pooling == "avg" else MaxPool2x2()
    weight, bias = weights.convs[name]
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], kernel_size=3, padding=1,
                     padding_mode=padding)
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    return conv


def random_vgg_like(
    widths: Sequence[int] = (8, 16), *, seed: int = 0, pooling: str = "avg",
    make_preprocess: Callable[[], nn.Module] | None = None, padding: str = "zeros",
) -> FeatureExtractor:
    """A tiny random VGG-named extractor (convB_1, reluB_1, poolB per block) for tests and demos.

    widths: output channels per block. Weights are He-initialised from ``seed``.
    padding: the convolutions' padding mode, as in :func:`vgg19`.
    """
    generator = torch.Generator().manual_seed(seed)
    layers: list[tuple[str, nn.Module]] = []
    in_ch = 3
    for block, out_ch in enumerate(widths, start=1):
        conv = nn.Conv2d(in_ch, out_ch, 3, padding=1, padding_mode=padding)
        with torch.no_grad():
            conv.weight.normal_(0, (2 / (in_ch * 9)) ** 0.5, generator=generator)
            conv.bias.zero_()
        pool = nn.AvgPool2d(2) if pooling == "avg" else MaxPool2x2()
        layers += [(f"conv{block}_1", conv), (f"relu{block}_1", nn.ReLU()), (f"pool{block}", pool)]
        in_ch = out_ch
    preprocess = make_preprocess() if make_preprocess else Preprocess("torchvision")
    return FeatureExtractor(layers, preprocess)


__all__ = ["FeatureExtractor", "Preprocess", "vgg19", "random_vgg_like", "BLOCKS"]
