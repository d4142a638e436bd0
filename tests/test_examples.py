"""Bundled pictures by name (``painterly examples``) and the ``--threads`` option."""

from __future__ import annotations

import json

import click
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import painterly
from painterly import cli, image_io
from painterly.cli import common
from painterly.examples import example_path, examples, find_example, input_image, resolve_image


def run(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], prog_name="painterly")


def test_every_bundled_picture_has_a_name():
    found = {e.name: e for e in examples()}
    assert {"chelsea_cat", "coffee", "starry_night", "great_wave", "chelsea_cat_labels"} <= set(found)
    assert found["chelsea_cat"].kind == "photo" and found["starry_night"].kind == "painting"
    assert found["chelsea_cat_mask"].kind == "mask"
    assert all(e.path.is_file() and e.path.suffix != ".md" for e in found.values())
    assert find_example("starry_night.jpg") == find_example("starry_night")
    assert find_example("nope") is None
    with pytest.raises(ValueError, match="no bundled image 'nope'; bundled examples: .*coffee"):
        example_path("nope")


def test_image_error_is_exported():
    assert painterly.ImageError is image_io.ImageError and "ImageError" in painterly.__all__
    assert issubclass(image_io.OutputError, painterly.ImageError)


def test_a_file_always_wins_over_a_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_image("chelsea_cat") == str(example_path("chelsea_cat"))
    for name in ("chelsea_cat", "starry_night.jpg"):
        (tmp_path / name).mkdir()  # anything there, even a folder, is the user's
        assert resolve_image(name) == name == input_image(name)
    with pytest.raises(image_io.ImageError, match=r"cannot read 'cat\.png': no such file; "
                                                  r"bundled examples: astronaut, chelsea_cat"):
        input_image("cat.png")


def test_examples_command_lists_the_names():
    result = run("examples")
    assert result.exit_code == 0
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert ["chelsea_cat", "photo"] in rows and ["starry_night", "painting"] in rows
    paths = run("examples", "--paths").stdout
    assert str(example_path("great_wave")) in paths


@pytest.fixture
def fake_stylize(monkeypatch):
    calls = []

    def fake(content, style, config, *, callback=None, extractor=None, **kwargs):
        calls.append((content, style, kwargs))
        return Image.new("RGB", (30, 20), (128, 128, 128))
    monkeypatch.setattr(painterly.pipeline, "stylize", fake)
    return calls


def test_stylize_takes_bundled_names(tmp_path, fake_stylize):
    out = tmp_path / "out.png"
    result = run("stylize", "chelsea_cat", "starry_night:0.5", "great_wave.jpg", "-o", out,
                 "--labels", "chelsea_cat_labels", "--quiet")
    assert result.exit_code == 0, result.stderr
    content, styles, _ = fake_stylize[0]
    assert content == str(example_path("chelsea_cat"))
    assert styles == [(str(example_path("starry_night")), 0.5),
                      (str(example_path("great_wave")), 1.0)]
    record = json.loads(image_io.read_png_metadata(out)["painterly"])
    assert record["regions"]["labels"] == str(example_path("chelsea_cat_labels"))


def test_an_unknown_name_is_a_missing_file_with_the_names(tmp_path, fake_stylize):
    result = run("stylize", "chelsea_cat", "starry_nite", "-o", tmp_path / "out.png")
    assert result.exit_code == 2 and not fake_stylize
    assert result.stderr.strip().splitlines() == [
        "painterly: error: cannot read 'starry_nite': no such file; bundled examples: "
        + ", ".join(e.name for e in examples()) + " (`painterly examples` lists them)"]


def test_fast_and_explore_take_bundled_names(tmp_path):
    out = tmp_path / "fast.png"
    result = run("fast", "coffee", "--style", "starry_night", "--size", "32", "-o", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    record = json.loads(image_io.read_png_metadata(out)["painterly"])
    assert record["content"] == str(example_path("coffee"))
    result = run("explore", "activations", "nope", "-o", tmp_path / "maps.png")
    assert result.exit_code == 2 and "cannot read 'nope': no such file; bundled" in result.stderr


# ------------------------------------------------------------------------------ threads

@pytest.fixture
def keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_threads_option_sets_torch_threads(tmp_path, keep_threads):
    for command in ("stylize", "demo", "fast", "train", "studio"):
        assert "--threads N" in run(command, "--help").stdout, command
    assert "--threads N" in run("explore", "neurons", "--help").stdout
    result = run("fast", "coffee", "--style", "starry_night", "--size", "32",
                 "-o", tmp_path / "a.png", "--quiet", "--threads", "1")
    assert result.exit_code == 0 and torch.get_num_threads() == 1
    assert run("stylize", "--threads", "-1", "a", "b", "-o", "c.png").exit_code == 2


def test_automatic_threads_count_idle_cores(monkeypatch, keep_threads):
    common.auto_threads.cache_clear()
    monkeypatch.setattr(common, "torch_default_threads", lambda: 4)
    samples = iter([{"cpu0": (0, 0), "cpu1": (0, 0), "cpu9": (0, 0)},
                    {"cpu0": (10, 10), "cpu1": (0, 10), "cpu9": (10, 10)}])  # cpu9 not ours
    monkeypatch.setattr(common, "_cpu_times", lambda: next(samples))
    monkeypatch.setattr(common.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(common.time, "sleep", lambda seconds: None)
    assert common.auto_threads() == 1  # one of our two cores was busy
    common.auto_threads.cache_clear()
    monkeypatch.setattr(common, "_cpu_times", lambda: (_ for _ in ()).throw(OSError("no /proc")))
    assert common.auto_threads() == 4  # cannot tell: torch's default
    common.auto_threads.cache_clear()


def test_a_long_run_with_automatic_threads_follows_the_cores_left_free(monkeypatch, keep_threads):
    """Every minute: the cores idle since the last look plus those this process used."""
    clock = {"wall": 0.0, "mine": 0.0, "cpu0": (0.0, 0.0), "cpu1": (0.0, 0.0)}
    monkeypatch.setattr(common, "torch_default_threads", lambda: 4)
    monkeypatch.setattr(common.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(common.time, "monotonic", lambda: clock["wall"])
    monkeypatch.setattr(common.time, "process_time", lambda: clock["mine"])
    monkeypatch.setattr(common, "_cpu_times", lambda: {"cpu0": clock["cpu0"], "cpu1": clock["cpu1"]})

    def elapse(seconds: float, mine: float, idle: tuple[float, float]):
        """seconds pass; this process uses ``mine`` cores; each CPU is idle that fraction."""
        clock["wall"] += seconds
        clock["mine"] += mine * seconds
        for cpu, fraction in zip(("cpu0", "cpu1"), idle):
            clock[cpu] = (clock[cpu][0] + fraction * seconds, clock[cpu][1] + seconds)

    torch.set_num_threads(1)  # another job had a core at start-up
    def retuner(automatic: bool) -> common.ThreadRetuner:
        ctx = click.Context(click.Command("train"))
        ctx.meta[common.THREADS_AUTO] = automatic
        return common.ThreadRetuner(ctx)

    retune, fixed = retuner(True), retuner(False)
    elapse(10, mine=1.0, idle=(0, 0))
    retune()  # too soon to look again
    assert torch.get_num_threads() == 1
    elapse(50, mine=1.0, idle=(0, 1))  # the other job ended: one core ours, one idle
    retune()
    assert torch.get_num_threads() == 2
    fixed()
    elapse(60, mine=1.2, idle=(0, 0))  # another job took a core: ours were shared
    retune()
    assert torch.get_num_threads() == 1
    torch.set_num_threads(3)
    elapse(60, mine=0.0, idle=(1, 1))
    fixed()  # --threads N given: left alone
    assert torch.get_num_threads() == 3
