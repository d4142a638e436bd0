"""painterly video: formats, timing, audio, rotation, resume, bad files, flicker measure."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import torch
from click.testing import CliRunner

av = pytest.importorskip("av")
pytest.importorskip("cv2")

from painterly import losses  # noqa: E402
from painterly.cli import cli  # noqa: E402
from painterly.config import StyleConfig  # noqa: E402
from painterly.video import (BlendingEngine, RuderEngine, paint_clip, probe,  # noqa: E402
                             read_frames, warping_error)
from painterly.video.clips import frame_size  # noqa: E402
from painterly.video.flow import pair_warping_error, warp  # noqa: E402
from painterly.video.temporal import to_tensor  # noqa: E402

RATE = 10
ENCODERS = {".mp4": ("mp4", "libx264", "yuv420p"), ".mov": ("mov", "libx264", "yuv420p"),
            ".webm": ("webm", "libvpx-vp9", "yuv420p"), ".gif": ("gif", "gif", "rgb8"),
            ".mjpeg.mov": ("mov", "mjpeg", "yuvj420p")}


def texture(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 7) % 256, (y * 5) % 256, ((x + y) * 3) % 256], -1).astype(np.uint8)


def make_clip(path, *, frames=8, size=(64, 48), audio=False, rotation=None, suffix=None):
    """A clip of a bar moving right (4 px a frame) over a gradient; audio: a 440 Hz tone."""
    fmt, codec, pix = ENCODERS[suffix or path.suffix]
    w, h = size
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=RATE)
        s.width, s.height, s.pix_fmt = w, h, pix
        if rotation is not None:
            s.set_display_rotation(rotation)
        if audio:
            a = c.add_stream("aac", rate=8000)
            a.layout = "mono"
        for i in range(frames):
            img = texture(h, w)
            img[:, (i * 4) % w:(i * 4) % w + 8] = 255
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, RATE)
            c.mux(s.encode(f))
        c.mux(s.encode(None))
        if audio:
            t = np.arange(8000 * frames // RATE) / 8000
            af = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None],
                                            format="flt", layout="mono")
            af.sample_rate, af.pts = 8000, 0
            c.mux(a.encode(af))
            c.mux(a.encode(None))
    return path


def decoded(path):
    """(frames decoded, displayed (width, height), has audio, seconds of video)."""
    info = probe(path)
    with av.open(str(path)) as c:
        count = sum(1 for _ in c.decode(video=0))
    return count, (info.width, info.height), info.audio, info.frames / float(info.rate)


def run(*args):
    return CliRunner().invoke(cli, [*map(str, args), "--quiet"])


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".mov", ".gif"])
def test_each_format_round_trip_keeps_frames_rate_and_duration(tmp_path, suffix):
    clip = make_clip(tmp_path / f"in{suffix}")
    out = tmp_path / f"out{suffix}"
    result = run("video", clip, "-o", out, "--style", "starry_night", "--size", "32")
    assert result.exit_code == 0, result.output
    count, size, _, seconds = decoded(out)
    assert count == 8 and probe(out).rate == RATE and seconds == pytest.approx(0.8, abs=0.02)
    assert size == (32, 24)
    assert not (tmp_path / f".out{suffix}.painterly-work").exists()  # removed once written


def test_the_device_line_names_what_paints_the_frames(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=2)
    result = CliRunner().invoke(cli, ["video", str(clip), "-o", str(tmp_path / "out.mp4"), "--style",
                                      "starry_night", "--size", "32", "--precision", "bf16"])
    assert result.exit_code == 0, result.output
    assert "frames/s on cpu, bf16 network, channels_last" in result.output  # a fast style: no fp32 losses


def test_the_work_folder_records_which_network_paints_the_frames(tmp_path):
    """A rerun resumes only frames of the same network: one that started on the shared
    bundled network does not carry on with a style's own."""
    clip = make_clip(tmp_path / "in.mp4", frames=2)
    result = run("video", clip, "-o", tmp_path / "out.mp4", "--style", "starry_night", "--size",
                 "32", "--keep-work")
    assert result.exit_code == 0, result.output
    settings = json.loads((tmp_path / ".out.mp4.painterly-work" / "settings.json").read_text())
    assert settings["network"] == "bundled/starry_night"


def test_audio_is_copied_and_trimmed_with_start_end(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=10, audio=True)
    for out, extra, frames in ((tmp_path / "a.mp4", (), 10), (tmp_path / "b.webm", ("--start", "0.2", "--end", "0.7"), 5)):
        result = run("video", clip, "-o", out, "--style", "the_scream", "--size", "32", *extra)
        assert result.exit_code == 0, result.output
        count, _, audio, _ = decoded(out)
        assert audio and count == frames


def test_rotation_is_kept_upright(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", rotation=-90)  # a phone clip held upright
    assert (probe(clip).width, probe(clip).height) == (48, 64)
    out = tmp_path / "out.mp4"
    assert run("video", clip, "-o", out, "--style", "starry_night", "--size", "32").exit_code == 0
    assert decoded(out)[1] == (24, 32)


def test_resume_paints_only_what_is_missing(tmp_path):
    clip = make_clip(tmp_path / "in.mp4")
    info, out, work = probe(clip), tmp_path / "out.mp4", tmp_path / "work"
    calls = []

    def engine(frame, previous, painted):
        calls.append(previous is not None and painted is not None)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return 255 - frame

    with pytest.raises(KeyboardInterrupt):
        paint_clip(info, out, engine, work=work, settings={"style": "x"})
    assert not out.exists() and len(list(work.glob("*/frame_*.png"))) == 3
    calls.clear()
    paint_clip(info, out, lambda f, p, q: calls.append(q is not None) or 255 - f, work=work,
               settings={"style": "x"})
    assert len(calls) == 5 and all(calls)  # frames 4..8, each with the previous painted frame
    assert decoded(out)[0] == 8 and not work.exists()
    with pytest.raises(ValueError, match="other settings"):
        work.mkdir()
        (work / "settings.json").write_text("{}")
        paint_clip(info, tmp_path / "again.mp4", engine, work=work, settings={"style": "y"})


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_bad_file_exits_2_with_one_line(tmp_path, damage):
    clip = make_clip(tmp_path / "in.mp4")
    data = clip.read_bytes()
    clip.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"not a video" * 50,
                      "empty": b""}[damage])
    out = tmp_path / "out.mp4"
    result = run("video", clip, "-o", out, "--style", "starry_night")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "in.mp4" in result.output
    assert not out.exists()


@pytest.mark.parametrize("name, cut", [("photo.jpg", False), ("cut.jpg", True), ("photo.png", False)])
def test_still_picture_is_refused_as_a_clip(tmp_path, name, cut):
    from PIL import Image

    picture = tmp_path / name
    Image.new("RGB", (64, 48), (200, 40, 40)).save(picture)
    if cut:
        picture.write_bytes(picture.read_bytes()[:300])
    out = tmp_path / "out.mp4"
    result = run("video", picture, "-o", out, "--style", "starry_night")
    assert result.exit_code == 2 and "still picture" in result.output
    assert result.output.count("\n") == 1 and not out.exists()


def test_broken_frame_in_the_middle_keeps_the_count_with_a_warning(tmp_path):
    clip = make_clip(tmp_path / "in.mov", suffix=".mjpeg.mov", frames=9)
    with av.open(str(clip)) as c:  # every frame a JPEG of its own: break the fifth
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    pos, size = packets[4]
    data = bytearray(clip.read_bytes())
    data[pos:pos + size] = bytes(size)
    clip.write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    result = run("video", clip, "-o", out, "--style", "starry_night", "--size", "32")
    assert result.exit_code == 0, result.output
    assert "frame 4" in result.output and "damaged" in result.output
    assert decoded(out)[0] == 9


def test_output_checked_before_work(tmp_path):
    clip = make_clip(tmp_path / "in.mp4")
    result = run("video", clip, "-o", tmp_path / "out.avi", "--style", "starry_night")
    assert result.exit_code == 2 and "not a video format" in result.output
    result = run("video", clip, "-o", clip, "--style", "starry_night", "--overwrite")
    assert result.exit_code == 2 and "input" in result.output


def test_without_the_extra_one_line_names_it(tmp_path):
    code = ("import sys; sys.modules['av'] = None; from painterly.cli import main; "
            f"sys.argv = ['painterly', 'video', {str(tmp_path / 'x.mp4')!r}, '-o', "
            f"{str(tmp_path / 'y.mp4')!r}, '--style', 'starry_night']; main()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2 and 'pip install "painterly[video]"' in done.stderr
    assert done.stderr.count("\n") == 1


def test_warping_error_of_an_exact_pan():
    base = texture(40, 80)
    frames = [np.ascontiguousarray(base[:, 3 * t:3 * t + 48]) for t in range(4)]
    flow = np.zeros((40, 48, 2), np.float32)
    flow[..., 0] = 3  # pixel x of frame t was at x + 3 in frame t - 1
    mask = np.ones((40, 48), np.float32)
    mask[:, -3:] = 0  # came in from outside the frame
    assert warping_error(frames, [flow] * 3, [mask] * 3) < 1e-10
    noisy = [np.clip(f.astype(int) + np.random.default_rng(t).integers(-20, 21, f.shape), 0, 255)
             .astype(np.uint8) for t, f in enumerate(frames)]
    assert warping_error(noisy, [flow] * 3, [mask] * 3) > 1e-3
    # warp moves the previous frame onto the current one exactly for whole-pixel shifts
    previous = to_tensor(frames[0])
    assert pair_warping_error(to_tensor(frames[1]), previous, flow, mask) < 1e-10
    assert torch.allclose(warp(previous, flow)[..., :-3], to_tensor(frames[1])[..., :-3], atol=1e-5)


def test_blending_engine_lowers_flicker_on_a_pan():
    base = texture(48, 96)
    frames = [np.ascontiguousarray(base[:, 2 * t:2 * t + 64]) for t in range(5)]
    rng = np.random.default_rng(0)
    flickery = lambda x: (x + torch.from_numpy(rng.uniform(-0.1, 0.1, (1, 1, 1, 1))).float()).clamp(0, 1)  # noqa: E731
    results = {}
    for blend in (0.0, 0.6):
        engine, painted, prev, prev_p = BlendingEngine(flickery, blend=blend), [], None, None
        for frame in frames:
            prev_p = engine(frame, prev, prev_p)
            prev = frame
            painted.append(prev_p)
        flow = np.zeros((48, 64, 2), np.float32)
        flow[..., 0] = 2
        mask = np.ones((48, 64), np.float32)
        mask[:, -2:] = 0
        results[blend] = warping_error(painted, [flow] * 4, [mask] * 4)
    assert results[0.6] < 0.5 * results[0.0]


def test_temporal_loss_values():
    x, target = torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1
    assert losses.temporal_loss(x, target, mask).item() == pytest.approx(0.5)
    assert losses.temporal_loss(x, x, torch.ones(1, 1, 4, 4)).item() == 0


def test_ruder_engine_on_the_tiny_network(tiny):
    frames = [np.ascontiguousarray(texture(32, 60)[:, 2 * t:2 * t + 40]) for t in range(3)]
    style = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    config = StyleConfig(size=40, iterations=3, scales=1, content_layers=("relu2_1",),
                         style_layers=("relu1_1", "relu2_1"), device="cpu", precision="fp32")
    seen = []
    engine = RuderEngine(style, config, temporal_weight=100, extractor=tiny,
                         callback=lambda p: seen.append(set(p.losses)))
    prev = prev_p = None
    for frame in frames:
        prev_p = engine(frame, prev, prev_p)
        prev = frame
        assert prev_p.shape == (32, 40, 3) and prev_p.dtype == np.uint8
    assert "temporal" not in seen[0] and "temporal" in seen[-1]


def test_frame_size_is_even_and_keeps_aspect(tmp_path):
    info = probe(make_clip(tmp_path / "in.mp4"))
    assert frame_size(info, 33) == (34, 24) or frame_size(info, 33)[0] % 2 == 0
    assert len(list(read_frames(info, (32, 24)))) == 8


def test_a_seek_that_lands_late_is_redone_from_the_start(tmp_path, monkeypatch):
    """FFmpeg's seek in MPEG program streams can land frames after --start: the frames read
    must still be the ones a read from the beginning gives."""
    from dataclasses import replace

    from painterly.video import clips

    info = probe(make_clip(tmp_path / "in.mp4", frames=12))
    whole = list(read_frames(info, (64, 48)))
    decoded_for_real = clips._decoded

    def landing_late(info, start, *, seek):
        frames = decoded_for_real(info, start, seek=seek)
        return (pair for pair in frames if seek == 0 or pair[0] >= 3)

    monkeypatch.setattr(clips, "_decoded", landing_late)
    part = list(read_frames(replace(info, frames=6), (64, 48), start=5 / RATE))
    assert len(part) == 6 and all((a == b).all() for a, b in zip(part, whole[5:11]))


def test_fast_engine_paints_paintings_for_video(monkeypatch):
    # Painting files are painted without the style swap, which doubled the flicker.
    import painterly.fast
    from painterly.video.temporal import EngineRecipe, _built

    options = []
    monkeypatch.setattr(painterly.fast, "make_painter",
                        lambda styles, **kwargs: options.append(kwargs) or (lambda frames: frames))
    _built.cache_clear()
    EngineRecipe("fast", ("painting.png",)).build()
    _built.cache_clear()
    assert options and options[0]["video"] is True
