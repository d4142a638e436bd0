"""A clip cut into segments painted at once: the cut, the crossfade, equality with one pass,
resume, failures, and ``painterly video --workers``."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("av")
pytest.importorskip("cv2")

from painterly.batch import local_backend  # noqa: E402
from painterly.video import VideoError, paint_clip, probe  # noqa: E402
from painterly.video.segments import (Segment, assembled_frames, load_or_plan,  # noqa: E402
                                     plan_segments, saved_frame)
from painterly.video.workfolder import frame_path, save_frame  # noqa: E402
from test_video import decoded, make_clip, run  # noqa: E402


def invert(frame, previous_frame, previous_painted):
    """A video engine with no memory: each frame's painting depends on that frame alone."""
    return 255 - frame


def hold_first(frame, previous_frame, previous_painted):
    """A video engine all memory: every frame repeats the segment's first painted frame."""
    return frame if previous_painted is None else previous_painted


def frames_of(path):
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24").astype(int) for f in container.decode(video=0)]


def test_the_cut_owns_every_frame_once_and_leads_in_by_the_overlap():
    plan = plan_segments(100, 4, 8)
    assert [(s.first, s.start, s.stop) for s in plan] == [(0, 0, 25), (17, 25, 50),
                                                          (42, 50, 75), (67, 75, 100)]
    owned = [i for s in plan for i in range(s.start, s.stop)]
    assert owned == list(range(100))
    assert plan_segments(10, 4, 8) == [Segment(0, 0, 0, 10)]  # too short to cut
    assert len(plan_segments(17, 4, 8)) == 2
    assert plan_segments(5, 3, 0) == [Segment(0, 0, 0, 2), Segment(1, 2, 2, 3), Segment(2, 3, 3, 5)]
    with pytest.raises(ValueError):
        plan_segments(0, 1, 8)


def test_a_rerun_keeps_the_first_runs_cut(tmp_path):
    first = load_or_plan(tmp_path, 40, 2, 4)
    assert load_or_plan(tmp_path, 40, 5, 4) == first  # another number of workers
    assert len(load_or_plan(tmp_path, 60, 5, 4)) == 5  # another clip: a new cut


def test_the_crossfade_mixes_the_lead_in_linearly(tmp_path):
    plan = plan_segments(8, 2, 2)  # owns 0-3 and 4-7; the second paints 2-7
    for segment, value in zip(plan, (0, 90)):
        (tmp_path / segment.key).mkdir()
        for index in range(segment.frames):
            save_frame(frame_path(tmp_path / segment.key, index), np.full((2, 2, 3), value, np.uint8))
    values = [int(frame[0, 0, 0]) for frame in assembled_frames(plan, saved_frame(tmp_path))]
    assert values == [0, 0, 30, 60, 90, 90, 90, 90]


def test_segments_give_what_one_pass_gives_to_an_engine_without_memory(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=12)
    info = probe(clip)
    paint_clip(info, tmp_path / "one.mp4", invert)
    paint_clip(info, tmp_path / "three.mp4", invert, segments=3, overlap=2, backend=local_backend)
    one, three = frames_of(tmp_path / "one.mp4"), frames_of(tmp_path / "three.mp4")
    assert len(one) == len(three) == 12
    assert max(np.abs(a - b).max() for a, b in zip(one, three)) <= 2  # the encoder's rounding


def test_each_segment_starts_afresh_and_fades_into_the_next(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=12)
    out = tmp_path / "out.mp4"
    paint_clip(probe(clip), out, hold_first, segments=2, overlap=2, backend=local_backend)
    frames = frames_of(out)
    source = frames_of(clip)
    # the second segment's painting is its first frame (frame 4): held from frame 6 on
    assert np.abs(frames[11] - source[4]).mean() < 3
    assert np.abs(frames[3] - source[0]).mean() < 3
    assert np.abs(frames[11] - frames[3]).mean() > 10  # the bar moved: two different holds


def test_an_interrupted_cut_resumes_where_each_segment_stopped(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=12)
    info, out, work = probe(clip), tmp_path / "out.mp4", tmp_path / "work"
    calls, stop_at = [], [5]

    def engine(frame, previous, painted):
        calls.append(painted is not None)
        if len(calls) in stop_at:
            raise KeyboardInterrupt
        return 255 - frame

    with pytest.raises(KeyboardInterrupt):
        paint_clip(info, out, engine, work=work, segments=2, overlap=2)
    assert not out.exists() and len(list(work.glob("*/frame_*.png"))) == 4
    calls.clear()
    stop_at.clear()
    paint_clip(info, out, engine, work=work, segments=5, overlap=2)  # the cut of the first run
    assert len(calls) == 12 + 2 - 4  # every frame once, the lead-in too, nothing twice
    assert decoded(out)[0] == 12 and not work.exists()


def test_a_failed_segment_is_one_line_and_keeps_what_was_painted(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=12)
    work, out = tmp_path / "work", tmp_path / "out.mp4"

    def engine(frame, previous, painted):
        if painted is not None:
            raise ValueError("no paint left")
        return 255 - frame

    with pytest.raises(VideoError, match=r"^2 of 2 segments failed .*: no paint left$"):
        paint_clip(probe(clip), out, engine, work=work, segments=2, overlap=2,
                   backend=local_backend)
    assert not out.exists()
    assert len(list(work.glob("*/frame_*.png"))) == 2  # each segment's first frame is kept


def test_cli_workers_paint_the_clip_in_processes(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=20, audio=True)
    out = tmp_path / "out.mp4"
    result = run("video", clip, "-o", out, "--style", "starry_night", "--size", "32",
                 "--workers", "2")
    assert result.exit_code == 0, result.output
    count, size, audio, seconds = decoded(out)
    assert (count, size, audio) == (20, (32, 24), True)
    result = run("video", clip, "-o", tmp_path / "x.mp4", "--style", "starry_night",
                 "--segments", "3")
    assert result.exit_code == 2 and "--segments needs --workers or --ray" in result.output
