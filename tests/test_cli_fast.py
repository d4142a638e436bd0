"""``painterly fast``, ``train`` and ``styles`` as a user runs them, on a tiny style folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from painterly import cli
from painterly.fast import FastStyles, TrainingInterrupted, save_styles
from painterly.image_io import read_png_metadata
from test_fast import tiny_net


def run(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], prog_name="painterly")


@pytest.fixture
def style_folder(tmp_path):
    return save_styles(FastStyles(tiny_net(), ["a", "b"], {}), tmp_path / "tiny")


@pytest.fixture
def user_styles(tmp_path, monkeypatch):
    """A user styles folder holding the tiny network, so its styles have names."""
    root = tmp_path / "user-styles"
    save_styles(FastStyles(tiny_net(), ["mine", "other"], {}), root / "net")
    monkeypatch.setenv("PAINTERLY_STYLES_DIR", str(root))
    return root


def test_one_photo_one_file(style_folder, content_png, tmp_path):
    out = tmp_path / "out.png"
    result = run("fast", content_png, "--style", f"{style_folder}/a", "-o", out, "--size", 48)
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (48, 36)
    record = json.loads(read_png_metadata(out)["painterly"])
    assert record["engine"] == "fast" and record["styles"] == [f"{style_folder}/a"]
    assert record["network"] == str(Path(style_folder).resolve())


def test_the_device_line_says_a_fast_style_paints_wholly_in_bf16(style_folder, content_png, tmp_path):
    result = run("fast", content_png, "--style", f"{style_folder}/a", "-o", tmp_path / "out.png",
                 "--size", 48, "--precision", "bf16")
    assert result.exit_code == 0, result.output
    assert "painterly: cpu, bf16 network, channels_last" in result.output  # no "fp32 losses"


def test_a_folder_and_a_blend_write_into_a_folder(style_folder, content_png, style_png, tmp_path):
    photos = content_png.parent
    out = tmp_path / "painted"
    result = run("fast", photos, "-s", f"{style_folder}/a:0.3", "-s", f"{style_folder}/b:0.7",
                 "-o", out, "--size", 0, "--format", "jpg", "--quiet")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["content.jpg", "style.jpg"]
    assert Image.open(out / "content.jpg").size == (40, 30)


def test_styles_are_named_from_the_user_folder(user_styles, content_png, tmp_path):
    result = run("styles")
    assert result.exit_code == 0
    assert f"mine\t{user_styles / 'net'}" in result.output
    result = run("fast", content_png, "--style", "mine", "-o", tmp_path / "o.png", "--size", 32)
    assert result.exit_code == 0, result.output
    assert run("styles", "--dir").output.strip() == str(user_styles)


@pytest.mark.parametrize("case,message", [
    ("missing-photo", "no such file"),
    ("corrupt-photo", "truncated or corrupt"),
    ("unknown-style", "no fast style 'nope'"),
    ("several-to-a-file", "several photos need a folder"),
    ("output-exists", "already exists"),
    ("output-is-input", "also an input"),
    ("tiny-size", "--size must be 0"),
    ("huge-size", "--size must be 0"),
    ("bad-weight", "finite number >= 0"),
    ("empty-folder", "no pictures"),
])
def test_bad_input_is_refused_before_any_work(case, message, style_folder, content_png, tmp_path):
    style, photo, out = f"{style_folder}/a", content_png, tmp_path / "out.png"
    extra = []
    if case == "missing-photo":
        photo = tmp_path / "missing.jpg"
    elif case == "corrupt-photo":
        photo = tmp_path / "broken.png"
        photo.write_bytes(content_png.read_bytes()[:-40])
    elif case == "unknown-style":
        style = "nope"
    elif case == "several-to-a-file":
        extra = [content_png]
    elif case == "output-exists":
        out.write_bytes(b"keep me")
    elif case == "output-is-input":
        out = content_png
    elif case == "tiny-size":
        extra = ["--size", 8]
    elif case == "huge-size":
        extra = ["--size", 99_999_999]
    elif case == "bad-weight":
        style = f"{style_folder}/a:-2"
    elif case == "empty-folder":
        photo = tmp_path / "empty"
        photo.mkdir()
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    result = run("fast", photo, *extra, "--style", style, "-o", out)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


def test_train_refuses_bad_input_up_front(style_png, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    result = run("train", style_png, "--photos", photos, "-o", tmp_path / "s")
    assert result.exit_code == 2 and "no photos" in result.output
    result = run("train", tmp_path / "missing.jpg", "--photos", photos, "-o", tmp_path / "s")
    assert result.exit_code == 2 and "no such file" in result.output
    # a bundled painting by name, as everywhere: the photos are what is wrong here
    result = run("train", "starry_night", "--photos", photos, "-o", tmp_path / "s")
    assert result.exit_code == 2 and "no photos" in result.output


def test_train_will_not_replace_a_style(style_png, content_png, style_folder):
    result = run("train", style_png, "--photos", content_png.parent, "-o", style_folder)
    assert result.exit_code == 2 and "already holds a style" in result.output


def test_train_ctrl_c_says_how_to_resume(style_png, content_png, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise TrainingInterrupted(tmp_path / "s" / "checkpoint.pt", 7)

    monkeypatch.setattr("painterly.fast.train.train", interrupted)
    result = run("train", style_png, "--photos", content_png.parent, "-o", tmp_path / "s")
    assert result.exit_code == 130
    assert "after step 7" in result.output and "--resume" in result.output


def test_train_from_the_command_line(style_png, content_png, tmp_path, monkeypatch, tiny):
    """A real (tiny) run through the CLI, with the tiny network as the teacher."""
    monkeypatch.setattr("painterly.pipeline.load_vgg19", lambda *a: tiny)
    result = run("train", style_png, "--photos", content_png.parent, "-o", tmp_path / "s",
                 "--steps", 2, "--batch-size", 1, "--crop-size", 32, "--name", "stripes",
                 "--device", "cpu", "--precision", "fp32", "--content-layers", "relu2_1",
                 "--style-layers", "relu1_1,relu2_1")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "s" / "config.json").read_text())
    assert [s["name"] for s in config["styles"]] == ["stripes"]


def test_train_continues_from_the_bundled_network_specialised_to_one_style(
        style_folder, style_png, content_png, tmp_path, monkeypatch, tiny):
    monkeypatch.setattr("painterly.pipeline.load_vgg19", lambda *a: tiny)
    monkeypatch.setattr("painterly.cli.fast.BUNDLED_DIR", style_folder)  # styles a and b
    result = run("train", style_png, "--photos", content_png.parent, "-o", tmp_path / "s",
                 "--name", "b", "--continue-from", "bundled", "--steps", 1, "--batch-size", 1,
                 "--crop-size", 32, "--base-width", 4, "--residual-blocks", 1,
                 "--precision", "fp32", "--content-layers", "relu2_1",
                 "--style-layers", "relu1_1,relu2_1")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "s" / "config.json").read_text())
    assert [s["name"] for s in config["styles"]] == ["b"]
    assert config["training"][-1]["specialised_from"] == ["a", "b"]
    other = run("train", style_png, "--photos", content_png.parent, "-o", tmp_path / "c",
                "--name", "c", "--continue-from", "bundled")
    assert other.exit_code == 2 and "paints a, b, not c" in other.output
    assert "training on" not in other.output  # refused before work


def test_export_writes_a_checked_onnx_file(style_folder, tmp_path):
    out = tmp_path / "a.onnx"
    result = run("export", f"{style_folder}/a:1", f"{style_folder}/b:1", "-o", out)
    assert result.exit_code == 0, result.output
    assert out.is_file() and "max |onnx - torch|" in result.output and ": ok" in result.output
    again = run("export", f"{style_folder}/a", "-o", out)
    assert again.exit_code == 2 and "already exists" in again.output
    wrong = run("export", f"{style_folder}/a", "-o", tmp_path / "a.png")
    assert wrong.exit_code == 2 and len(wrong.output.strip().splitlines()) == 1


def test_resume_without_a_checkpoint_is_refused_before_work(tmp_path, style_png):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(style_png, photos / "a.png")
    result = CliRunner().invoke(cli.cli, ["train", str(style_png), "--photos", str(photos),
                                          "-o", str(tmp_path / "style"), "--resume"])
    assert result.exit_code == 2
    assert "nothing to resume" in result.output and "checkpoint.pt" in result.output
