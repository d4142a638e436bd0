"""3x3 convolutions by Winograd's minimal filtering, through NNPACK, for fp32 on x86 CPUs.

On CPUs without native bf16 painterly runs VGG19 and the universal decoders in fp32, and
oneDNN's direct fp32 convolutions already run near such a CPU's peak (92 GMAC/s on a 2-core
AVX2 EPYC), so only less arithmetic makes them faster. Winograd's minimal filtering (Lavin &
Gray 2016, "Fast Algorithms for Convolutional Neural Networks") computes each 6x6 block of a
3x3 convolution's output from an 8x8 block of input with 64 multiplications per channel pair
instead of 324, at the price of transforms and a little more rounding. NNPACK, which x86
builds of PyTorch include, implements it for AVX2.

The optimiser needs the picture's gradient, never the weights': for a stride-1 3x3
convolution with padding p that gradient is itself a 3x3 convolution, of the output's
gradient with the kernel turned by 180 degrees and its input and output channels swapped,
with padding 2 - p, so the backward pass takes the same fast path (:class:`_Winograd`).

Measured on a 2-core AMD EPYC with AVX2 only (fp32, a 341 x 512 picture): VGG19's
convolutions from conv1_2 to conv4_4 ran 1.3 to 2.3 times faster forward and backward;
conv1_1 (3 channels in) and the decoders' last convolution (3 out) ran 2 to 3 times slower,
so convolutions with fewer than ``MIN_CHANNELS`` channels on either side stay direct, and so
do small maps (``MIN_PIXELS``). The results differ from direct convolution by rounding only
(about 1e-4 of their size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MIN_CHANNELS = 32
"""Fewer input or output channels than this: the convolution stays direct (see above)."""

MIN_PIXELS = 2048
"""A smaller map (height x width of the convolution's input) stays direct. NNPACK transforms
the kernel anew on every call, a cost that does not shrink with the map: 13-14 ms for
conv5_1's 512 x 512 kernel whether the map is 5 x 8 or 21 x 32, where the direct
convolution takes 4-21 ms. From about 2048 pixels on (42 x 64: conv4_x of a 512 px
picture), Winograd was faster at every width."""


def available() -> bool:
    """True where NNPACK is built into PyTorch and runs on this CPU.

    Also initialises NNPACK (once per process; later calls only check), which its
    convolutions need first, so :class:`WinogradConv2d` calls it before each one, in
    whichever process it runs. NNPACK makes its thread pool on its first convolution, with
    ``torch.get_num_threads()`` threads at that moment, and keeps it: set the thread count
    before painting.
    """
    try:
        return bool(torch.backends.nnpack.is_available())
    except RuntimeError:  # pragma: no cover - defensive: a build without NNPACK's symbols
        return False


class _Winograd(torch.autograd.Function):
    """NNPACK's convolution; backward: the input's gradient by NNPACK too (weights frozen)."""

    @staticmethod
    def forward(ctx, x, weight, bias, turned, padding: int):
        ctx.save_for_backward(turned)
        ctx.padding = padding
        return torch._nnpack_spatial_convolution(x.contiguous(), weight, bias, [padding] * 2)

    @staticmethod
    def backward(ctx, grad):
        (turned,) = ctx.saved_tensors
        back = 2 - ctx.padding
        grad_x = torch._nnpack_spatial_convolution(grad.contiguous(), turned, None, [back] * 2)
        return grad_x, None, None, None, None


class WinogradConv2d(nn.Module):
    """A frozen 3x3, stride-1 ``nn.Conv2d`` that runs through NNPACK.

    (B,Cin,H,W) float32 on the CPU -> (B,Cout,H',W') float32, H' and W' as the original
    convolution gives, in PyTorch's default (NCHW) layout, which NNPACK reads and writes.
    Maps under ``MIN_PIXELS``, any other dtype or device, or a weight that wants its gradient
    run the direct convolution instead. ``weight`` and ``bias`` are the original's (the
    weight copied into NCHW order), so code that reads a convolution's kernel
    (``fast.resample.upsample_conv``) reads this one's as well. The weights must stay as
    they are: the backward pass's kernel is made from them once, here.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if not eligible(conv):
            raise ValueError(f"not a 3x3, stride-1, ungrouped convolution with at least "
                             f"{MIN_CHANNELS} channels in and out: {conv}")
        self.weight = nn.Parameter(conv.weight.detach().contiguous(),
                                   requires_grad=conv.weight.requires_grad)
        self.bias = conv.bias
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.kernel_size, self.groups = conv.kernel_size, conv.groups
        self.padding = conv.padding[0]
        self.padding_mode = conv.padding_mode
        # (Cout,Cin,3,3) -> (Cin,Cout,3,3) turned by 180 degrees: the backward pass's kernel.
        self.register_buffer("turned", conv.weight.detach().flip(2, 3).transpose(0, 1)
                             .contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padding = self.padding
        if self.padding_mode != "zeros" and padding:
            x, padding = F.pad(x, (padding,) * 4, mode=self.padding_mode), 0
        if not self._runs(x):
            return F.conv2d(x, self.weight, self.bias, padding=padding)
        # contiguous(): free for the NCHW copies made here, a copy if a later .to() changed them
        return _Winograd.apply(x, self.weight.contiguous(), self.bias, self.turned.contiguous(),
                               padding)

    def _runs(self, x: torch.Tensor) -> bool:
        """True when NNPACK should compute this convolution of x (see the class docstring)."""
        return (x.shape[-2] * x.shape[-1] >= MIN_PIXELS and x.device.type == "cpu"
                and x.dtype == self.weight.dtype == torch.float32
                and not (self.weight.requires_grad and torch.is_grad_enabled()) and available())

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size=3, "
                f"padding={self.padding}, padding_mode={self.padding_mode}")


def eligible(conv: nn.Module) -> bool:
    """True for the convolutions :class:`WinogradConv2d` runs faster: 3x3, stride 1, no
    dilation or groups, the same padding (0 or 1) on every side, at least ``MIN_CHANNELS``
    channels in and out."""
    return (type(conv) is nn.Conv2d and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and conv.dilation == (1, 1) and conv.groups == 1
            and isinstance(conv.padding, tuple) and conv.padding[0] == conv.padding[1] in (0, 1)
            and min(conv.in_channels, conv.out_channels) >= MIN_CHANNELS)


def use_winograd(module: nn.Module) -> nn.Module:
    """Replace every eligible ``nn.Conv2d`` inside ``module``, in place, by a
    :class:`WinogradConv2d` with its weights; returns ``module``."""
    for name, child in module.named_children():
        if eligible(child):
            setattr(module, name, WinogradConv2d(child))
        else:
            use_winograd(child)
    return module
