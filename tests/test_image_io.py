"""Image I/O: round trips and every awkward input. All images are made in tmp_path."""

from __future__ import annotations

import errno
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, features

from painterly import image_io
from painterly.image_io import (
    MAX_PIXELS, ImageError, OutputError, check_image_file, check_output_path, load_image,
    open_image, pil_to_tensor, read_png_metadata, resize_long_edge, save_image,
    size_for_long_edge, tensor_to_pil,
)


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    """(1,3,H,W) float -> (H,W,3) uint8, clamped."""
    return (image[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def _png(width: int, height: int, bit_depth: int, colour_type: int, raw: bytes) -> bytes:
    """A minimal PNG written by hand; ``raw`` is the filtered scanlines (before zlib)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def _png_bytes(array: np.ndarray, bit_depth: int, colour_type: int,
               size: tuple[int, int] | None = None) -> bytes:
    """``array`` as a PNG (Pillow cannot write 16-bit RGB). ``size`` overrides the header's
    (width, height) to make a file that claims to be huge."""
    height, width = array.shape[:2]
    dtype = ">u2" if bit_depth == 16 else "u1"
    raw = b"".join(b"\x00" + row.astype(dtype).tobytes() for row in array)
    return _png(*(size or (width, height)), bit_depth, colour_type, raw)


def _noise(height: int = 24, width: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _pixel(tensor: torch.Tensor, x: int, y: int) -> list[int]:
    return [round(v * 255) for v in tensor[0, :, y, x].tolist()]


def _assert_one_line_naming(error: pytest.ExceptionInfo, path: Path) -> None:
    message = str(error.value)
    assert "\n" not in message
    assert path.name in message


# ------------------------------------------------------------------ round trips

def test_png_round_trip_is_exact(tmp_path):
    original = torch.from_numpy(_noise()).permute(2, 0, 1).float().div(255).unsqueeze(0)
    path = save_image(original, tmp_path / "out.png")
    loaded = load_image(path)
    assert loaded.shape == (1, 3, 24, 32) and loaded.dtype == torch.float32
    assert torch.allclose(loaded, original, atol=0.5 / 255)


def test_jpeg_round_trip_is_close(tmp_path):
    smooth = torch.linspace(0, 1, 64).expand(1, 3, 48, 64).clone()
    save_image(smooth, tmp_path / "out.jpg", quality=95)
    assert (load_image(tmp_path / "out.jpg") - smooth).abs().mean() < 0.02


def test_tensor_to_pil_clamps_and_rounds():
    image = torch.tensor([-0.5, 0.5, 1.7], dtype=torch.float64).view(3, 1, 1)
    assert tensor_to_pil(image).getpixel((0, 0)) == (0, 128, 255)
    assert tensor_to_pil(image.unsqueeze(0).half()).mode == "RGB"


def test_pil_to_tensor_shape_and_range():
    tensor = pil_to_tensor(Image.new("RGB", (5, 3), (255, 0, 51)))
    assert tensor.shape == (1, 3, 3, 5) and tensor.dtype == torch.float32
    assert _pixel(tensor, 0, 0) == [255, 0, 51]


# ------------------------------------------------------------------ awkward modes

def test_rgba_transparent_becomes_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[0, 0, 3] = 255  # one opaque red pixel, the rest fully transparent
    rgba[0, 1, 3] = 128  # half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")
    assert _pixel(image, 0, 0) == [200, 0, 0]
    assert _pixel(image, 3, 3) == [255, 255, 255]
    assert _pixel(image, 1, 0)[1] in (127, 128)


def test_greyscale_l(tmp_path):
    Image.new("L", (3, 2), 100).save(tmp_path / "g.png")
    assert _pixel(load_image(tmp_path / "g.png"), 2, 1) == [100, 100, 100]


def test_la_alpha_composited(tmp_path):
    Image.new("LA", (2, 2), (0, 0)).save(tmp_path / "la.png")
    assert _pixel(load_image(tmp_path / "la.png"), 0, 0) == [255, 255, 255]


@pytest.mark.parametrize("transparent", [False, True])
def test_palette(tmp_path, transparent):
    image = Image.new("P", (2, 1))
    image.putpalette([10, 20, 30, 200, 100, 0] + [0] * 762)
    image.putpixel((1, 0), 1)
    kwargs = {"transparency": 0} if transparent else {}
    image.save(tmp_path / "p.png", **kwargs)
    loaded = load_image(tmp_path / "p.png")
    assert _pixel(loaded, 0, 0) == ([255, 255, 255] if transparent else [10, 20, 30])
    assert _pixel(loaded, 1, 0) == [200, 100, 0]


def test_16bit_greyscale_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.array([[0, 32768, 65535]], np.uint16)).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as raw:
        assert raw.mode.startswith("I")  # Pillow's own I;16 -> L would clip 32768 to 255
    values = load_image(tmp_path / "g16.png")[0, 0, 0].tolist()
    assert values[0] == 0 and abs(values[1] - 0.5) < 1 / 255 and values[2] == 1


def test_16bit_rgb_and_rgba(tmp_path):
    rgb = np.array([[[0, 32768, 65535]]], np.uint16)
    (tmp_path / "rgb16.png").write_bytes(_png_bytes(rgb, 16, 2))
    assert _pixel(load_image(tmp_path / "rgb16.png"), 0, 0) in ([0, 128, 255], [0, 127, 255])
    rgba = np.array([[[0, 0, 0, 0], [65535, 0, 0, 65535]]], np.uint16)
    (tmp_path / "rgba16.png").write_bytes(_png_bytes(rgba, 16, 6))
    loaded = load_image(tmp_path / "rgba16.png")
    assert _pixel(loaded, 0, 0) == [255, 255, 255] and _pixel(loaded, 1, 0) == [255, 0, 0]


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=95)
    red, green, blue = _pixel(load_image(tmp_path / "c.jpg"), 8, 8)
    assert red > 240 and green < 15 and blue < 15


def test_float_and_ycbcr_modes():
    assert open_image(Image.new("F", (1, 1), 128.0)).getpixel((0, 0)) == (128, 128, 128)
    assert open_image(Image.new("YCbCr", (1, 1), (255, 128, 128))).mode == "RGB"


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)  # stored 40 wide, 20 high
    pixels[:8, :8] = 255  # white block in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(pixels).save(tmp_path / "rot.jpg", exif=exif, quality=95)
    assert check_image_file(tmp_path / "rot.jpg") == (20, 40)
    image = load_image(tmp_path / "rot.jpg")
    assert image.shape == (1, 3, 40, 20)
    assert min(_pixel(image, 17, 2)) > 200  # top-left went to top-right
    assert max(_pixel(image, 2, 2)) < 50


def test_large_jpeg_is_decoded_reduced_yet_loads_as_a_full_decode_would(tmp_path):
    """libjpeg's scaled decoding (a quarter here) keeps the long edge >= the asked size, and
    what the Lanczos resize then gives differs invisibly from resizing the full decode."""
    smooth = torch.nn.functional.interpolate(torch.rand(1, 3, 24, 32), size=(768, 1024),
                                             mode="bicubic", align_corners=False)
    Image.fromarray(_to_uint8(smooth)).save(tmp_path / "big.jpg", quality=95)
    assert open_image(tmp_path / "big.jpg", at_least=200).size == (256, 192)
    assert open_image(tmp_path / "big.jpg", at_least=600).size == (1024, 768)  # no halving
    reduced = load_image(tmp_path / "big.jpg", long_edge=100)
    full = pil_to_tensor(open_image(tmp_path / "big.jpg").resize((100, 75), Image.Resampling.LANCZOS))
    assert reduced.shape == full.shape == (1, 3, 75, 100)
    assert (reduced - full).abs().mean() * 255 < 1.0
    assert check_image_file(tmp_path / "big.jpg") == (1024, 768)


def test_open_image_does_not_modify_callers_pil_image():
    image = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    result = open_image(image)
    assert result is not image and image.mode == "RGBA" and result.mode == "RGB"


# ------------------------------------------------------------------ broken files

def _encoded(tmp_path: Path, fmt: str) -> bytes:
    path = tmp_path / f"full.{fmt.lower()}"
    Image.fromarray(_noise(64, 64)).save(path, fmt)
    return path.read_bytes()


@pytest.mark.parametrize("fmt, suffix", [("PNG", "png"), ("JPEG", "jpg")])
def test_truncated_file(tmp_path, fmt, suffix):
    data = _encoded(tmp_path, fmt)
    path = tmp_path / f"cut.{suffix}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated or corrupt") as error:
        check_image_file(path)
    _assert_one_line_naming(error, path)


@pytest.mark.parametrize("case, expected", [
    ("empty", "file is empty"),
    ("text", "not an image"),
    ("missing", "no such file"),
    ("directory", "is a directory"),
])
def test_bad_inputs(tmp_path, case, expected):
    path = tmp_path / "photo.jpg"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("this is not a JPEG\n")
    elif case == "directory":
        path.mkdir()
    with pytest.raises(ImageError, match=expected) as error:
        load_image(path)
    _assert_one_line_naming(error, path)


def test_max_pixels_checked_before_decoding(tmp_path):
    Image.new("RGB", (200, 200)).save(tmp_path / "small.png")
    with pytest.raises(ImageError, match="200x200 pixels exceeds the limit") as error:
        load_image(tmp_path / "small.png", max_pixels=1000)
    _assert_one_line_naming(error, tmp_path / "small.png")


def test_header_claiming_huge_size_is_rejected_by_our_limit(tmp_path):
    # 12000 x 9000 = 108 MP: above MAX_PIXELS, above Pillow's warning level (89 MP) but
    # below its hard error (179 MP), so our own check must catch it. The data is 1 pixel.
    assert 12000 * 9000 > MAX_PIXELS
    path = tmp_path / "claims.png"
    path.write_bytes(_png_bytes(np.zeros((1, 1), np.uint8), 8, 0, size=(12000, 9000)))
    with pytest.raises(ImageError, match="12000x9000 pixels exceeds") as error:
        check_image_file(path)
    _assert_one_line_naming(error, path)


def test_real_decompression_bomb(tmp_path):
    # A valid 15000 x 15000 1-bit PNG of zeros: 225 MP in a 27 KB file, beyond Pillow's
    # hard limit. Written by hand because Pillow's encoder takes most of a second for it.
    side = 15000
    assert side * side > max(MAX_PIXELS, 2 * Image.MAX_IMAGE_PIXELS)
    path = tmp_path / "bomb.png"
    path.write_bytes(_png(side, side, 1, 0, bytes((1 + side // 8) * side)))
    assert path.stat().st_size < 200_000
    with pytest.raises(ImageError, match="megapixels") as error:
        load_image(path)
    _assert_one_line_naming(error, path)


# ------------------------------------------------------------------ tensors and sizes

def test_load_image_never_mutates_tensor():
    source = torch.rand(3, 10, 20, dtype=torch.float32)
    before = source.clone()
    result = load_image(source, long_edge=40)
    result.add_(1)
    plain = load_image(source)
    plain.mul_(0)
    assert torch.equal(source, before)
    assert result.shape == (1, 3, 20, 40)


@pytest.mark.parametrize("bad", [
    torch.rand(2, 3, 4, 4), torch.rand(4, 4), torch.zeros(1, 3, 4, 4, dtype=torch.uint8),
    torch.rand(1, 4, 4, 4), torch.full((3, 2, 2), 2.0),
])
def test_load_image_rejects_bad_tensors(bad):
    with pytest.raises(ValueError, match=r"shape|range"):
        load_image(bad)


def test_size_for_long_edge():
    assert size_for_long_edge(400, 300, 200) == (200, 150)
    assert size_for_long_edge(300, 400, 200) == (150, 200)
    assert size_for_long_edge(1000, 1, 10) == (10, 1)
    with pytest.raises(ValueError):
        size_for_long_edge(10, 10, 0)


@pytest.mark.parametrize("size, long_edge, expected", [
    ((60, 40), 30, (30, 20)), ((40, 60), 30, (20, 30)), ((60, 40), 90, (90, 60)),
])
def test_resize_long_edge_file_and_tensor(tmp_path, size, long_edge, expected):
    Image.fromarray(_noise(size[1], size[0])).save(tmp_path / "in.png")
    from_file = load_image(tmp_path / "in.png", long_edge=long_edge)
    assert from_file.shape == (1, 3, expected[1], expected[0])
    tensor = torch.rand(2, 3, size[1], size[0], dtype=torch.float64)
    resized = resize_long_edge(tensor, long_edge)
    assert resized.shape == (2, 3, expected[1], expected[0]) and resized.dtype == torch.float64
    assert resized.min() >= 0 and resized.max() <= 1


# ------------------------------------------------------------------ output paths

def test_check_output_path_errors(tmp_path):
    source = tmp_path / "in.png"
    Image.new("RGB", (2, 2)).save(source)
    (tmp_path / "file").write_text("x")
    cases = [
        (tmp_path / "in.png", dict(overwrite=True, inputs=[source]), "also an input"),
        (tmp_path / "sub" / ".." / "in.png", dict(overwrite=True, inputs=[str(source)]),
         "also an input"),
        (tmp_path / "out.gif", dict(overwrite=False), r"\.png"),
        (tmp_path / "out", dict(overwrite=False), "no file extension"),
        (tmp_path / "missing" / "out.png", dict(overwrite=False), "does not exist"),
        (tmp_path / "file" / "out.png", dict(overwrite=False), "not a folder"),
        (source, dict(overwrite=False), "use --overwrite"),
    ]
    (tmp_path / "sub").mkdir()
    for path, kwargs, expected in cases:
        with pytest.raises(OutputError, match=expected) as error:
            check_output_path(path, **kwargs)
        _assert_one_line_naming(error, path)
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        check_output_path(tmp_path / "dir.png", overwrite=True)
    assert check_output_path(source, overwrite=True) == source
    assert list(tmp_path.glob(".painterly-probe-*")) == []


def test_output_error_is_an_image_error_and_value_error():
    assert issubclass(OutputError, ImageError) and issubclass(ImageError, ValueError)


def test_save_refuses_existing_file_unless_overwrite(tmp_path):
    target = tmp_path / "out.png"
    save_image(torch.zeros(3, 4, 4), target)
    with pytest.raises(OutputError, match="already exists"):
        save_image(torch.ones(3, 4, 4), target)
    assert load_image(target).max() == 0
    save_image(torch.ones(3, 4, 4), target, overwrite=True)
    assert load_image(target).min() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg"])
@pytest.mark.parametrize("failure", [
    OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), KeyboardInterrupt(),
])
def test_failed_save_leaves_target_untouched(tmp_path, monkeypatch, failure, suffix):
    target = tmp_path / f"out{suffix}"
    save_image(torch.zeros(3, 4, 4), target)
    original = target.read_bytes()

    def broken_write(fd, data):
        os.write(fd, data[:7])
        os.close(fd)
        raise failure

    monkeypatch.setattr(image_io, "_write_durably", broken_write)
    expected = OutputError if isinstance(failure, OSError) else KeyboardInterrupt
    with pytest.raises(expected) as error:
        save_image(torch.ones(3, 4, 4), target, overwrite=True)
    if expected is OutputError:  # a full disk is named as such, TIFF included
        assert str(error.value) == (f"cannot write '{target}': no space left on the device "
                                    "(the disk or the quota is full)")
    assert target.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_saved_file_has_normal_permissions(tmp_path):
    path = save_image(torch.zeros(3, 2, 2), tmp_path / "out.png")
    assert path.stat().st_mode & 0o044 == 0o044 or os.name == "nt"


def test_png_metadata_round_trip(tmp_path):
    metadata = {"painterly": '{"style_weight": 1000000.0, "size": 512}',
                "Software": "painterly 0.1.0", "Title": "Ünïcödé ✓"}
    path = save_image(torch.rand(3, 4, 4), tmp_path / "out.png", metadata=metadata)
    assert read_png_metadata(path) == metadata
    assert read_png_metadata(save_image(torch.rand(3, 4, 4), tmp_path / "bare.png")) == {}
    save_image(torch.rand(3, 4, 4), tmp_path / "out.jpg")
    with pytest.raises(ImageError, match="not a PNG"):
        read_png_metadata(tmp_path / "out.jpg")


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".tif", ".webp"])
def test_other_formats_store_metadata_as_exif(tmp_path, suffix):
    if suffix == ".webp" and not features.check("webp"):
        pytest.skip("Pillow built without WebP")
    metadata = {"painterly": '{"size": 64}', "Software": "painterly 0.1.0"}
    path = save_image(torch.rand(3, 8, 8), tmp_path / f"out{suffix}", metadata=metadata)
    with Image.open(path) as image:
        exif = image.getexif()
        assert exif[0x0131] == "painterly 0.1.0"
        assert '"painterly"' in exif[0x010E]
    assert load_image(path).shape == (1, 3, 8, 8)


def test_webp_unavailable_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(image_io.features, "check", lambda name: False)
    with pytest.raises(OutputError, match="WebP"):
        check_output_path(tmp_path / "out.webp", overwrite=False)
