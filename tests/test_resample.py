"""The painting-time rewrites of fast.resample equal the plain operations they replace.

In float64 the rewrites must agree to 1e-10 (they only regroup sums); the networks that use
them must paint what their training-time forward pass paints.
"""

import pytest
import torch
import torch.nn.functional as F

from painterly.fast.decoders import Decoder
from painterly.fast.network import NetworkShape, TransformerNet
from painterly.fast.resample import fold_pixels, space_to_depth_conv, upsample_conv

EXACT = 1e-10


def _plain_upsample_conv(x, conv):
    upsampled = F.interpolate(x, scale_factor=2.0, mode="nearest")
    return conv(F.pad(upsampled, (1,) * 4, mode="reflect"))


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (6, 4)])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_upsample_conv_equals_upsampling_then_convolving(size, channels_last, bias):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(5, 3, 3, bias=bias).double()
    x = torch.randn(2, 5, *size, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        got = upsample_conv(x, conv)
        want = _plain_upsample_conv(x, conv)
    assert got.shape == want.shape == (2, 3, 2 * size[0], 2 * size[1])
    assert (got - want).abs().max() < EXACT
    if size != (1, 1):  # a 1x1 picture is in both layouts at once
        assert got.is_contiguous(memory_format=torch.channels_last) == channels_last


@pytest.mark.parametrize("kernel", [3, 9])
@pytest.mark.parametrize("size", [(18, 20), (24, 10)])
def test_space_to_depth_conv_equals_the_conv(kernel, size):
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(4, 3, kernel).double()
    x = torch.randn(1, 4, *size, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        got = space_to_depth_conv(x, conv)
        want = conv(x)
    assert got.shape == want.shape
    assert (got - want).abs().max() < EXACT


def test_fold_pixels_is_pixel_unshuffle_in_another_channel_order():
    x = torch.randn(2, 3, 6, 8).contiguous(memory_format=torch.channels_last)
    folded = fold_pixels(x)  # channels (row, column, C)
    unshuffled = F.pixel_unshuffle(x, 2)  # channels (C, row, column)
    reordered = unshuffled.reshape(2, 3, 2, 2, 3, 4).permute(0, 2, 3, 1, 4, 5).reshape(2, 12, 3, 4)
    assert torch.equal(folded, reordered)
    assert folded.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("size", [(20, 28), (17, 30)])
def test_fast_network_paints_what_it_trains_on(size):
    """The no-grad pass (rewrites, group-norm kernel) against the training pass."""
    torch.manual_seed(2)
    net = TransformerNet(2, NetworkShape(base=4, residual_blocks=1, dilation=2))
    for norm in net.norms():  # styles that differ from the identity
        norm.scale.data.uniform_(0.5, 1.5)
        norm.shift.data.uniform_(-0.3, 0.3)
    image = torch.rand(1, 3, *size)
    mix = torch.tensor([0.3, 0.7])
    trained = net(image, mix).detach()
    with torch.no_grad():
        painted = net(image, mix)
    assert (painted - trained).abs().max() < 1e-4


def test_decoder_paints_what_it_trains_on():
    torch.manual_seed(3)
    decoder = Decoder("relu2_1").double()
    features = torch.rand(1, 128, 6, 9, dtype=torch.float64)
    trained = decoder(features).detach()
    with torch.no_grad():
        painted = decoder(features)
    assert painted.shape == trained.shape == (1, 3, 12, 18)
    assert (painted - trained).abs().max() < EXACT
