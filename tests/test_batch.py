"""``painterly batch`` here and in local processes: names, the record, resume, retries,
manifests, a broken file, exit codes and one-line refusals."""

from __future__ import annotations

import json

import pytest
from synthetic import photo_folder
from click.testing import CliRunner
from PIL import Image

from painterly import batch, cli
from painterly.fast import FastStyles, save_styles
from test_fast import tiny_net


def run(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], prog_name="painterly")


@pytest.fixture
def style(tmp_path):
    return f"{save_styles(FastStyles(tiny_net(), ['a', 'b'], {}), tmp_path / 'tiny')}/a"


@pytest.fixture
def photos(tmp_path):
    return photo_folder(tmp_path, 3)


def record(out):
    return [json.loads(line) for line in (out / batch.RECORD_NAME).read_text().splitlines()]


def test_a_broken_file_is_recorded_and_the_batch_goes_on(photos, style, tmp_path):
    out = tmp_path / "out"
    result = run("batch", photos, "--style", style, "--size", 32, "-o", out, "--quiet")
    assert result.exit_code == 1, result.output
    assert sorted(p.name for p in out.glob("*.png")) == ["p0.a.png", "p1.a.png", "p2.a.png"]
    failed = [e for e in record(out) if e["status"] == "failed"]
    assert [e["key"] for e in failed] == ["broken.a.png"] and "broken.png" in failed[0]["error"]
    assert Image.open(out / "p0.a.png").size == (32, 24)
    painted = json.loads(Image.open(out / "p0.a.png").text["painterly"])
    assert painted["network"] == str((tmp_path / "tiny").resolve()) and painted["styles"] == [style]


def test_the_header_says_a_fast_batch_paints_wholly_in_bf16(photos, style, tmp_path):
    result = run("batch", photos, "--style", style, "--size", 32, "-o", tmp_path / "out",
                 "--precision", "bf16")
    assert "on cpu, bf16 network, channels_last" in result.output  # no "fp32 losses"


def test_a_rerun_skips_what_is_done_and_retries_failures_only_when_asked(photos, style, tmp_path):
    out = tmp_path / "out"
    run("batch", photos, "--style", style, "--size", 32, "-o", out, "--quiet")
    again = run("batch", photos, "--style", style, "--size", 32, "-o", out)
    assert again.exit_code == 1 and "0 painted" in again.output and "3 done before" in again.output
    assert len(record(out)) == 4
    (photos / "broken.png").unlink()
    Image.new("RGB", (32, 24), "red").save(photos / "broken.png")
    fixed = run("batch", photos, "--style", style, "--size", 32, "-o", out, "--retry-failed")
    assert fixed.exit_code == 0, fixed.output
    assert (out / "broken.a.png").exists() and record(out)[-1]["status"] == "done"


def test_an_output_written_before_a_stop_without_its_record_line_is_kept(photos, style, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    Image.new("RGB", (4, 4)).save(out / "p0.a.png")
    (out / batch.RECORD_NAME).write_text('{"key": "p1.a.png", "sta')  # a torn line
    run("batch", photos, "--style", style, "--size", 32, "-o", out, "--quiet")
    assert Image.open(out / "p0.a.png").size == (4, 4)
    assert set(batch.read_record(out / batch.RECORD_NAME)) == {"p1.a.png", "p2.a.png", "broken.a.png"}


def test_a_manifest_gives_each_photo_its_style_options_and_name(photos, style, tmp_path):
    manifest = tmp_path / "list.csv"
    manifest.write_text(f"photo,style,size,output\nphotos/p0.png,{style},16,first.png\n"
                        f"photos/p1.png,{style},,\n")
    out = tmp_path / "out"
    result = run("batch", manifest, "-o", out, "--size", 32, "--quiet")
    assert result.exit_code == 0, result.output
    assert Image.open(out / "first.png").size == (16, 12)
    assert Image.open(out / "p1.a.png").size == (32, 24)


@pytest.mark.parametrize("row, message", [
    ("photo,style,sise\nphotos/p0.png,{style},16\n", "unknown option 'sise'"),
    ("photo,style,size\nphotos/p0.png,{style},big\n", "size must be int"),
    ("style\n{style}\n", "'photo' column"),
])
def test_a_bad_manifest_is_refused_before_work(photos, style, tmp_path, row, message):
    manifest = tmp_path / "list.csv"
    manifest.write_text(row.format(style=style))
    result = run("batch", manifest, "-o", tmp_path / "out")
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "out" / batch.RECORD_NAME).exists()


def test_refusals_name_the_culprit(photos, style, tmp_path):
    assert "no pictures match" in run("batch", tmp_path / "*.jpg", "-s", style, "-o", tmp_path / "o").output
    clash = tmp_path / "other"
    clash.mkdir()
    Image.new("RGB", (8, 8)).save(clash / "p0.png")
    result = run("batch", photos, clash, "-s", style, "-o", tmp_path / "o")
    assert result.exit_code == 2 and "would both be written as 'p0.a.png'" in result.output


def test_workers_paint_in_processes_with_the_same_results(photos, style, tmp_path):
    out = tmp_path / "out"
    result = run("batch", photos, "--style", style, "--size", 32, "-o", out, "--workers", 2, "--quiet")
    assert result.exit_code == 1, result.output
    assert len(list(out.glob("*.png"))) == 3 and len(record(out)) == 4


def test_the_optimiser_engine(photos, tiny, tmp_path, monkeypatch):
    monkeypatch.setattr("painterly.pipeline.load_vgg19", lambda *args: tiny)
    out = tmp_path / "out"
    result = run("batch", photos / "p0.png", "--engine", "optimize", "--style", photos / "p1.png",
                 "--size", 32, "--iterations", 2, "--scales", 1, "--style-layers", "relu1_1", "--content-layers", "relu2_1",
                 "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert record(out)[0]["engine"] == "optimize" and (out / "p0.p1.png").exists()


def test_ray_without_ray_says_how_to_install(photos, style, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)
    result = run("batch", photos, "-s", style, "-o", tmp_path / "o", "--ray", "auto")
    assert result.exit_code == 2 and 'pip install "painterly[ray]"' in result.output


def test_each_worker_reuses_freed_memory_as_the_command_does(monkeypatch):
    import painterly.batch.local as local

    calls = []
    monkeypatch.setattr(local, "reuse_freed_memory", lambda: calls.append(True))
    monkeypatch.setattr(local.signal, "signal", lambda *args: None)  # leave this process's Ctrl-C
    monkeypatch.setattr(local, "_ENGINE", local._ENGINE)  # restored after the test
    local._start_worker("engine", local.torch.get_num_threads())
    assert calls == [True] and local._ENGINE == "engine"


def test_help_names_the_record_and_the_ray_extra_as_the_library_does():
    """The help spells both out (it imports no PyTorch); they must not drift apart."""
    from painterly.batch import cluster

    text = " ".join(run("batch", "--help").stdout.split())
    assert batch.RECORD_NAME in text and cluster.INSTALL_HINT in text
