"""The feature extractor: names, truncation, preprocessing, frozen weights."""

import pytest
import torch

from painterly.models import layers
from painterly.models.vgg import MaxPool2x2, Preprocess, random_vgg_like, vgg19
from painterly.models.weights import VGGWeights


def random_vgg19_weights() -> VGGWeights:
    generator = torch.Generator().manual_seed(0)
    convs = {name: (torch.randn(o, i, 3, 3, generator=generator) * 0.05, torch.zeros(o))
             for name, (i, o) in layers.conv_channels().items()}
    return VGGWeights(convs, "caffe", "random")


def test_layer_names_follow_vgg19():
    assert layers.LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert layers.LAYER_NAMES[-1] == "pool5"
    assert len(layers.CONV_NAMES) == 16
    assert layers.deepest(["conv4_2", "relu1_1", "pool2"]) == "conv4_2"


def test_unknown_layer_lists_valid_names():
    with pytest.raises(ValueError, match="unknown layer 'conv6_1'; valid layers: conv1_1, relu1_1"):
        layers.check_layer_names(["conv6_1"])


def test_vgg19_shapes_and_truncation():
    net = vgg19(random_vgg19_weights(), last_layer="relu3_1")
    assert net.names[-1] == "relu3_1"
    out = net(torch.rand(1, 3, 32, 48), ["conv1_1", "pool2", "relu3_1"])
    assert out["conv1_1"].shape == (1, 64, 32, 48)
    assert out["pool2"].shape == (1, 128, 8, 12)
    assert out["relu3_1"].shape == (1, 256, 8, 12)
    with pytest.raises(ValueError, match="valid layers"):
        net(torch.rand(1, 3, 8, 8), ["conv4_1"])


def test_network_is_frozen_and_in_eval_mode():
    net = vgg19(random_vgg19_weights(), last_layer="conv1_2")
    assert not any(p.requires_grad for p in net.parameters())
    assert not net.training


def test_pooling_choice():
    weights = random_vgg19_weights()
    avg = vgg19(weights, pooling="avg", last_layer="pool1")
    mx = vgg19(weights, pooling="max", last_layer="pool1")
    x = torch.rand(1, 3, 8, 8)
    assert (mx(x, ["pool1"])["pool1"] >= avg(x, ["pool1"])["pool1"] - 1e-5).all()
    with pytest.raises(ValueError, match="pooling"):
        vgg19(weights, pooling="median")


@pytest.mark.parametrize("shape", [(1, 5, 8, 12), (2, 3, 9, 7), (1, 4, 2, 3)])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_max_pool_phases_equal_max_pool2d(shape, channels_last, dtype):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0)).to(dtype)
    x[..., 0, 0] = float("nan")  # NaNs propagate as max_pool2d's do
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    expected = torch.nn.functional.max_pool2d(x, 2)
    with torch.inference_mode():
        pooled = MaxPool2x2()(x)
    assert pooled.shape == expected.shape
    assert torch.equal(pooled.isnan(), expected.isnan())
    assert torch.equal(pooled.nan_to_num(), expected.nan_to_num())


def test_max_pool_of_a_map_too_small_fails_as_max_pool2d():
    with torch.inference_mode(), pytest.raises(RuntimeError, match="too small"):
        MaxPool2x2()(torch.rand(1, 4, 1, 3))


def test_max_pool_with_gradients_is_max_pool2d():
    x = torch.randn(1, 2, 6, 6, requires_grad=True)
    MaxPool2x2()(x).sum().backward()
    # nn.MaxPool2d's gradient: each 2x2 block sends it to exactly one pixel
    assert torch.equal(x.grad.sum(), torch.tensor(18.0)) and set(x.grad.unique().tolist()) == {0.0, 1.0}


def test_caffe_preprocessing_is_bgr_0_255_mean_subtracted():
    image = torch.zeros(1, 3, 1, 1)
    image[0, 0] = 1.0  # pure red
    out = Preprocess("caffe")(image).flatten().tolist()
    assert out == pytest.approx([-103.939, -116.779, 255 - 123.68], abs=1e-3)


def test_torchvision_preprocessing_is_normalised_rgb():
    image = torch.full((1, 3, 1, 1), 0.485)
    assert Preprocess("torchvision")(image)[0, 0].item() == pytest.approx(0.0, abs=1e-6)


def test_truncated_view_shares_weights():
    net = random_vgg_like((4, 8))
    short = net.truncated("relu1_1")
    assert short.names == ("conv1_1", "relu1_1")
    assert short.body[0] is net.body[0]
