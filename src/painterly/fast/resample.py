"""Convolutions computed on fewer pixels than they read, for painting (never for training).

Both are exact rewrites, equal to the plain operations up to rounding, that a CPU runs
faster:

- a 3x3 convolution after a nearest 2x upsampling (the fast network's and the decoders'
  resize-convolutions, Odena et al. 2016) is four 2x2 convolutions of the source, one per
  output phase: 4/9 of the multiply-adds, and the upsampled picture is never made;
- a convolution with few output channels (the last, to RGB) is a convolution of 2x2 blocks
  of pixels folded into channels, which fills a CPU's vector lanes.

Measured on a 2-core AMD EPYC with AVX2 (fp32): the fast network at 512x288 from 113 to
95 ms, at 1024x576 from 407 to 331 ms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def upsample_conv_kernels(weight: torch.Tensor) -> torch.Tensor:
    """(O,I,3,3) kernels of a 3x3 conv after a nearest 2x upsampling -> (4*O,I,2,2).

    Each output pixel of the upsampled picture falls in one of four phases (row and column
    parity); in each phase the 3x3 taps fall on only 2x2 distinct source pixels, so the same
    result is a 2x2 conv on the source whose kernels are the 3x3 taps summed where they meet
    (the equivalence of resize-convolution and sub-pixel convolution; Odena et al. 2016).
    Output channels are ordered (row phase, column phase, O). Along one axis, phase 0 reads
    source rows (i-1, i) with taps (w0, w1+w2), phase 1 rows (i, i+1) with (w0+w1, w2).
    """
    def phases(w: torch.Tensor, dim: int) -> list[torch.Tensor]:
        w0, w1, w2 = w.unbind(dim)
        return [torch.stack([w0, w1 + w2], dim), torch.stack([w0 + w1, w2], dim)]

    w = weight.to(torch.promote_types(weight.dtype, torch.float32))  # sums in float32 at least
    kernels = [col for row in phases(w, 2) for col in phases(row, 3)]
    return torch.cat(kernels).to(weight.dtype)


def upsample_conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """conv(reflect_pad(nearest_upsample_2x(x), 1)) without the upsampled picture.

    x (B,I,h,w) -> (B,O,2h,2w), equal up to rounding, in 4/9 of the multiply-adds: a 2x2 conv
    (:func:`upsample_conv_kernels`) on x padded by replication (a reflected row of the
    upsampled picture is a copy of its source's edge row), whose four phases are then
    interleaved into the output.
    """
    batch, _, h, w = x.shape
    out_channels = conv.out_channels
    layout = torch.channels_last if _is_channels_last(x) else torch.contiguous_format
    kernels = upsample_conv_kernels(conv.weight).contiguous(memory_format=layout)
    bias = None if conv.bias is None else conv.bias.repeat(4)
    phased = F.conv2d(F.pad(x, (1,) * 4, mode="replicate"), kernels, bias)  # (B,4*O,h+1,w+1)
    out = torch.empty((batch, out_channels, 2 * h, 2 * w), dtype=phased.dtype,
                      device=phased.device, memory_format=layout)
    for index, (row, col) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        # phase (row, col) of output pixel (2i+row, 2j+col) sits at (i+row, j+col)
        channels = slice(index * out_channels, (index + 1) * out_channels)
        out[:, :, row::2, col::2] = phased[:, channels, row:row + h, col:col + w]
    return out


def space_to_depth_kernels(weight: torch.Tensor) -> torch.Tensor:
    """(O,I,k,k) kernels, k odd -> (4*O, 4*I, (k+1)/2, (k+1)/2) for :func:`space_to_depth_conv`.

    Output channel (o, a, b) is output phase (row a, column b) of channel o, as
    ``pixel_shuffle`` reads them; input channel (p, q, i) is phase (p, q) of channel i, as
    :func:`fold_pixels` writes them. Phase a reads the k taps from padded position
    2s + p - a, so it is the kernel padded by one zero on each side, shifted by 1 - a and
    folded into (s, p) pairs.
    """
    out_channels, in_channels, k, _ = weight.shape
    taps = (k + 1) // 2
    wide = torch.promote_types(weight.dtype, torch.float32)
    padded = F.pad(weight.to(wide), (1,) * 4)  # (O,I,k+2,k+2)
    phases = []
    for a in (0, 1):
        for b in (0, 1):
            kernel = padded[:, :, 1 - a:1 - a + 2 * taps, 1 - b:1 - b + 2 * taps]
            kernel = kernel.reshape(out_channels, in_channels, taps, 2, taps, 2)
            phases.append(kernel.permute(0, 3, 5, 1, 2, 4))  # (O, p, q, I, s, t)
    kernels = torch.stack(phases, 1)  # (O, 4, 2, 2, I, taps, taps)
    return kernels.reshape(4 * out_channels, 4 * in_channels, taps, taps).to(weight.dtype)


def space_to_depth_conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """conv(x) for a stride-1, unpadded conv with few output channels, computed at half size.

    x (B,I,H,W), H and W even -> (B,O,H-k+1,W-k+1), equal up to rounding. A conv with 3
    output channels (the fast network's last, 16 to 3 channels, 9x9) keeps a CPU's vector
    lanes mostly idle; folding each 2x2 block of pixels into channels (:func:`fold_pixels`)
    makes it a conv of 4*I to 4*O channels on a quarter of the pixels: 1.23 times the
    multiply-adds at 9x9, and 13.4 ms instead of 20.8 at 512x288 on a 2-core CPU with AVX2
    (fp32). The decoders' last conv, 64 to 3 channels, 3x3, ran slower this way (14.2 ms
    against 11.5), so it is not used there.
    """
    k = conv.kernel_size[0]
    kernels = space_to_depth_kernels(conv.weight).contiguous(memory_format=torch.channels_last)
    bias = None if conv.bias is None else conv.bias.repeat_interleave(4)
    out = F.pixel_shuffle(F.conv2d(fold_pixels(x), kernels, bias), 2)
    return out[..., :x.shape[-2] - k + 1, :x.shape[-1] - k + 1]


def fold_pixels(x: torch.Tensor) -> torch.Tensor:
    """(B,C,H,W), H and W even -> (B,4*C,H/2,W/2) channels_last: each 2x2 block of pixels
    as channels ordered (row, column, C). ``pixel_unshuffle`` with the channels in another
    order, in one copy of a channels_last x: 5 times faster than ``pixel_unshuffle`` there.
    """
    batch, channels, h, w = x.shape
    pixels = x.permute(0, 2, 3, 1).reshape(batch, h // 2, 2, w // 2, 2 * channels)
    blocks = pixels.permute(0, 1, 3, 2, 4).reshape(batch, h // 2, w // 2, 4 * channels)
    return blocks.permute(0, 3, 1, 2)


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
