"""painterly's objective, computed the way the PyTorch tutorial computes Gatys et al.'s.

The baseline of ``speed.py``: what a careful reader of the official tutorial
(pytorch.org/tutorials/advanced/neural_style_tutorial.html) would write, fp32 and NCHW
throughout. Like the tutorial it has

* an ``nn.Sequential`` VGG19 with a ``Normalization`` module in front, cut after the last
  loss layer, in eval mode with ``requires_grad_(False)``;
* transparent ``ContentLoss`` / ``StyleLoss`` modules inserted after the loss layers, each
  stashing ``self.loss`` in its forward (painterly's library avoids this; here it is the point);
* a Gram matrix by ``features.view(b * c, h * w)`` and ``torch.mm``, with autograd's own
  backward (two matmuls);
* ``torch.optim.LBFGS`` on the image.

It departs from the tutorial only where needed to compute *painterly's* objective and to
step like painterly, so that the two can be timed like for like:

* each layer's loss is a relative error (MSE divided by the target's mean square), the Gram
  matrix is divided by ``h * w``, and a total-variation term is added (painterly's
  ``losses.py``); average pooling (Gatys et al. 2015); the weights and the input convention
  are painterly's bundled VGG19 (``painterly.models.weights.load_weights(None)``);
* L-BFGS runs one iteration per ``step()`` with history 50 and no clamping in the closure
  (painterly's ``optimize.py``); the tutorial clamps and lets ``step()`` run 20 iterations.

``tests/test_benchmarks.py`` checks that this computes the same values and gradients as
painterly's ``objective`` in fp32.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from painterly.losses import EPS
from painterly.models.layers import LAYER_NAMES
from painterly.models.vgg import CAFFE_MEAN_BGR, IMAGENET_MEAN_RGB, IMAGENET_STD_RGB
from painterly.models.weights import VGGWeights


class Normalization(nn.Module):
    """The tutorial's ``(img - mean) / std``, after reordering channels (RGB -> BGR for Caffe)."""

    def __init__(self, convention: str):
        super().__init__()
        if convention == "caffe":  # BGR, 0-255, minus the mean pixel
            order, mean, std = [2, 1, 0], [m / 255 for m in CAFFE_MEAN_BGR], [1 / 255] * 3
        else:  # torchvision: RGB, ImageNet mean and std
            order, mean, std = [0, 1, 2], IMAGENET_MEAN_RGB, IMAGENET_STD_RGB
        self.order = order
        self.register_buffer("mean", torch.tensor(mean).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(-1, 1, 1))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return (img[:, self.order] - self.mean) / self.std


def gram_matrix(input: torch.Tensor) -> torch.Tensor:
    """The tutorial's Gram matrix, divided by h*w (painterly's normalisation)."""
    a, b, c, d = input.size()
    features = input.view(a * b, c * d)
    G = torch.mm(features, features.t())
    return G.div(c * d)


class ContentLoss(nn.Module):
    """Transparent layer: stores the relative squared error to the target in ``self.loss``."""

    def __init__(self, target: torch.Tensor):
        super().__init__()
        self.target = target.detach()
        self.scale = 1.0 / (self.target.pow(2).mean() + EPS)
        self.loss = torch.zeros(())

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self.loss = F.mse_loss(input, self.target) * self.scale
        return input


class StyleLoss(nn.Module):
    """Transparent layer: stores the relative squared error of the Gram matrix in ``self.loss``."""

    def __init__(self, target_feature: torch.Tensor):
        super().__init__()
        self.target = gram_matrix(target_feature).detach()
        self.scale = 1.0 / (self.target.pow(2).mean() + EPS)
        self.loss = torch.zeros(())

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self.loss = F.mse_loss(gram_matrix(input), self.target) * self.scale
        return input


def _layer(name: str, weights: VGGWeights, pooling: str) -> nn.Module:
    if name.startswith("relu"):
        return nn.ReLU(inplace=False)  # the tutorial's choice: in-place ReLU breaks the loss layers
    if name.startswith("pool"):
        return nn.AvgPool2d(2, 2) if pooling == "avg" else nn.MaxPool2d(2, 2)
    weight, bias = weights.convs[name]
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], kernel_size=3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    return conv


class TutorialStyleTransfer:
    """The model with its loss layers, and the objective painterly optimises.

    weights: VGG19 conv weights; content, style: (1,3,H,W) float32 in [0,1].
    content_weight / style_weight are shared equally among the layers, as painterly does.
    """

    def __init__(self, weights: VGGWeights, content: torch.Tensor, style: torch.Tensor, *,
                 content_layers: Sequence[str], style_layers: Sequence[str],
                 content_weight: float, style_weight: float, tv_weight: float,
                 pooling: str = "avg"):
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight
        self.content_losses: list[ContentLoss] = []
        self.style_losses: list[StyleLoss] = []
        last = max(LAYER_NAMES.index(n) for n in [*content_layers, *style_layers])
        model = nn.Sequential(Normalization(weights.convention))
        with torch.no_grad():  # targets from the plain layers: photo and painting may differ in size
            photo, painting = model(content), model(style)
            for name in LAYER_NAMES[: last + 1]:
                layer = _layer(name, weights, pooling)
                model.add_module(name, layer)
                photo, painting = layer(photo), layer(painting)
                if name in content_layers:
                    loss = ContentLoss(photo)
                    model.add_module(f"content_loss_{name}", loss)
                    self.content_losses.append(loss)
                if name in style_layers:
                    loss = StyleLoss(painting)
                    model.add_module(f"style_loss_{name}", loss)
                    self.style_losses.append(loss)
        model.eval()
        model.requires_grad_(False)
        self.model = model

    def objective(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted terms for image (1,3,H,W): {"content", "style", "tv", "total"} scalars."""
        self.model(image)
        content = self.content_weight * sum(cl.loss for cl in self.content_losses) / len(self.content_losses)
        style = self.style_weight * sum(sl.loss for sl in self.style_losses) / len(self.style_losses)
        dh = image[..., 1:, :] - image[..., :-1, :]
        dw = image[..., :, 1:] - image[..., :, :-1]
        tv = self.tv_weight * (dh.pow(2).mean() + dw.pow(2).mean())
        return {"content": content, "style": style, "tv": tv, "total": content + style + tv}


def run_lbfgs(objective: Callable[[torch.Tensor], dict[str, torch.Tensor]], start: torch.Tensor,
              steps: int, on_step: Callable[[int], None] | None = None) -> torch.Tensor:
    """L-BFGS on the pixels, one iteration per step (as painterly); returns the image in [0,1]."""
    input_img = start.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    optimizer = torch.optim.LBFGS([input_img], lr=1.0, max_iter=1, history_size=50,
                                  tolerance_grad=-1.0, tolerance_change=-1.0)

    def closure():
        optimizer.zero_grad()
        loss = objective(input_img)["total"]
        loss.backward()
        return loss

    for step in range(1, steps + 1):
        optimizer.step(closure)
        if on_step is not None:
            on_step(step)
    return input_img.detach().clamp(0, 1)
