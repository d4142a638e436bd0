"""Winograd convolutions through NNPACK (models/winograd.py): the same responses and pixel
gradients as direct convolution, to rounding; only where they pay; never for trained weights."""

import copy
import os
import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from painterly import devices
from painterly.fast.decoders import Decoder
from painterly.models.vgg import random_vgg_like
from painterly.models.winograd import WinogradConv2d, available, eligible, use_winograd
from painterly.optimize import prepare_extractor

pytestmark = pytest.mark.skipif(not available(), reason="this PyTorch has no NNPACK")


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("padding, padding_mode", [(1, "zeros"), (1, "reflect"), (0, "zeros")])
@pytest.mark.parametrize("cin, cout, size", [(32, 64, (46, 52)), (64, 32, (50, 61))])
def test_responses_and_pixel_gradient_match_direct_convolution(padding, padding_mode, cin,
                                                               cout, size):
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, cout, 3, padding=padding, padding_mode=padding_mode).requires_grad_(False)
    winograd = WinogradConv2d(conv)
    x = torch.randn(2, cin, *size, requires_grad=True)
    direct = conv(x)
    (direct_grad,) = torch.autograd.grad(direct.square().sum(), x)
    fast = winograd(x)
    (fast_grad,) = torch.autograd.grad(fast.square().sum(), x)
    assert fast.shape == direct.shape
    assert _relative(fast, direct) < 1e-4
    assert _relative(fast_grad, direct_grad) < 1e-4
    # Not a copy of the direct path: Winograd's transforms round differently.
    assert not torch.equal(fast, direct)


def test_the_gradient_is_not_the_direct_one_for_a_wrong_kernel():
    """The backward pass's kernel matters: with the kernel not turned, the gradient is wrong."""
    torch.manual_seed(1)
    conv = nn.Conv2d(32, 32, 3, padding=1).requires_grad_(False)
    winograd = WinogradConv2d(conv)
    winograd.turned = conv.weight.transpose(0, 1).contiguous()  # swapped, not turned
    x = torch.randn(1, 32, 48, 48, requires_grad=True)
    (direct_grad,) = torch.autograd.grad(conv(x).sum(), x)
    (wrong_grad,) = torch.autograd.grad(winograd(x).sum(), x)
    assert _relative(wrong_grad, direct_grad) > 0.1


def test_trained_weights_bf16_and_small_convolutions_stay_direct():
    torch.manual_seed(2)
    conv = nn.Conv2d(32, 32, 3, padding=1)  # weights that want their gradient: training
    winograd = WinogradConv2d(conv)
    x = torch.randn(1, 32, 48, 48)
    assert torch.equal(winograd(x), conv(x))
    winograd.weight.grad = None
    winograd(x).sum().backward()
    assert winograd.weight.grad is not None
    frozen = WinogradConv2d(conv.requires_grad_(False)).to(torch.bfloat16)
    assert torch.equal(frozen(x.bfloat16()), conv.bfloat16()(x.bfloat16()))
    direct = nn.Conv2d(32, 32, 3, padding=1).requires_grad_(False)
    small = torch.randn(1, 32, 40, 50)  # under MIN_PIXELS: NNPACK's kernel transform costs more
    assert torch.equal(WinogradConv2d(direct)(small), direct(small))
    assert not torch.equal(WinogradConv2d(direct)(x), direct(x))
    assert not eligible(nn.Conv2d(3, 64, 3, padding=1))  # VGG19's conv1_1: 3 channels in
    assert not eligible(nn.Conv2d(64, 3, 3))  # a decoder's last: 3 out
    assert not eligible(nn.Conv2d(64, 64, 3, stride=2, padding=1))
    assert not eligible(nn.Conv2d(64, 64, 3, padding=1, dilation=2))
    assert not eligible(nn.Conv2d(64, 64, 5, padding=2))
    with pytest.raises(ValueError, match="3x3, stride-1"):
        WinogradConv2d(nn.Conv2d(3, 64, 3))


def test_an_extractor_and_a_decoder_paint_as_before():
    torch.manual_seed(3)
    net = random_vgg_like((8, 32, 64))
    runtime = devices.Runtime(torch.device("cpu"), torch.float32, channels_last=True,
                              winograd=True)
    fast = prepare_extractor(copy.deepcopy(net), runtime)
    kinds = [type(m).__name__ for m in fast.body if "Conv" in type(m).__name__]
    assert kinds == ["Conv2d", "Conv2d", "WinogradConv2d"]  # 3->8 and 8->32 stay direct
    image = torch.rand(1, 3, 192, 200)  # relu3_1: 48 x 50, above MIN_PIXELS
    want = net(image, ["relu3_1"])["relu3_1"]
    got = fast(image, ["relu3_1"])["relu3_1"]
    assert _relative(got, want) < 1e-4
    decoder = Decoder("relu2_1").eval().requires_grad_(False)
    features = torch.rand(1, 128, 48, 50)
    winograd_decoder = use_winograd(copy.deepcopy(decoder))
    with torch.inference_mode():
        want = decoder(features)
        got = winograd_decoder(features)
    # 128->64 and the 64->64 after the upsampling (upsample_conv reads its kernel); not 64->3
    assert sum(isinstance(m, WinogradConv2d) for m in winograd_decoder.modules()) == 2
    assert _relative(got, want) < 1e-4


def test_the_runtime_chooses_winograd_only_for_fp32_on_cpus_that_prefer_it(monkeypatch):
    # cpu_prefers_bf16 itself, not what it reads: it is cached once a process, and on a CPU
    # that prefers bf16 an earlier test has already cached True
    monkeypatch.setattr(devices, "cpu_prefers_bf16", lambda: False)
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx2", "fma"})
    assert devices.resolve_runtime("cpu", "auto").winograd
    assert "Winograd" in devices.resolve_runtime("cpu", "fp32").describe()
    assert not devices.resolve_runtime("cpu", "bf16").winograd
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx2", "fma", "avx512f"})
    assert not devices.resolve_runtime("cpu", "fp32").winograd
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"sse4_2"})
    assert not devices.resolve_runtime("cpu", "fp32").winograd


def test_scores_use_direct_convolutions(monkeypatch):
    """``evaluate`` keeps direct convolutions, so scores compare across CPUs."""
    from painterly import pipeline

    seen = []
    real = pipeline.prepare_extractor
    monkeypatch.setattr(pipeline, "prepare_extractor",
                        lambda net, runtime: seen.append(runtime) or real(net, runtime))
    monkeypatch.setattr(devices, "cpu_flags", lambda: {"avx2", "fma"})
    monkeypatch.setattr(pipeline, "resolve_runtime", lambda *a: dataclasses.replace(
        devices.resolve_runtime(*a), winograd=True))
    image = torch.rand(1, 3, 32, 32)
    config = pipeline.StyleConfig(size=32, content_layers=("relu3_1",),
                                  style_layers=("relu1_1", "relu3_1"))
    pipeline.evaluate(image, image, image, config, extractor=random_vgg_like((8, 32, 64)))
    assert seen and not any(runtime.winograd for runtime in seen)


def test_openmp_spins_less_only_on_cpus_that_use_winograd(monkeypatch):
    from painterly import cpuinfo

    assert cpuinfo.avx2_without_avx512({"avx2", "fma", "sse4_2"})
    assert not cpuinfo.avx2_without_avx512({"avx2", "fma", "avx512f"})
    assert not cpuinfo.avx2_without_avx512({"neon"})
    for flags, expected in (({"avx2", "fma"}, cpuinfo.OPENMP_SPIN), ({"avx512f"}, None)):
        monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
        monkeypatch.setattr(cpuinfo, "cpu_flags", lambda flags=flags: flags)
        cpuinfo.shorten_openmp_spin()
        assert os.environ.get("GOMP_SPINCOUNT") == expected
    monkeypatch.setenv("GOMP_SPINCOUNT", "5")  # the user's own setting stays
    monkeypatch.setattr(cpuinfo, "cpu_flags", lambda: {"avx2", "fma"})
    cpuinfo.shorten_openmp_spin()
    assert os.environ["GOMP_SPINCOUNT"] == "5"
