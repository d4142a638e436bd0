"""The ``painterly`` command as a user runs it: exit codes, one-line errors, files written or not.

Most tests drive the click group in-process (CliRunner); a few run ``python -m painterly`` for
real. Runs that optimise use the real VGG19 at 32 px for 2 steps, or the tiny random network.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
import struct
import subprocess
import sys
import zlib
from typing import Literal

import click
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import painterly
from painterly import Interrupted, StyleConfig, cli, image_io, pipeline
from painterly.cli.common import param_type
from painterly.cli.stylize import default_demo_output, parse_style
from painterly.image_io import read_png_metadata

# Adam keeps these runs independent of the optimiser; the demo test runs the defaults (L-BFGS).
TINY = ["--size", "32", "--iterations", "2", "--scales", "1", "--optimizer", "adam"]
TINY_NET = [*TINY, "--content-layers", "relu2_1", "--style-layers", "relu1_1,relu2_1"]


def run(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], prog_name="painterly")


def run_process(*args, cwd):
    return subprocess.run([sys.executable, "-m", "painterly", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def assert_one_line_error(result, *fragments, code=2):
    """Handled error: exit ``code``, exactly one stderr line, nothing on stdout, no traceback."""
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("painterly: error: "), result.stderr
    for fragment in fragments:
        assert str(fragment) in lines[0]
    assert result.stdout == ""
    return lines[0]


def png_claiming(width, height) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` 1-bit pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0\0"))
            + chunk(b"IEND", b""))


@pytest.fixture
def no_network(monkeypatch):
    """Fails the test's CLI run (exit 1, "unexpected") if the network or a run is started."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("the network was used")
    monkeypatch.setattr(pipeline, "stylize", refuse)
    monkeypatch.setattr(pipeline, "load_vgg19", refuse)
    return calls


@pytest.fixture
def tiny_net(monkeypatch, tiny):
    """``stylize`` on the tiny random network; ``hooks`` may wrap the callback."""
    real, hooks = pipeline.stylize, []

    def stylize(content, style, config, *, callback=None, extractor=None):
        for hook in hooks:
            callback = hook(callback)
        return real(content, style, config, callback=callback, extractor=tiny)
    monkeypatch.setattr(pipeline, "stylize", stylize)
    return hooks


@pytest.fixture
def fake_stylize(monkeypatch):
    """``stylize`` that returns a grey 32x24 image at once (or raises ``fake_stylize.error``)."""
    class Fake:
        def __init__(self):
            self.error: BaseException | None = None
            self.calls: list = []

        def __call__(self, content, style, config, *, callback=None, extractor=None):
            self.calls.append((content, style, config))
            if self.error is not None:
                raise self.error
            return Image.new("RGB", (32, 24), (128, 128, 128))
    fake = Fake()
    monkeypatch.setattr(pipeline, "stylize", fake)
    return fake


# --------------------------------------------------------------------- help and parsing

def test_version_and_help():
    assert run("--version").stdout.strip() == f"painterly {painterly.__version__}"
    result = run("--help")
    assert result.exit_code == 0
    assert "stylize" in result.stdout and "demo" in result.stdout and "Exit codes" in result.stdout


def test_every_listed_command_loads_under_its_name_and_threads_where_it_computes():
    ctx = click.Context(cli.cli)
    for name, where in cli.SUBCOMMANDS.items():
        command = cli.cli.get_command(ctx, name)
        assert isinstance(command, click.Command) and command.name == name
        leaves = command.commands.values() if isinstance(command, click.Group) else [command]
        for leaf in leaves:
            assert any(p.name == "threads" for p in leaf.params) == where.computes, (name, leaf.name)
    assert cli.cli.get_command(ctx, "no-such-command") is None


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["examples"], ["styles"],
                                  ["stylize", "--help"], ["demo", "--help"], ["video", "--help"],
                                  ["batch", "--help"], ["fast", "--help"], ["train", "--help"],
                                  ["export", "--help"], ["studio", "--help"],
                                  ["explore", "--help"], ["explore", "neurons", "--help"]])
def test_help_version_and_the_listings_answer_without_importing_pytorch(args):
    code = ("import sys; from painterly.cli import main; sys.argv = ['painterly', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit as exit_:\n    assert not exit_.code, exit_.code\n"
            "assert 'torch' not in sys.modules, 'PyTorch was imported'")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_a_reader_that_leaves_early_stops_the_listing_quietly():
    """``painterly styles | head -1``: the pipe's reader is gone before the lines are written."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "painterly", "styles"], stdout=write,
                              stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write)
    assert done.returncode == 141 and done.stderr == "", done.stderr


def test_every_config_field_is_an_option_with_the_library_default():
    text = run("stylize", "--help").stdout
    blocks = {b.split()[0]: " ".join(b.split()) for b in re.split(r"\n(?=  -)", text) if b.strip()}
    for field in dataclasses.fields(StyleConfig):
        block = blocks["--" + field.name.replace("_", "-")]
        assert field.metadata["help"].split()[0] in block
        shown = re.search(r"\[default: ([^\]]+)\]", block)
        if field.default is None:
            assert shown is None
        elif isinstance(field.default, tuple):
            assert shown.group(1) == ",".join(field.default)
        elif isinstance(field.default, bool):  # a --name/--no-name switch shows the one in force
            flag = field.name.replace("_", "-")
            assert shown.group(1) == (flag if field.default else "no-" + flag)
        else:
            assert type(field.default)(shown.group(1)) == field.default, field.name
    style_weight = re.search(r"\[default: ([^\]]+)\]", blocks["--style-weight"]).group(1)
    assert float(style_weight) == StyleConfig().style_weight


@pytest.mark.parametrize("text, expected", [
    ("a.png", ("a.png", 1.0)),
    ("a.png:0.7", ("a.png", 0.7)),
    ("a.png:1e-1", ("a.png", 0.1)),
    ("a.png:0", ("a.png", 0.0)),
    (r"C:\art\wave.jpg", (r"C:\art\wave.jpg", 1.0)),
    (r"C:\art\wave.jpg:0.5", (r"C:\art\wave.jpg", 0.5)),
    ("odd:name.png", ("odd:name.png", 1.0)),
    ("odd:name.png:2", ("odd:name.png", 2.0)),
    ("12:30", ("12", 30.0)),
    (":0.5", (":0.5", 1.0)),
])
def test_parse_style(text, expected):
    assert parse_style(text) == expected


@pytest.mark.parametrize("text", ["a.png:-1", "a.png:nan", "a.png:inf"])
def test_parse_style_rejects_bad_weights(text):
    with pytest.raises(ValueError, match="style weight"):
        parse_style(text)


def test_param_types_follow_annotations():
    assert param_type(int | None) is click.INT
    assert param_type(Literal["a", "b"]).choices == ("a", "b")
    assert param_type(tuple[float, ...] | None).convert("1, 2.5", None, None) == (1.0, 2.5)
    assert param_type(tuple[str, ...]).convert("", None, None) == ()
    with pytest.raises(TypeError):
        param_type(dict[str, int])


def test_styles_with_weights_reach_the_library(tmp_path, content_png, style_png, fake_stylize):
    odd = tmp_path / "odd:name.png"
    odd.write_bytes(style_png.read_bytes())
    result = run("stylize", content_png, f"{style_png}:0.7", f"{odd}:0.3", odd,
                 "-o", tmp_path / "out.png", "--style-layers", "relu1_1,relu2_1", "--quiet")
    assert result.exit_code == 0, result.stderr
    content, styles, config = fake_stylize.calls[0]
    assert styles == [(str(style_png), 0.7), (str(odd), 0.3), (str(odd), 1.0)]
    assert config.style_layers == ("relu1_1", "relu2_1") and content == str(content_png)


# ----------------------------------------------------------------------- real runs

def test_stylize_writes_png_with_its_parameters(tmp_path, content_png, style_png, bundled):
    out = tmp_path / "out.png"
    result = run("stylize", content_png, f"{style_png}:0.7", f"{bundled['style']}:0.3",
                 "-o", out, *TINY, "--style-weight", "2000")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{out}\n"
    assert Image.open(out).size == (32, 24)
    meta = read_png_metadata(out)
    record = json.loads(meta["painterly"])
    assert meta["Software"] == f"painterly {painterly.__version__}"
    assert record["config"]["style_weight"] == 2000.0 and record["config"]["size"] == 32
    assert record["styles"] == [[str(style_png), 0.7], [str(bundled["style"]), 0.3]]
    assert record["content"] == str(content_png)
    assert result.stderr.startswith("painterly: cpu") and "scale 1/1 32x24" in result.stderr


def test_jpeg_output_and_quiet(tmp_path, content_png, style_png):
    out = tmp_path / "out.jpg"
    result = run("stylize", content_png, style_png, "-o", out, *TINY, "--quiet")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "" and result.stdout == f"{out}\n"
    assert Image.open(out).format == "JPEG"


def test_demo_uses_the_bundled_images_and_defaults(tmp_path):
    out = tmp_path / "new" / "demo.png"
    result = run("demo", "-o", out, "--size", "32", "--iterations", "2")
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert result.stdout == f"{out}\n"
    record = json.loads(read_png_metadata(out)["painterly"])
    assert record["demo"] is True and record["styles"][0][0].endswith("starry_night.jpg")
    assert record["config"] == StyleConfig(size=32, iterations=2).to_dict()


def test_save_every_writes_intermediate_images(tmp_path, content_png, style_png, tiny_net):
    out = tmp_path / "out.png"
    result = run("stylize", content_png, style_png, "-o", out, *TINY_NET, "--save-every", "1")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in tmp_path.glob("out*")) == [
        "out.png", "out.step0001.png", "out.step0002.png"]
    assert json.loads(read_png_metadata(tmp_path / "out.step0002.png")["painterly"])["step"] == 2
    again = run("stylize", content_png, style_png, "-o", tmp_path / "other.png", *TINY_NET,
                "--save-every", "1")
    assert again.exit_code == 0  # other names; and an existing step file is refused up front:
    (tmp_path / "out.png").unlink()
    assert_one_line_error(run("stylize", content_png, style_png, "-o", out, *TINY_NET,
                              "--save-every", "2"), "out.step0002.png", "already exists")


# -------------------------------------------------------------- refused before work

BAD_FILES = {
    "missing": (None, "no such file"),
    "empty": (b"", "empty"),
    "truncated": ("truncated", "truncated"),
    "text": (b"not an image at all\n", "not an image"),
    "bomb": (png_claiming(12000, 9000), "exceeds the limit"),
}


def write_bad(path, kind, good_png):
    data = BAD_FILES[kind][0]
    if data == "truncated":
        data = good_png.read_bytes()[: good_png.stat().st_size // 2]
    if data is not None:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_content_file(tmp_path, kind, content_png, style_png, no_network):
    bad = write_bad(tmp_path / f"bad-{kind}.png", kind, content_png)
    out = tmp_path / "out.png"
    assert_one_line_error(run("stylize", bad, style_png, "-o", out), bad.name, BAD_FILES[kind][1])
    assert not out.exists() and not no_network


@pytest.mark.parametrize("role", ["style", "second style", "init"])
def test_bad_style_or_init_file(tmp_path, role, content_png, style_png, no_network):
    bad = write_bad(tmp_path / "cut.png", "truncated", content_png)
    args = {"style": [bad], "second style": [style_png, f"{bad}:0.5"],
            "init": [style_png, "--init", bad]}[role]
    out = tmp_path / "out.png"
    assert_one_line_error(run("stylize", content_png, *args, "-o", out), "cut.png", "truncated")
    assert not out.exists()


@pytest.mark.parametrize("name, message", [
    ("file.txt/out.png", "is not a folder"),
    ("missing/out.png", "does not exist"),
    ("out.xyz", "'.xyz' is not a supported output format"),
    ("out", "no file extension"),
])
def test_unwritable_output(tmp_path, name, message, content_png, style_png, no_network):
    (tmp_path / "file.txt").write_text("a file, not a folder")
    assert_one_line_error(run("stylize", content_png, style_png, "-o", tmp_path / name), message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content.png", "file.txt", "style.png"]


def test_existing_output_is_kept_without_overwrite(tmp_path, content_png, style_png, no_network):
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    assert_one_line_error(run("stylize", content_png, style_png, "-o", out), "already exists")
    assert out.read_bytes() == b"precious"


def test_output_is_never_an_input(tmp_path, content_png, style_png, no_network):
    before = style_png.read_bytes()
    result = run("stylize", content_png, style_png, "-o", style_png, "--overwrite")
    assert_one_line_error(result, "style.png", "also an input")
    assert style_png.read_bytes() == before


@pytest.mark.parametrize("args, fragments", [
    (["--style-layers", "conv9_9"], ["unknown layer 'conv9_9'", "valid layers: conv1_1"]),
    (["--style-weight", "-1"], ["style_weight must be a finite number >= 0"]),
    (["--size", "8"], ["size must be an integer from 16"]),
    (["--style-layer-weights", "1,2"], ["style_layer_weights has 2 values for 5"]),
    (["--iterations-per-scale", "5"], ["iterations_per_scale has 1 entries"]),
    (["--weights", "nowhere.pth"], ["nowhere.pth", "no such file"]),
    (["--device", "cuda" if not torch.cuda.is_available() else "nodevice"], ["device"]),
])
def test_bad_settings(tmp_path, args, fragments, content_png, style_png, no_network):
    result = run("stylize", content_png, style_png, "-o", tmp_path / "out.png", *args)
    assert_one_line_error(result, *fragments)


def test_bad_style_weight_argument(tmp_path, content_png, style_png, no_network):
    result = run("stylize", content_png, f"{style_png}:-0.5", "-o", tmp_path / "out.png")
    assert_one_line_error(result, "style weight", "-0.5")
    result = run("stylize", content_png, f"{style_png}:0", "-o", tmp_path / "out.png")
    assert_one_line_error(result, "positive sum")


@pytest.mark.parametrize("args, message", [
    (["--precision", "fp64"], "Invalid value for '--precision'"),
    (["--style-layer-weights", "1,x"], "comma-separated list of float"),
    (["--save-every", "-1"], "Invalid value for '--save-every'"),
])
def test_click_usage_errors_keep_clicks_format(tmp_path, args, message, content_png, style_png,
                                                no_network):
    result = run("stylize", content_png, style_png, "-o", tmp_path / "out.png", *args)
    assert result.exit_code == 2 and message in result.stderr
    assert result.stderr.startswith("Usage: painterly stylize")
    assert "Traceback" not in result.stderr and not no_network


def test_missing_output_option_is_a_usage_error(content_png, style_png, no_network):
    result = run("stylize", content_png, style_png)
    assert result.exit_code == 2 and "Missing option '-o'" in result.stderr


# ------------------------------------------------------------- interrupts and failures

def test_ctrl_c_saves_the_image_so_far(tmp_path, content_png, style_png, tiny_net):
    def interrupt_at_step_1(callback):
        def wrapped(progress):
            callback(progress)
            raise KeyboardInterrupt
        return wrapped
    tiny_net.append(interrupt_at_step_1)
    out = tmp_path / "out.png"
    result = run("stylize", content_png, style_png, "-o", out, *TINY_NET)
    assert result.exit_code == 130
    assert result.stderr.strip().endswith(f"painterly: interrupted; saved the image so far to {out}")
    assert Image.open(out).size == (32, 24)
    assert json.loads(read_png_metadata(out)["painterly"])["interrupted"] is True


def test_interrupted_from_the_library_respects_overwrite(tmp_path, content_png, style_png,
                                                         fake_stylize):
    fake_stylize.error = Interrupted(Image.new("RGB", (32, 24), "red"), steps=3)
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    result = run("stylize", content_png, style_png, "-o", out, "--overwrite", "--quiet")
    assert result.exit_code == 130 and "saved the image so far" in result.stderr
    assert Image.open(out).getpixel((0, 0)) == (255, 0, 0)


def test_interrupted_before_the_first_step_writes_nothing(tmp_path, content_png, style_png,
                                                          fake_stylize):
    fake_stylize.error = Interrupted(Image.new("RGB", (32, 24), "red"), steps=0)
    out = tmp_path / "out.png"
    result = run("stylize", content_png, style_png, "-o", out, "--quiet")
    assert result.exit_code == 130
    assert result.stderr.strip().splitlines()[-1] == (
        "painterly: interrupted before the first step; nothing was written")
    assert not out.exists()


def test_ctrl_c_before_any_step_writes_nothing(tmp_path, content_png, style_png, fake_stylize):
    fake_stylize.error = KeyboardInterrupt()
    out = tmp_path / "out.png"
    result = run("stylize", content_png, style_png, "-o", out)
    assert result.exit_code == 130
    assert result.stderr.strip().splitlines()[-1] == "painterly: interrupted; nothing was written"
    assert not out.exists()


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_full_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, content_png, style_png,
                                                  fake_stylize, suffix):
    def full(fd, data):  # the disk fills up while the result is written
        os.close(fd)
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(image_io, "_write_durably", full)
    result = run("stylize", content_png, style_png, "-o", tmp_path / f"out{suffix}", "--quiet")
    assert_one_line_error(result, f"out{suffix}", "no space left on the device", code=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content.png", "style.png"]


@pytest.mark.parametrize("error, fragment", [
    (FloatingPointError("the loss became NaN or infinite"), "the loss became NaN"),
    (RuntimeError("boom"), "unexpected RuntimeError: boom (run with -v"),
])
def test_failures_while_running_exit_1(tmp_path, error, fragment, content_png, style_png,
                                       fake_stylize):
    fake_stylize.error = error
    result = run("stylize", content_png, style_png, "-o", tmp_path / "out.png", "--quiet")
    assert_one_line_error(result, fragment, code=1)
    assert not (tmp_path / "out.png").exists()


def test_verbose_shows_the_traceback_of_unexpected_errors(tmp_path, content_png, style_png,
                                                          fake_stylize):
    fake_stylize.error = RuntimeError("boom")
    result = run("stylize", content_png, style_png, "-o", tmp_path / "out.png", "--quiet", "-v")
    assert result.exit_code == 1 and "Traceback" in result.stderr
    assert result.stderr.strip().endswith("painterly: error: unexpected RuntimeError: boom")


# ------------------------------------------------------------------------ demo

def test_demo_replaces_only_its_own_output(tmp_path, monkeypatch, fake_stylize):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    default = default_demo_output()
    assert default.is_relative_to(tmp_path / "data")
    for _ in range(2):  # the second run replaces the first one's image
        result = run("demo", "--quiet")
        assert result.exit_code == 0 and result.stdout == f"{default}\n", result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # nothing in the cwd
    foreign = tmp_path / "mine.png"
    Image.new("RGB", (4, 4)).save(foreign)
    before = foreign.read_bytes()
    assert_one_line_error(run("demo", "-o", foreign), "already exists")
    assert foreign.read_bytes() == before
    assert run("demo", "-o", foreign, "--overwrite", "--quiet").exit_code == 0
    # a file named with -o is the user's, even when an earlier demo wrote it
    before = foreign.read_bytes()
    assert_one_line_error(run("demo", "-o", foreign), "already exists")
    assert foreign.read_bytes() == before


# -------------------------------------------------------------- as a real process

def test_process_version(tmp_path):
    done = run_process("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"painterly {painterly.__version__}"


def test_process_errors_are_one_line(tmp_path, style_png):
    done = run_process("stylize", "missing.png", style_png, "-o", "out.png", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("painterly: error: cannot read 'missing.png': no such file; bundled ")
    assert line.endswith("(`painterly examples` lists them)")
    usage = run_process("stylize", style_png, style_png, "-o", "o.png", "--precision", "x",
                        cwd=tmp_path)
    assert usage.returncode == 2 and "Traceback" not in usage.stderr
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "o.png").exists()


def test_process_stylize(tmp_path, content_png, style_png):
    done = run_process("stylize", content_png.name, style_png.name, "-o", "out.webp", *TINY,
                       cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "out.webp\n" and "Traceback" not in done.stderr
    assert Image.open(tmp_path / "out.webp").format == "WEBP"


def test_a_bundled_painting_with_a_bad_weight_is_a_bad_weight_not_a_missing_file():
    with pytest.raises(ValueError, match="must be a number"):
        parse_style("starry_night:abc")
