"""painterly against a plain PyTorch reference and pastiche, on the same inputs.

    python benchmarks/speed.py --reduced     # a few minutes; pastiche's long run extrapolated
    python benchmarks/speed.py               # the full run (pastiche's 1000 steps, ~20+ min)

What it measures (the bundled photo of a cat and The Starry Night, long edge = size, aspect kept):

1. **Per-iteration time** at each size (``--sizes``, default 256 and 512): one L-BFGS step
   (forward, backward, update) of

   * painterly as it runs by default (bf16 network and Gram products, channels_last, fp32
     Gram matrices and losses on CPUs with native bf16; fp32 elsewhere), built from
     painterly's own functions;
   * painterly in fp32 (channels_last), to separate the precision's effect from the layout's;
   * ``reference.py``: the same objective written the PyTorch tutorial's way, fp32 NCHW;
   * ``pastiche`` (its CLI, its defaults), time per step read from its per-step log, so that
     start-up is excluded without a second run.

   In-process contenders report the median of ``--repeat`` steps after ``--warmup`` steps,
   and of the forward + backward pass inside each ("fwd+bwd": the step without L-BFGS's
   update, whose cost grows with its history, up to 50 pairs); pastiche the mean over its
   steps after the warm-up (its log has 0.1 s resolution; its L-BFGS keeps 100 pairs).
   Every contender runs alone in its own process; "peak MB" is that whole process's peak
   resident memory (Python and torch included; the baseline of ``import torch`` is printed).
   "x painterly" is how many times longer a step takes than painterly's default.

2. **Time to quality** at ``--quality-size`` (512): wall time of painterly's default run
   (``painterly.stylize`` with ``StyleConfig()``: 128 -> 256 -> 512 px, 80/60/40 steps)
   and of pastiche's default run (1000 steps), each a whole process (start-up, model load and
   saving included). Both final images, and the photo both start from, are scored by one
   function, ``painterly.pipeline.evaluate`` (painterly's objective in fp32, default layers
   and weights, the same targets): lower is better. With ``--reduced`` pastiche runs
   ``--pastiche-steps`` (60) steps; its wall time is extrapolated linearly to 1000 steps and
   labelled so, and its score is that of the shorter run. A side-by-side PNG goes to ``--out``.

Timings are only comparable on a quiet machine: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PASTICHE_DEFAULT_STEPS = 1000
FULL = {"repeat": 20, "warmup": 50, "pastiche_steps": PASTICHE_DEFAULT_STEPS, "pastiche_timing_steps": 100}
REDUCED = {"repeat": 5, "warmup": 2, "pastiche_steps": 60, "pastiche_timing_steps": 20}
PASTICHE = "pastiche (CLI defaults)"
CONTENDERS = (  # (label, worker arguments); pastiche is run by its CLI
    ("painterly (default)", {"contender": "painterly", "precision": "auto"}),
    ("painterly fp32", {"contender": "painterly", "precision": "fp32"}),
    ("reference fp32 NCHW", {"contender": "reference"}),
)


# ----------------------------------------------------------------------------- processes

@dataclass
class Process:
    """A finished child process: its output, wall time and peak resident memory."""

    stdout: str
    stderr: str
    wall: float
    peak_mb: float


def run_process(cmd: list[str]) -> Process:
    """Run ``cmd`` alone; ``os.wait4`` gives this child's own peak RSS (Linux: KiB)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=tempfile.gettempdir())
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        result = Process(out.read(), err.read(), wall, usage.ru_maxrss / 1024)
    if proc.returncode != 0:
        sys.exit(f"benchmark step failed ({' '.join(cmd[:4])} ...):\n{result.stderr[-3000:]}")
    return result


def run_worker(task: str, payload: dict) -> tuple[dict, Process]:
    proc = run_process([sys.executable, str(HERE / "workers.py"), task, json.dumps(payload)])
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):]), proc


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ pastiche

@dataclass
class PasticheRun:
    steps: int
    hw: tuple[int, int]
    s_per_iter: float
    startup: float  # its own clock at step 0: imports, weights, targets
    process: Process
    output: Path


def run_pastiche(settings, size: int, steps: int) -> PasticheRun:
    """pastiche's CLI with its defaults, logging every step; the painting at the photo's size."""
    output = settings.out / f"pastiche_{size}px_{steps}steps.png"
    cmd = [sys.executable, "-m", "pastiche", "--content", str(settings.content),
           "--styles", str(settings.style), "--output", str(output), "--size", str(size),
           "--style-size", str(size), "--device", "cpu", "--num-steps", str(steps),
           "--seed", "0", "--info-step", "1"]
    log(f"  pastiche, {size} px, {steps} steps")
    proc = run_process(cmd)
    elapsed = {int(m[1]): float(m[2]) for m in re.finditer(r"^(\d+)\s+([\d.]+)\s+\S+$", proc.stdout, re.M)}
    width, height = map(int, re.search(r"^size: (\d+)x(\d+)$", proc.stdout, re.M).groups())
    first = min(settings.warmup, steps - 1)
    s_per_iter = (elapsed[steps] - elapsed[first]) / (steps - first)
    return PasticheRun(steps, (height, width), s_per_iter, elapsed[0], proc, output)


# ------------------------------------------------------------------------- measurements

@dataclass
class Row:
    label: str
    size: int
    hw: tuple[int, int]
    s_per_iter: float
    peak_mb: float
    s_per_pass: float | None = None  # forward + backward alone
    note: str = ""


def per_iteration(settings, pastiche_runs: dict[int, PasticheRun]) -> tuple[list[Row], dict]:
    rows, info = [], {}
    for size in settings.sizes:
        for label, args in CONTENDERS:
            log(f"  {label}, {size} px, {settings.warmup} + {settings.repeat} steps")
            payload = {**args, "size": size, "content": str(settings.content), "style": str(settings.style),
                       "warmup": settings.warmup, "repeat": settings.repeat}
            result, proc = run_worker("steps", payload)
            info.setdefault(label, result["runtime"])
            info["threads"] = result["threads"]
            rows.append(Row(label, size, tuple(result["hw"]), result["s_per_iter"], proc.peak_mb,
                            result["s_per_pass"]))
        steps = settings.pastiche_steps if size == settings.quality_size else settings.pastiche_timing_steps
        run = pastiche_runs[size] = run_pastiche(settings, size, steps)
        first = min(settings.warmup, steps - 1)
        rows.append(Row(PASTICHE, size, run.hw, run.s_per_iter, run.process.peak_mb,
                        note=f"mean of steps {first + 1}-{steps}"))
    return rows, info


def time_to_quality(settings, pastiche_runs: dict[int, PasticheRun]) -> dict:
    size = settings.quality_size
    log(f"  painterly default run, {size} px")
    output = settings.out / f"painterly_{size}px_default.png"
    painted, painterly_proc = run_worker("stylize", {"size": size, "content": str(settings.content),
                                                     "style": str(settings.style), "output": str(output)})
    if size not in pastiche_runs:
        pastiche_runs[size] = run_pastiche(settings, size, settings.pastiche_steps)
    past = pastiche_runs[size]
    log("  scoring both results with painterly's fp32 objective")
    scored, _ = run_worker("evaluate", {
        "size": size, "content": str(settings.content), "style": str(settings.style),
        "photo_output": str(settings.out / f"photo_{size}px.png"),
        "images": {"painterly": str(output), "pastiche": str(past.output)},
        "captions": {"photo": "photo (start)", "painterly": "painterly default",
                     "pastiche": f"pastiche, {past.steps} steps"},
        "side_by_side": str(settings.out / "side_by_side.png")})
    missing = PASTICHE_DEFAULT_STEPS - past.steps
    return {"painted": painted, "painterly_wall": painterly_proc.wall, "pastiche": past,
            "pastiche_wall": past.process.wall + max(0, missing) * past.s_per_iter,
            "extrapolated": missing > 0, **scored}


# ----------------------------------------------------------------------------- printing

def print_header(settings, load_before: str) -> None:
    mode = "REDUCED (pastiche's long run extrapolated)" if settings.reduced else "full"
    print(f"painterly speed benchmark, {mode}")
    print(f"cpu: {_cpu_model()}, {os.cpu_count()} logical cores; load average before: {load_before}")
    print(f"content: {settings.content.name}, style: {settings.style.name}; results in {settings.out}")


def print_per_iteration(rows: list[Row], info: dict, settings) -> None:
    print(f"\nPer-iteration time, torch threads: {info.get('threads')}")
    print("s/iter: one L-BFGS step (forward, backward, update); fwd+bwd: the objective and its "
          "gradient alone")
    print(f"in-process contenders: medians of {settings.repeat} steps after {settings.warmup} warm-up steps")
    if settings.warmup < 50:
        print(f"  (L-BFGS history {settings.warmup}-{settings.warmup + settings.repeat} of 50 while timed: "
              "steady-state updates cost more; the full run warms up 50 steps)")
    for label, _ in CONTENDERS:
        print(f"  {label}: {info[label]}")
    print(f"\n{'contender':<26}{'size HxW':>10}{'s/iter':>9}{'fwd+bwd':>9}{'peak MB':>9}"
          f"{'x painterly':>13}  note")
    for row in rows:
        base = next(r for r in rows if r.size == row.size and r.label == CONTENDERS[0][0])
        hw = f"{row.hw[0]}x{row.hw[1]}"
        fwd_bwd = "-" if row.s_per_pass is None else f"{row.s_per_pass:.3f}"
        print(f"{row.label:<26}{hw:>10}{row.s_per_iter:>9.3f}{fwd_bwd:>9}{row.peak_mb:>9.0f}"
              f"{row.s_per_iter / base.s_per_iter:>13.2f}  {row.note}")
    print(f"(peak MB: whole process; python + import torch alone: {settings.baseline_mb:.0f} MB)")


def print_quality(q: dict, settings) -> None:
    past, painted = q["pastiche"], q["painted"]
    size, scores = settings.quality_size, q["scores"]
    print(f"\nTime to quality at {size} px (whole processes: start-up, model load, run, save)")
    print("scores: painterly's objective in fp32 (pipeline.evaluate), same targets; lower is better")
    pastiche_label = f"pastiche, {PASTICHE_DEFAULT_STEPS} steps"
    if q["extrapolated"]:
        pastiche_label += f" (EXTRAPOLATED from {past.steps})"
    rows = [("photo (start of both runs)", None, "photo"),
            ("painterly default", q["painterly_wall"], "painterly"),
            (pastiche_label, q["pastiche_wall"], "pastiche")]
    print(f"{'run':<44}{'wall s':>8}{'content':>9}{'style':>9}{'tv':>9}{'total':>9}")
    for label, wall, key in rows:
        s = scores[key]
        wall_text = "-" if wall is None else f"{wall:.1f}"
        print(f"{label:<44}{wall_text:>8}{s['content']:>9.3f}{s['style']:>9.3f}{s['tv']:>9.3f}{s['total']:>9.3f}")
    if q["extrapolated"]:
        print(f"  pastiche's scores are those of its {past.steps}-step image, not of a "
              f"{PASTICHE_DEFAULT_STEPS}-step run: compare quality only in the full run")
    stages = ", ".join(f"{e} px x {n}: {t:.1f} s ({t / n:.3f} s/step)" for e, n, t in painted["stages"])
    startup = q["painterly_wall"] - sum(t for *_, t in painted["stages"])
    print(f"  painterly's run: {stages}; start-up, targets and saving {startup:.1f} s")
    print(f"  pastiche's run: start-up {past.startup:.1f} s, then {past.s_per_iter:.3f} s/step "
          f"({past.steps} steps run); sizes: painterly {_hw(painted['hw'])}, pastiche {_hw(past.hw)}")
    print(f"  wall time, pastiche / painterly: {q['pastiche_wall'] / q['painterly_wall']:.1f}x")
    print("  note: pastiche optimises its own objective (max pooling, no TV, other layer weights);")
    print("  painterly's objective scores what painterly optimises, so look at the images too:")
    print(f"  {settings.out / 'side_by_side.png'}")


def print_targets(rows: list[Row], q: dict, settings) -> None:
    at = {(r.label, r.size): r for r in rows}
    size = settings.quality_size
    print("\nTargets (reported, not asserted; meaningful on a quiet machine only)")
    own = at.get((CONTENDERS[0][0], size))
    past = at.get((PASTICHE, size))
    if own is not None:
        _target(f"painterly fwd+bwd at {size} px", f"{own.s_per_pass:.3f} s", "<= 0.25 s", own.s_per_pass <= 0.25)
    if own is not None and past is not None:
        ratio = past.s_per_iter / own.s_per_iter
        _target(f"pastiche / painterly per step at {size} px", f"{ratio:.1f}x", ">= 8x", ratio >= 8)
    wall = q["painterly_wall"]
    _target(f"painterly default run at {size} px", f"{wall:.1f} s", "<= 60 s", wall <= 60)
    ours, theirs = q["scores"]["painterly"]["total"], q["scores"]["pastiche"]["total"]
    note = " (pastiche run shortened: not comparable)" if q["extrapolated"] else ""
    _target("final objective, painterly vs pastiche", f"{ours:.3f} vs {theirs:.3f}",
            "painterly <= pastiche", ours <= theirs, note)


def _target(what: str, value: str, target: str, met: bool, note: str = "") -> None:
    print(f"  {what:<42}{value:>18}   target {target:<22}{'met' if met else 'MISSED'}{note}")


def _hw(hw) -> str:
    return f"{hw[0]}x{hw[1]}"


def _cpu_model() -> str:
    from painterly.cpuinfo import cpu_model  # torch-free

    return cpu_model() or "unknown cpu"


def _load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


# ---------------------------------------------------------------------------------- main

def _bundled(kind: str, name: str) -> Path:
    spec = importlib.util.find_spec("painterly")  # located, not imported: this process stays light
    return Path(spec.submodule_search_locations[0]) / "data" / kind / name


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reduced", action="store_true",
                        help="a few minutes: fewer timed steps, pastiche's long run shortened and extrapolated")
    parser.add_argument("--sizes", default="256,512", help="long edges for the per-iteration table")
    parser.add_argument("--quality-size", type=int, default=512, help="long edge of the time-to-quality runs")
    parser.add_argument("--repeat", type=int, help="timed steps per in-process contender (full 20, reduced 5)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (full 50 = a full L-BFGS history, reduced 2)")
    parser.add_argument("--pastiche-steps", type=int,
                        help=f"pastiche's time-to-quality run (full {PASTICHE_DEFAULT_STEPS}, reduced 60)")
    parser.add_argument("--pastiche-timing-steps", type=int,
                        help="pastiche's steps at the other sizes (full 100, reduced 20)")
    parser.add_argument("--content", type=Path, default=_bundled("content", "chelsea_cat.png"))
    parser.add_argument("--style", type=Path, default=_bundled("style", "starry_night.jpg"))
    parser.add_argument("--out", type=Path, help="folder for the images (default: a new temporary folder)")
    args = parser.parse_args(argv)
    for key, value in (REDUCED if args.reduced else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if min(args.pastiche_steps, args.pastiche_timing_steps) < 2 or min(args.repeat, args.warmup + 1) < 1:
        parser.error("need --repeat >= 1, --warmup >= 0 and pastiche steps >= 2")
    args.out = args.out or Path(tempfile.mkdtemp(prefix="painterly-bench-"))
    args.out.mkdir(parents=True, exist_ok=True)
    args.content, args.style = args.content.resolve(), args.style.resolve()
    return args


def main(argv=None) -> None:
    settings = parse_args(argv)
    load_before = _load_average()
    log(f"writing images to {settings.out}")
    settings.baseline_mb = run_process([sys.executable, "-c", "import torch"]).peak_mb
    pastiche_runs: dict[int, PasticheRun] = {}
    log("per-iteration time:")
    rows, info = per_iteration(settings, pastiche_runs)
    log("time to quality:")
    quality = time_to_quality(settings, pastiche_runs)
    print_header(settings, load_before)
    print_per_iteration(rows, info, settings)
    print_quality(quality, settings)
    print_targets(rows, quality, settings)
    print(f"\nload average after: {_load_average()}")


if __name__ == "__main__":
    main()
