"""Files that are not what they seem, and messages that name the culprit.

Every command refuses a path that is not a regular file (a FIFO, a device, a directory, a
symbolic link loop) by its kind, before it opens it, so nothing can hang; output problems
surface before the run; each refusal is one line naming the file, with exit 2. The property
tests at the end generate files (random bytes, damaged images, odd sizes, odd names, special
files) and check that reading and output checks succeed or raise ImageError, nothing else.
"""

from __future__ import annotations

import errno
import io
import os
import signal
import struct
import tempfile
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from painterly import cli, devices, image_io, pipeline
from painterly.image_io import (
    ImageError,
    OutputError,
    check_image_file,
    check_output_path,
    load_image,
)
from painterly.models.weights import WeightsError, check_weights_file
from painterly.specs import parse_weighted

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and symlinks")
TINY = ["--size", "32", "--iterations", "1", "--scales", "1", "--quiet"]


def run(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], prog_name="painterly")


def refused(result, *fragments) -> str:
    """Exit 2, one stderr line naming the culprit, nothing on stdout."""
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("painterly: error: "), result.stderr
    for fragment in fragments:
        assert str(fragment) in lines[0], lines[0]
    assert result.stdout == ""
    return lines[0]


@pytest.fixture(autouse=True)
def no_hang():
    """A test that blocks (on a FIFO, say) fails after 30 s instead of hanging the run."""
    def expire(signum, frame):
        raise TimeoutError("blocked for 30 s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def never_runs(monkeypatch):
    monkeypatch.setattr(pipeline, "stylize", lambda *a, **k: pytest.fail("the run started"))


@pytest.fixture
def fake_run(monkeypatch):
    monkeypatch.setattr(pipeline, "stylize",
                        lambda *a, **k: Image.new("RGB", (32, 24), (128, 128, 128)))


def special(tmp_path: Path, kind: str, suffix: str = ".png") -> Path:
    """A path of the given kind: fifo, dir, loop, dangling, devzero, devnull, empty, missing."""
    path = tmp_path / f"{kind}{suffix}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        path.mkdir()
    elif kind == "loop":
        path.symlink_to(path.name)
    elif kind == "dangling":
        path.symlink_to("nowhere/x.png")
    elif kind in ("devzero", "devnull"):
        path.symlink_to(f"/dev/{kind[3:]}")
    elif kind == "empty":
        path.touch()
    return path


KIND_WORDS = {"fifo": "is a FIFO (named pipe), not a regular file",
              "dir": "is a directory", "loop": "is a symbolic link loop",
              "dangling": "is a broken symbolic link", "devzero": "is a character device"}


# ------------------------------------------------------------------ class 1: not a regular file

@pytest.mark.parametrize("kind", sorted(KIND_WORDS))
@pytest.mark.parametrize("position", ["content", "style", "mask", "labels", "init"])
def test_stylize_refuses_special_inputs_by_kind(tmp_path, content_png, style_png, never_runs,
                                                kind, position):
    bad = special(tmp_path, kind)
    args = {"content": [bad, style_png], "style": [content_png, bad]}.get(
        position, [content_png, style_png])
    extra = {"mask": ["--mask", bad], "labels": ["--labels", bad], "init": ["--init", bad]}
    result = run("stylize", *args, *extra.get(position, []), "-o", tmp_path / "o.png", *TINY)
    refused(result, bad.name, KIND_WORDS[kind])
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("kind", sorted(KIND_WORDS))
def test_weights_that_are_not_regular_files_are_named_by_kind(tmp_path, content_png, style_png,
                                                              never_runs, kind):
    bad = special(tmp_path, kind)
    result = run("stylize", content_png, style_png, "--weights", bad, "-o", tmp_path / "o.png",
                 *TINY)
    refused(result, f"cannot read weights '{bad}'", KIND_WORDS[kind])


def test_weights_that_are_a_picture_say_so(tmp_path, content_png, style_png, never_runs):
    message = refused(run("stylize", content_png, style_png, "--weights", style_png, "-o",
                          tmp_path / "o.png", *TINY), style_png.name)
    assert "is a PNG image, not a weights file" in message and "pickle" not in message
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not weights at all")
    with pytest.raises(WeightsError, match="not a recognised weights file"):
        check_weights_file(junk)


@pytest.mark.parametrize("kind", ["fifo", "dir", "loop", "devzero"])
def test_outputs_that_are_not_regular_files_are_refused_before_the_run(
        tmp_path, content_png, style_png, never_runs, kind):
    bad = special(tmp_path, kind)
    refused(run("stylize", content_png, style_png, "-o", bad, "--overwrite", *TINY),
            bad.name, KIND_WORDS[kind])


def test_broken_link_as_output_is_refused_up_front_and_replaced_with_overwrite(
        tmp_path, content_png, style_png, monkeypatch, fake_run):
    link = special(tmp_path, "dangling")
    monkeypatch.setattr(pipeline, "stylize", lambda *a, **k: pytest.fail("the run started"))
    refused(run("stylize", content_png, style_png, "-o", link, *TINY), link.name,
            "broken symbolic link", "--overwrite")
    monkeypatch.setattr(pipeline, "stylize", lambda *a, **k: Image.new("RGB", (8, 6)))
    assert run("stylize", content_png, style_png, "-o", link, "--overwrite", *TINY).exit_code == 0
    assert link.is_file() and not link.is_symlink()


@pytest.mark.parametrize("command", [
    ["fast", "{bad}", "--style", "starry_night", "-o", "{out}"],
    ["fast", "{content}", "--style", "starry_night", "-o", "{bad}", "--overwrite"],
    ["train", "{bad}", "--photos", "{tmp}", "-o", "{tmp}/style", "--steps", "1"],
    ["export", "starry_night", "-o", "{bad_onnx}", "--overwrite"],
    ["demo", "-o", "{bad}", "--size", "32"],
    ["explore", "activations", "{bad}", "-o", "{out}", "--size", "24"],
])
def test_every_command_refuses_a_fifo_without_blocking(tmp_path, content_png, command):
    bad, bad_onnx = tmp_path / "f.png", tmp_path / "f.onnx"
    os.mkfifo(bad)
    os.mkfifo(bad_onnx)
    values = {"bad": bad, "bad_onnx": bad_onnx, "out": tmp_path / "out.png",
              "content": content_png, "tmp": tmp_path}
    result = run(*(part.format(**values) for part in command))
    assert result.exit_code == 2, (result.stderr, result.exception)
    last = result.stderr.strip().splitlines()[-1]
    assert "FIFO (named pipe), not a regular file" in last and "f." in last


# ---------------------------------------------------------- class 6: late or misleading messages

def test_long_names_are_written_or_refused_up_front(tmp_path, content_png, style_png,
                                                    monkeypatch, fake_run):
    longest = tmp_path / ("a" * 251 + ".png")  # 255 bytes: allowed; its temporary name is short
    result = run("stylize", content_png, style_png, "-o", longest, *TINY)
    assert result.exit_code == 0, result.stderr
    assert longest.is_file() and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))\
        == []
    monkeypatch.setattr(pipeline, "stylize", lambda *a, **k: pytest.fail("the run started"))
    too_long = tmp_path / ("b" * 252 + ".png")
    refused(run("stylize", content_png, style_png, "-o", too_long, *TINY),
            "the file name is 256 bytes long", "at most 255")
    steps = tmp_path / ("c" * 245 + ".png")  # fits, but c...c.step0001.png does not
    refused(run("stylize", content_png, style_png, "-o", steps, "--save-every", "1", *TINY),
            ".step0001.png", "bytes long")


def test_full_disk_is_named_for_tiff_too(tmp_path, monkeypatch):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")

    def full(fd, data):
        os.close(fd)
        with open("/dev/full", "wb") as device:  # a real ENOSPC from the kernel
            device.write(data)
            device.flush()
    monkeypatch.setattr(image_io, "_write_durably", full)
    target = tmp_path / "out.tif"
    with pytest.raises(OutputError) as error:
        image_io.save_image(torch.rand(3, 16, 16), target)
    assert "no space left on the device" in str(error.value) and "codec" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_full_folder_is_refused_before_the_run(tmp_path, monkeypatch, content_png, style_png,
                                               never_runs):
    real_mkstemp = tempfile.mkstemp

    def mkstemp_on_full_disk(*args, **kwargs):
        fd, name = real_mkstemp(*args, **kwargs)
        os.close(fd)
        return os.open("/dev/full", os.O_WRONLY), name
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_on_full_disk)
    refused(run("stylize", content_png, style_png, "-o", tmp_path / "o.png", *TINY),
            "o.png", "no space left on the device")


def test_a_folder_that_takes_no_new_files_says_so(tmp_path, monkeypatch, content_png, style_png,
                                                 never_runs):
    def no_new_files(*args, **kwargs):  # what creating a file in /proc gives
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
    monkeypatch.setattr(tempfile, "mkstemp", no_new_files)
    message = refused(run("stylize", content_png, style_png, "-o", tmp_path / "o.png", *TINY),
                      "does not take new files")
    assert "No such file" not in message


def test_no_extension_says_so_plainly(tmp_path, content_png, style_png, never_runs):
    message = refused(run("stylize", content_png, style_png, "-o", tmp_path / "out", *TINY))
    assert "no file extension to choose the format by; add one of" in message
    assert "is not a supported output format" not in message


def test_a_bad_weight_is_not_a_missing_file(tmp_path, content_png, style_png, never_runs):
    refused(run("stylize", content_png, f"{style_png}:abc", "-o", tmp_path / "o.png", *TINY),
            "style weight", f"{style_png.name}:abc", "must be a number")
    refused(run("fast", content_png, "--style", "starry_night:abc", "-o", tmp_path / "o.png"),
            "style weight in 'starry_night:abc' must be a number")


def test_parse_weighted(tmp_path):
    (tmp_path / "wave.jpg").touch()
    (tmp_path / "odd:name.png").touch()
    os.chdir(tmp_path)
    assert parse_weighted("wave.jpg:0.5") == ("wave.jpg", 0.5)
    assert parse_weighted("odd:name.png") == ("odd:name.png", 1.0)
    assert parse_weighted("missing.jpg:abc") == ("missing.jpg:abc", 1.0)  # then: no such file
    for text in ("wave.jpg:abc", "wave.jpg:", "wave.jpg:-1", "wave.jpg:nan"):
        with pytest.raises(ValueError, match="style weight in"):
            parse_weighted(text)
    assert parse_weighted("net/a:2", exists=lambda name: name == "net/a") == ("net/a", 2.0)


def test_mask_problems_name_the_file_and_exit_2(tmp_path, content_png, style_png, never_runs):
    tall = tmp_path / "tall.png"
    Image.new("L", (10, 40), 255).save(tall)
    refused(run("stylize", content_png, style_png, "--mask", tall, "-o", tmp_path / "o.png",
                *TINY), "'" + str(tall) + "' is 10x40", "aspect ratio")
    labels = tmp_path / "regions.png"
    image = Image.new("RGB", (10, 40))
    image.putpixel((0, 0), (255, 0, 0))
    image.save(labels)
    message = refused(run("stylize", content_png, style_png, "--labels", labels, "-o",
                          tmp_path / "o.png", *TINY), "regions.png", "aspect ratio")
    assert "mask 1" not in message
    refused(run("stylize", content_png, style_png, style_png, "--labels", labels, "-o",
                tmp_path / "o.png", *TINY), "label image", "regions.png", "1 colour besides")


def test_memory_refusals_blame_the_cause(tmp_path, content_png, style_png, never_runs):
    message = refused(run("stylize", content_png, style_png, "-o", tmp_path / "o.png",
                          "--max-memory", "0.001", *TINY))
    assert "raise --max-memory" in message and "tile" not in message
    message = refused(run("stylize", content_png, style_png, "-o", tmp_path / "o.png",
                          "--style-size", "16384", "--max-memory", "4", *TINY))
    assert "--style-size" in message and "smaller --size" not in message


def test_exif_warnings_stay_off_stderr(tmp_path, style_png, fake_run):
    tiff = (b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x010E, 2, 1000, 100)
            + struct.pack("<I", 0))  # ImageDescription claims 1000 bytes past the end
    photo = tmp_path / "bad_exif.jpg"
    Image.new("RGB", (32, 24), (200, 10, 10)).save(photo, exif=b"Exif\x00\x00" + tiff)
    result = run("stylize", photo, style_png, "-o", tmp_path / "o.png", *TINY)
    assert result.exit_code == 0 and result.stderr == "", result.stderr


def test_fp16_on_cpu_is_advised_once(caplog, monkeypatch):
    monkeypatch.setattr(devices, "_warned", set())
    with caplog.at_level("WARNING", logger="painterly.devices"):
        for _ in range(3):
            devices.resolve_runtime("cpu", "fp16")
    assert caplog.text.count("fp16 on CPU") == 1


# --------------------------------------------------------------------------- property tests

def _encoded(fmt: str, width: int, height: int, mode: str) -> bytes:
    image = Image.new(mode, (width, height))
    image.putdata([(i * 37) % 256 if mode in ("L", "P") else tuple((i * k) % 256 for k in
                   (3, 5, 7, 11)[:len(mode)]) for i in range(width * height)])
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


FORMATS = {"PNG": ("RGB", "RGBA", "L", "P"), "JPEG": ("RGB", "L"), "TIFF": ("RGB", "L"),
           "WEBP": ("RGB", "RGBA"), "GIF": ("P", "L"), "BMP": ("RGB", "L")}
LIMIT = 1_000_000  # a damaged header may claim a large picture: keep each example quick
PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("generated")


def _file(scratch: Path, data: bytes, suffix: str = ".img") -> Path:
    fd, name = tempfile.mkstemp(dir=scratch, suffix=suffix)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    return Path(name)


def _reads_or_refuses(path) -> tuple[int, int] | None:
    """check_image_file and load_image agree: a size, or an ImageError of one line."""
    try:
        size = check_image_file(path, max_pixels=LIMIT)
    except ImageError as error:
        assert "\n" not in str(error) and str(error).startswith("cannot read ")
        with pytest.raises(ImageError):
            load_image(path, max_pixels=LIMIT)
        return None
    tensor = load_image(path, max_pixels=LIMIT)
    assert tensor.shape == (1, 3, size[1], size[0]) and tensor.dtype == torch.float32
    assert 0 <= tensor.min() and tensor.max() <= 1
    return size


@PROPERTY
@given(data=st.binary(max_size=2048))
def test_random_bytes_read_or_refuse(scratch, data):
    _reads_or_refuses(_file(scratch, data))


@PROPERTY
@given(fmt=st.sampled_from(sorted(FORMATS)), data=st.data(),
       width=st.integers(1, 40), height=st.integers(1, 40))
def test_odd_sizes_read_back_at_their_size(scratch, fmt, data, width, height):
    mode = data.draw(st.sampled_from(FORMATS[fmt]))
    assert _reads_or_refuses(_file(scratch, _encoded(fmt, width, height, mode))) == (width, height)


@PROPERTY
@given(fmt=st.sampled_from(sorted(FORMATS)), data=st.data())
def test_damaged_images_read_or_refuse(scratch, fmt, data):
    good = _encoded(fmt, 24, 16, FORMATS[fmt][0])
    cut = data.draw(st.integers(0, len(good)))
    damaged = bytearray(good[:cut] if data.draw(st.booleans()) else good)
    for _ in range(data.draw(st.integers(0, 8))):
        if damaged:
            damaged[data.draw(st.integers(0, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    _reads_or_refuses(_file(scratch, bytes(damaged)))


KINDS = ["fifo", "dir", "loop", "dangling", "devzero", "missing", "empty", "devnull"]


@PROPERTY
@given(kind=st.sampled_from(KINDS), suffix=st.sampled_from([".png", ".jpg", ".tif", ""]),
       overwrite=st.booleans())
def test_special_files_are_refused_without_blocking(scratch, kind, suffix, overwrite):
    path = special(Path(tempfile.mkdtemp(dir=scratch)), kind, suffix)
    with pytest.raises(ImageError) as error:
        check_image_file(path)
    assert "\n" not in str(error.value) and path.name in str(error.value)
    try:
        out = check_output_path(path, overwrite=overwrite)
    except OutputError as refusal:
        assert "\n" not in str(refusal) and path.name in str(refusal)
    else:  # only a name with nothing (or a replaceable file or link) there is accepted
        assert suffix and (kind in ("missing", "empty") or (kind == "dangling" and overwrite))
        assert overwrite or kind == "missing"
        assert out == path


NAME_CHARS = st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",))


@PROPERTY
@given(stem=st.text(NAME_CHARS, min_size=1, max_size=300),
       suffix=st.sampled_from(["", ".png", ".JPG", ".tiff", ".webp", ".gif", "."]))
def test_odd_output_names_are_written_or_refused_up_front(scratch, stem, suffix):
    folder = Path(tempfile.mkdtemp(dir=scratch))
    name = stem + suffix
    try:
        out = check_output_path(folder / name, overwrite=False)
    except OutputError as refusal:
        assert "\n" not in str(refusal) and str(refusal).startswith("cannot write ")
        return
    image_io.save_image(torch.rand(3, 4, 5), out)  # accepted up front: the write succeeds
    assert check_image_file(out) == (5, 4)
    assert sorted(p.name for p in folder.iterdir()) == [out.name]
