"""ONNX export of a fast style: same paintings as PyTorch at any size, atomic files, clear errors.

A tiny network (base 4, one residual block) with two distinct random styles. onnxruntime runs
with one thread. Tolerance: 1e-4 on pixels in [0,1] (``export.TOLERANCE``); float32 ONNX
and PyTorch differ by about 2e-6 on this network and 1e-5 on the full-size one.
"""

from __future__ import annotations

import os
import sys

import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from painterly.fast import export
from painterly.fast.export import check_onnx, export_onnx, onnx_session
from painterly.fast.network import NetworkShape, TransformerNet
from painterly.fast.store import FastStyles

SIZES = ((37, 50), (64, 64), (90, 41))  # two of them not multiples of 4 on either side


@pytest.fixture(scope="module")
def styles() -> FastStyles:
    torch.manual_seed(0)
    net = TransformerNet(2, NetworkShape(base=4, residual_blocks=1))
    for norm in net.norms():  # two styles that paint visibly differently
        norm.scale.data.uniform_(0.5, 1.5)
        norm.shift.data.uniform_(-0.3, 0.3)
    return FastStyles(net.eval().requires_grad_(False), ["ink", "oil"], {})


@pytest.fixture(scope="module")
def exported(styles, tmp_path_factory):
    """{mix name: path} for style 0 alone and a 30/70 blend, exported once."""
    folder = tmp_path_factory.mktemp("onnx")
    mixes = {"ink": torch.tensor([1.0, 0.0]), "blend": torch.tensor([0.3, 0.7])}
    return {name: (export_onnx(styles, mix, folder / f"{name}.onnx"), mix)
            for name, mix in mixes.items()}


@pytest.mark.parametrize("name", ["ink", "blend"])
def test_onnx_paints_like_pytorch_at_any_size(exported, styles, name):
    path, mix = exported[name]
    report = check_onnx(path, styles, mix, sizes=SIZES, threads=1)
    assert report.sizes == SIZES
    assert report.ok and report.worst <= 1e-4, report.describe()
    assert "ok" in report.describe()


def test_height_and_width_are_dynamic_in_the_file(exported):
    import onnx

    model = onnx.load(exported["ink"][0])
    (image,), (painted,) = model.graph.input, model.graph.output
    assert (image.name, painted.name) == ("image", "painted")
    dims = [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim]
    assert dims[:2] == [1, 3] and all(isinstance(d, str) and d for d in dims[2:])


def test_output_is_clamped_and_sized_like_the_input(exported):
    session = onnx_session(exported["blend"][0], threads=1)
    image = torch.rand(1, 3, 45, 23, generator=torch.Generator().manual_seed(1))
    painted = session.run(None, {"image": image.numpy()})[0]
    assert painted.shape == (1, 3, 45, 23) and painted.dtype.name == "float32"
    assert painted.min() >= 0 and painted.max() <= 1


def test_the_mix_is_baked_in_and_recorded(exported, styles):
    import onnx

    path, _ = exported["blend"]
    assert not check_onnx(path, styles, torch.tensor([1.0, 0.0]), sizes=[(32, 32)], threads=1).ok
    props = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert props["painterly.styles"] == '["ink", "oil"]'
    assert props["painterly.mix"] == "[0.3, 0.7]"


def test_a_wrong_file_fails_the_check(exported, styles):
    report = check_onnx(exported["ink"][0], styles, torch.tensor([0.0, 1.0]), sizes=[(20, 24)],
                        threads=1)
    assert not report.ok and "ABOVE the tolerance" in report.describe()


def test_export_leaves_the_network_as_it_was(styles, tmp_path):
    before = {k: v.clone() for k, v in styles.network.state_dict().items()}
    export_onnx(styles, torch.tensor([0.5, 0.5]), tmp_path / "m.onnx")
    after = styles.network.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(n.fixed is None and n.tally is None for n in styles.network.norms())


@pytest.mark.slow  # torch.export takes 10-20 s of CPU even for the tiny network
def test_dynamo_exporter_makes_the_same_paintings(styles, tmp_path):
    pytest.importorskip("onnxscript")
    mix = torch.tensor([0.3, 0.7])
    path = export_onnx(styles, mix, tmp_path / "d.onnx", exporter="dynamo")
    assert check_onnx(path, styles, mix, sizes=[(37, 50), (64, 64)], threads=1).ok


# ----------------------------------------------------------------------- atomic writing

def test_no_temporary_file_is_left(styles, tmp_path):
    export_onnx(styles, torch.tensor([1.0, 0.0]), tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == ["m.onnx"]


def test_existing_file_is_kept_without_overwrite(styles, tmp_path):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")
    with pytest.raises(ValueError, match="already exists"):
        export_onnx(styles, torch.tensor([1.0, 0.0]), target)
    assert target.read_bytes() == b"old"
    export_onnx(styles, torch.tensor([1.0, 0.0]), target, overwrite=True)
    assert target.read_bytes() != b"old"


def test_failed_export_leaves_the_old_file(styles, tmp_path, monkeypatch):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")

    def broken(*args):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(export, "_torchscript", broken)
    with pytest.raises(RuntimeError, match="exploded"):
        export_onnx(styles, torch.tensor([1.0, 0.0]), target, overwrite=True)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.onnx"]


def test_failed_write_leaves_the_old_file_and_no_temporary(styles, tmp_path, monkeypatch):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export.os, "fsync", disk_full)
    with pytest.raises(ValueError, match=r"cannot write .*m\.onnx.*No space left"):
        export_onnx(styles, torch.tensor([1.0, 0.0]), target, overwrite=True)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.onnx"]


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("name, message", [
    ("missing/m.onnx", r"folder '.*missing' does not exist"),
    ("m.png", r"extension '\.png'; an ONNX file's name ends in \.onnx"),
    ("m", "no file extension"),
    ("dir.onnx", "is a directory"),
])
def test_bad_path_is_one_clear_line(styles, tmp_path, name, message):
    (tmp_path / "dir.onnx").mkdir()
    with pytest.raises(ValueError, match=message) as info:
        export_onnx(styles, torch.tensor([1.0, 0.0]), tmp_path / name)
    assert "\n" not in str(info.value)
    assert sorted(os.listdir(tmp_path)) == ["dir.onnx"]


@pytest.mark.parametrize("kwargs, message", [
    ({"mix": torch.tensor([1.0, 0.0, 0.0])}, r"shape \(2,\), got \(3,\)"),
    ({"mix": torch.tensor([float("nan"), 1.0])}, "finite"),
    ({"opset": 12}, "opset for the torchscript exporter must be 17 to 20, got 12"),
    ({"exporter": "tf"}, "exporter must be torchscript or dynamo"),
])
def test_bad_arguments(styles, tmp_path, kwargs, message):
    kwargs = {"mix": torch.tensor([1.0, 0.0]), **kwargs}
    with pytest.raises(ValueError, match=message):
        export_onnx(styles, path=tmp_path / "m.onnx", **kwargs)


def test_missing_package_says_what_to_install(styles, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install \"painterly\[onnx\]\"") as info:
        export_onnx(styles, torch.tensor([1.0, 0.0]), tmp_path / "m.onnx")
    assert "\n" not in str(info.value) and not (tmp_path / "m.onnx").exists()


def test_check_refuses_tiny_sizes_and_unreadable_files(exported, styles, tmp_path):
    with pytest.raises(ValueError, match="at least 9 px"):
        check_onnx(exported["ink"][0], styles, torch.tensor([1.0, 0.0]), sizes=[(4, 32)])
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="cannot load ONNX file .*junk.onnx"):
        onnx_session(junk)
