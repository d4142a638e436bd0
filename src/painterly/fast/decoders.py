"""Decoders that invert VGG19: features at ``reluN_1`` back to a picture.

Li, Fang, Yang, Wang, Lu & Yang (2017, "Universal Style Transfer via Feature Transforms")
paint any painting without training on paintings: they transform a photo's VGG features at
one layer to carry the painting's statistics and decode the result with a network trained
only to invert VGG, on photos. Each decoder mirrors VGG19 up to its layer: the same
convolutions in reverse order, nearest-neighbour upsampling where VGG pools.

Departures from Li et al.: reflection padding instead of zero padding (no dark borders, and
tiles meet), and no relu5_1 decoder. Li et al.'s coarsest level is the costliest to train and
to run (a 13M-parameter decoder) and changes the least; see ``DECODER_LAYERS``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..models.layers import BLOCKS
from .resample import upsample_conv
from .store import write_atomically

FORMAT = "painterly-vgg-decoders"
DECODER_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
"""The layers painterly can make decoders for, shallow to deep; the bundled set holds all four.
A universal painter uses relu4_1's, relu3_1's and relu2_1's by default (``wct.DEFAULT_LEVELS``)."""
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "data" / "decoders"


class DecoderError(ValueError):
    """Decoders that cannot be found or read; the message is one line."""


def _block(layer: str) -> int:
    if layer not in DECODER_LAYERS:
        raise ValueError(f"no decoder for {layer!r}; decoders exist for {', '.join(DECODER_LAYERS)}")
    return int(layer[4])


class Decoder(nn.Module):
    """Features of ``layer`` (B,C,h,w) -> picture (B,3,h*2^(N-1),w*2^(N-1)), not clamped.

    For relu4_1: 512→256, up, 256→256 (x3), 256→128, up, 128→128, 128→64, up, 64→64, 64→3,
    every conv 3x3 with a ReLU but the last, as VGG19's convolutions read backwards.
    """

    def __init__(self, layer: str):
        super().__init__()
        self.layer = layer
        block = _block(layer)
        layers: list[nn.Module] = []
        for b in range(block, 0, -1):
            width, convs = BLOCKS[b - 1]
            below = BLOCKS[b - 2][0] if b > 1 else 3
            # Block b's own convs past conv{b}_1 (none for the deepest, whose conv{b}_1 is
            # inverted by the first conv here), then the conv down to the block below.
            repeats = 0 if b == block else convs - 1
            layers += [Conv(width, width) for _ in range(repeats)]
            layers.append(Conv(width, below, relu=b > 1))
            if b > 1:
                layers.append(nn.Upsample(scale_factor=2.0, mode="nearest"))
        self.body = nn.Sequential(*layers)
        # VGG's features are in the hundreds (Caffe's 0-255 input scale); training sets this
        # to one over their root mean square, so every layer sees inputs of about unit size.
        self.register_buffer("input_scale", torch.ones(()))

    @property
    def upsampling(self) -> int:
        """How many pixels of the picture each feature position decodes to, across and down."""
        return 2 ** (_block(self.layer) - 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = features * self.input_scale
        if torch.is_grad_enabled():
            return self.body(x)
        layers = iter(self.body)
        for layer in layers:  # painting: each upsampling and the conv after it in one step
            if isinstance(layer, nn.Upsample):
                layer = next(layers)
                x = upsample_conv(x, layer.conv)
                x = F.relu(x) if layer.relu else x
            else:
                x = layer(x)
        return x


class Conv(nn.Module):
    """Reflection pad, 3x3 convolution, optional ReLU."""

    def __init__(self, cin: int, cout: int, relu: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.pad(x, (1, 1, 1, 1), mode="reflect"))
        return F.relu(x) if self.relu else x


@dataclass
class Decoders:
    """Decoders by layer, and the record of how each was trained."""

    nets: dict[str, Decoder]
    config: dict = field(default_factory=dict)


def save_decoders(decoders: Decoders, folder: str | os.PathLike, dtype=torch.float16) -> Path:
    """Write ``config.json`` and ``model.safetensors`` (keys ``relu4_1.body.0.conv.weight``,
    ...) into ``folder``, weights in ``dtype`` (fp16 by default: half the bytes)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"{layer}.{k}": v.detach().to("cpu", dtype).contiguous()
               for layer, net in decoders.nets.items() for k, v in net.state_dict().items()}
    config = dict(decoders.config, format=FORMAT, version=1, layers=list(decoders.nets))
    write_atomically(folder / "model.safetensors", lambda tmp: save_file(tensors, tmp))
    write_atomically(folder / "config.json",
                     lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2) + "\n"))
    return folder


def check_decoders(folder: str | os.PathLike | None = None) -> None:
    """DecoderError, before anything loads, when ``folder`` (default: the bundled decoders)
    holds no decoders; for the bundled folder the message says how to make them."""
    folder = Path(folder) if folder is not None else BUNDLED_DIR
    if (folder / "config.json").is_file():
        return
    if folder == BUNDLED_DIR:
        raise DecoderError("painting pictures need painterly's VGG decoders, which this copy of "
                           "painterly does not have yet: train them with "
                           "scripts/train_decoders.py (see DEVELOPERS.md), or use a trained "
                           "style (`painterly styles`)")
    raise DecoderError(f"{str(folder)!r} holds no VGG decoders (no config.json)")


def load_decoders(folder: str | os.PathLike | None = None) -> Decoders:
    """Read a decoder folder (default: the bundled decoders) into fp32 decoders in eval mode;
    DecoderError if it is missing or unreadable."""
    folder = Path(folder) if folder is not None else BUNDLED_DIR
    check_decoders(folder)
    try:
        config = json.loads((folder / "config.json").read_text())
        if config.get("format") != FORMAT:
            raise DecoderError(f"{str(folder)!r} does not hold painterly's VGG decoders")
        state = load_file(folder / "model.safetensors")
        nets = {}
        for layer in config["layers"]:
            prefix = f"{layer}."
            net = Decoder(layer)
            net.load_state_dict({k[len(prefix):]: v.float() for k, v in state.items()
                                 if k.startswith(prefix)})
            nets[layer] = net.eval().requires_grad_(False)
    except DecoderError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DecoderError(f"cannot read the VGG decoders in {str(folder)!r}: {reason}") from None
    return Decoders(nets, config)
