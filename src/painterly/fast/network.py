"""The feed-forward transformer network that paints a photo in one pass.

Johnson, Alahi & Fei-Fei (2016, "Perceptual Losses for Real-Time Style Transfer"): three
convolutions down, residual blocks, two upsampling steps, one convolution back to RGB; trained
against the perceptual (VGG) objective instead of optimising pixels per photo.

Departures from Johnson et al., each from a later paper:

- instance normalisation instead of batch normalisation (Ulyanov, Vedaldi & Lempitsky 2016,
  "Instance Normalization: The Missing Ingredient for Fast Stylization");
- *conditional* instance normalisation (Dumoulin, Shlens & Kudlur 2017, "A Learned
  Representation for Artistic Style"): every style is only a scale and shift per normalised
  channel, so one network holds many styles, a weighted mix of their scales and shifts paints
  a blend, and a new style is learned by training those few numbers alone;
- reflection padding instead of zero padding (no dark borders, which also makes tiles meet);
- nearest-neighbour resize then convolve instead of transposed convolutions, which leave
  checkerboard artefacts (Odena, Dumoulin & Olah 2016, "Deconvolution and Checkerboard
  Artifacts");
- half of Johnson's widths by default (16/32/64 channels instead of 32/64/128): a quarter of
  the arithmetic, which is what makes 512 px paint in real time on a 2-core CPU;
- optionally dilated residual blocks (``NetworkShape.dilation``; the bundled network's is 2),
  which widen what each pixel sees without more arithmetic: a relu5_1 response, the deepest
  style layer's, sees 156 px of a picture; the network's pixels saw about 110 px, and dilated
  about 190.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import MAX_DILATION
from .resample import space_to_depth_conv, upsample_conv




@dataclass(frozen=True)
class NetworkShape:
    """Widths of the network: ``base`` channels after the first conv, doubling twice.

    ``dilation`` spaces the residual blocks' 3x3 taps (Yu & Koltun 2016): at 2 each output
    pixel sees a field of the photo about 190 px across instead of about 110
    (``TransformerNet.reach`` bounds it), at the same arithmetic and with the same weights'
    shapes.
    """

    base: int = 16
    residual_blocks: int = 5
    dilation: int = 1

    def __post_init__(self) -> None:
        if self.dilation not in range(1, MAX_DILATION + 1):
            raise ValueError(f"dilation must be from 1 to {MAX_DILATION}, got {self.dilation!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class ConditionalInstanceNorm(nn.Module):
    """Instance normalisation whose scale and shift depend on the style (Dumoulin et al. 2017).

    scale, shift: (S, C) parameters, one row per style. ``forward(x, mix)`` normalises each
    channel of x (B,C,H,W) over its pixels and applies ``mix @ scale`` and ``mix @ shift``,
    where mix (B,S) holds each image's style weights (one-hot for one style).
    Statistics are computed in float32 whatever x's dtype.
    """

    def __init__(self, channels: int, styles: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.channels = channels
        self.scale = nn.Parameter(torch.ones(styles, channels))
        self.shift = nn.Parameter(torch.zeros(styles, channels))
        # Tiled painting (see paint.py): statistics given from outside instead of computed,
        # and a tally of the statistics seen.
        self.fixed: tuple[torch.Tensor, torch.Tensor] | None = None
        self.tally: list[torch.Tensor] | None = None

    def forward(self, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        if self.tally is not None:
            self._count(x)
        scale = (mix @ self.scale.float())[:, :, None, None]
        shift = (mix @ self.shift.float())[:, :, None, None]
        if self.fixed is None and not torch.is_grad_enabled():
            # Painting: group norm with one channel per group is instance norm, and its CPU
            # kernel (float32 statistics) ran 14 times faster than var_mean over (H,W) of a
            # channels_last bf16 tensor; in training its backward ran 2 times slower.
            if x.shape[0] == 1:  # one pass: the style's scale and shift applied in the kernel
                # in x's dtype: CUDA's kernel refuses float32 parameters for a bf16 x
                return F.group_norm(x, self.channels, scale.flatten().to(x.dtype),
                                    shift.flatten().to(x.dtype), self.eps)
            normed = F.group_norm(x, self.channels, eps=self.eps)
            return torch.addcmul(shift.to(x.dtype), normed, scale.to(x.dtype))
        if self.fixed is not None:  # a tile (one picture, B = 1): one fused pass over x, which
            # computes (x - mean) in float32 as group norm does, without float32 copies of x
            mean, var = self.fixed
            return F.batch_norm(x, mean.flatten(), var.flatten(), scale.flatten(),
                                shift.flatten(), False, 0.0, self.eps)
        var, mean = torch.var_mean(x.float(), dim=(2, 3), unbiased=False, keepdim=True)
        # One multiply-add over the big tensor: y = x * a + b with per-channel a and b.
        a = scale * torch.rsqrt(var + self.eps)
        b = shift - mean * a
        return torch.addcmul(b.to(x.dtype), x, a.to(x.dtype))

    def _count(self, x: torch.Tensor) -> None:
        """Add [sum, sum of squares, count] per channel to ``tally``."""
        x = x.float()
        counts = [x.sum((0, 2, 3)), (x**2).sum((0, 2, 3)), torch.tensor(float(x[:, 0].numel()))]
        if not self.tally:
            self.tally.extend(counts)
        else:
            for total, new in zip(self.tally, counts):
                total += new


class ConvNormRelu(nn.Module):
    """Reflection pad, convolution, conditional instance norm, optional ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, styles: int, *, stride: int = 1,
                 dilation: int = 1, upsample: bool = False, relu: bool = True):
        super().__init__()
        self.upsample = upsample
        self.pad = dilation * (kernel // 2)
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, dilation=dilation)
        self.norm = ConditionalInstanceNorm(cout, styles)
        self.relu = relu

    def forward(self, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        # Painting, not training, and not traced for ONNX: onnxruntime ran the phases'
        # interleaving slower than the upsampling (the network at 512x288: 185 ms, not 135).
        if (self.upsample and not torch.is_grad_enabled() and self.conv.kernel_size == (3, 3)
                and not torch.onnx.is_in_onnx_export()):
            x = upsample_conv(x, self.conv)
        else:
            if self.upsample:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = self.conv(F.pad(x, (self.pad,) * 4, mode="reflect"))
        x = self.norm(x, mix)
        return F.relu(x) if self.relu else x


class ResidualBlock(nn.Module):
    """Two 3x3 conv-norm layers with an identity shortcut (He et al. 2016)."""

    def __init__(self, channels: int, styles: int, dilation: int = 1):
        super().__init__()
        self.first = ConvNormRelu(channels, channels, 3, styles, dilation=dilation)
        self.second = ConvNormRelu(channels, channels, 3, styles, dilation=dilation, relu=False)

    def forward(self, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        return x + self.second(self.first(x, mix), mix)


class TransformerNet(nn.Module):
    """Photo in, painting out, for any of ``styles`` styles or a weighted mix of them.

    forward(image (B,3,H,W) in [0,1], mix (B,S) or (S,) style weights) -> (B,3,H,W).
    H and W may be anything: inputs are padded by reflection to a multiple of 4 and the
    output cropped back. The output is not clamped during training (the loss sees it as
    is); :meth:`paint` clamps it to [0,1].
    """

    def __init__(self, styles: int, shape: NetworkShape = NetworkShape()):
        super().__init__()
        if styles < 1:
            raise ValueError(f"a network needs at least one style, got {styles}")
        c1, c2, c3 = shape.base, shape.base * 2, shape.base * 4
        self.shape = shape
        self.styles = styles
        self.down = nn.ModuleList([
            ConvNormRelu(3, c1, 9, styles),
            ConvNormRelu(c1, c2, 3, styles, stride=2),
            ConvNormRelu(c2, c3, 3, styles, stride=2),
        ])
        self.residual = nn.ModuleList(ResidualBlock(c3, styles, shape.dilation)
                                      for _ in range(shape.residual_blocks))
        self.up = nn.ModuleList([
            ConvNormRelu(c3, c2, 3, styles, upsample=True),
            ConvNormRelu(c2, c1, 3, styles, upsample=True),
        ])
        self.to_rgb = nn.Conv2d(c1, 3, 9)

    def forward(self, image: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        mix = self._batch_mix(mix, image.shape[0]).to(image.device)
        h, w = image.shape[-2:]
        pad_h, pad_w = (-h) % 4, (-w) % 4
        # An ONNX export traces this once, at one example's size: it must record the pad
        # (computed from the input's shape in the graph, 0 to 3 px) for every size. Eager
        # runs skip the copy when there is nothing to pad; a pad of 0 changes nothing.
        if pad_h or pad_w or torch.onnx.is_in_onnx_export():
            x = F.pad(image, (0, pad_w, 0, pad_h), mode="reflect")
        else:
            x = image
        for layer in self.down:
            x = layer(x, mix)
        for block in self.residual:
            x = block(x, mix)
        for layer in self.up:
            x = layer(x, mix)
        x = F.pad(x, (4,) * 4, mode="reflect")
        even = x.shape[-2] % 2 == 0 and x.shape[-1] % 2 == 0  # always, x being padded to 4
        if torch.is_grad_enabled() or not even:
            x = self.to_rgb(x)
        else:
            x = space_to_depth_conv(x, self.to_rgb)
        return x[..., :h, :w]

    @property
    def reach(self) -> int:
        """Pixels on each side of an output pixel that it depends on, the norms' statistics
        aside: the radius of the network's receptive field (60 at the default shape)."""
        radius, spacing = 0, 1  # spacing: pixels between the responses a layer reads
        for layer in [*self.down, *(half for block in self.residual
                                    for half in (block.first, block.second)), *self.up]:
            if layer.upsample:  # nearest: a pixel's source may lie a whole coarse step away
                radius += spacing
                spacing //= 2
            radius += layer.pad * spacing
            spacing *= layer.conv.stride[0]
        return radius + self.to_rgb.kernel_size[0] // 2

    @property
    def upsampling(self) -> int:
        """Output pixels along each side painted from one of the deepest responses (4): the
        period of any pattern the upsampling leaves (``losses.grid_energy``)."""
        return 2 ** sum(layer.upsample for layer in self.up)

    def _batch_mix(self, mix: torch.Tensor, batch: int) -> torch.Tensor:
        if mix.dim() == 1:
            mix = mix.expand(batch, -1)
        if mix.shape != (batch, self.styles):
            raise ValueError(f"style weights must have shape ({batch}, {self.styles}), "
                             f"got {tuple(mix.shape)}")
        return mix.float()

    @torch.no_grad()
    def paint(self, image: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        """image (B,3,H,W) in [0,1] -> (B,3,H,W) float32 in [0,1], no gradients."""
        param = next(self.parameters())
        x = image.to(device=param.device, dtype=param.dtype)
        if param.is_contiguous(memory_format=torch.channels_last) and param.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self(x, mix).float().clamp_(0, 1)

    def norms(self) -> list[ConditionalInstanceNorm]:
        """Every conditional norm, in forward order (their parameters are the styles)."""
        return [m for m in self.modules() if isinstance(m, ConditionalInstanceNorm)]

    def add_styles(self, count: int, init_from: Sequence[int] | None = None) -> None:
        """Append ``count`` styles, their scale and shift copied from the mean of ``init_from``
        (default: of every existing style), so that training starts from a sensible painting."""
        rows = list(range(self.styles)) if init_from is None else list(init_from)
        for norm in self.norms():
            scale = norm.scale.data[rows].mean(0, keepdim=True).repeat(count, 1)
            shift = norm.shift.data[rows].mean(0, keepdim=True).repeat(count, 1)
            norm.scale = nn.Parameter(torch.cat([norm.scale.data, scale]))
            norm.shift = nn.Parameter(torch.cat([norm.shift.data, shift]))
        self.styles += count


def embed_state(narrow: dict[str, torch.Tensor], wide: dict[str, torch.Tensor]
                ) -> dict[str, torch.Tensor]:
    """A narrower network's weights placed in a wider one's, which then computes the same picture.

    narrow, wide: state dicts of the same layers, each of ``wide``'s tensors at least as large
    in every dimension (more channels). Each narrow tensor fills the leading block of the wide
    one (its first channels), the rest keeping ``wide``'s values: the new channels' own weights,
    biases and norms start as ``wide`` initialised them, and the old channels read nothing from
    the new ones (a convolution's weights (out, in, k, k) from new inputs to old outputs are
    zero), as Chen, Goodfellow & Shlens (2016, "Net2Net") widen a network without changing
    its function. Keys missing from ``narrow`` keep ``wide``'s tensor.
    """
    state = {}
    for key, target in wide.items():
        if key not in narrow:
            state[key] = target
            continue
        source, merged = narrow[key], target.clone()
        if merged.dim() == 4:
            merged[:source.shape[0]] = 0  # old outputs: from new inputs nothing
        merged[tuple(slice(0, n) for n in source.shape)] = source
        state[key] = merged
    return state


def one_hot(index: int, styles: int) -> torch.Tensor:
    """(S,) weights selecting style ``index``."""
    mix = torch.zeros(styles)
    mix[index] = 1.0
    return mix
