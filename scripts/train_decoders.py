"""Train painterly's bundled VGG19 decoders (universal style transfer) from a photo folder.

    python scripts/gather_photos.py /tmp/photos
    python scripts/train_decoders.py /tmp/photos/train --work /tmp/decoders-work

Each layer's decoder is trained in turn and kept in WORK as it finishes; rerunning the same
command resumes (finished layers are skipped, the running one continues from its last
checkpoint). When all are done they are written, fp16, to src/painterly/data/decoders.
``--from-bundled`` starts WORK with the decoders painterly already bundles, so only the layers
they lack train.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

import torch

from painterly.fast.decoders import (DECODER_LAYERS, BUNDLED_DIR, Decoder, Decoders, load_decoders,
                                     save_decoders)
from painterly.fast.train import TrainingInterrupted
from painterly.fast.train_decoders import DecoderConfig, train_decoder

# Each layer's training settings (DecoderConfig). The deeper ones are what a two-core CPU trains
# in about two hours together. relu1_1's decoder is linear and solved by least squares: its
# "steps" are the batches of crops summed into the normal equations. relu4_1's starts from a
# copy of relu3_1's (the convolutions they share) and trains at Li et al.'s step size: at 1e-3
# it collapsed to one flat colour.
RECIPE = {"relu1_1": {"steps": 64},
          "relu2_1": {"steps": 800, "learning_rate": 2e-3},
          "relu3_1": {"steps": 1500, "learning_rate": 1e-3},
          "relu4_1": {"steps": 3000, "batch_size": 8, "learning_rate": 1e-4}}
WARM_START = {"relu4_1": "relu3_1"}
# Stages that continue a layer's training, in order, each from the one before:
# "transfer": half of each batch WCT'd to another photo's statistics (DecoderConfig.
#   transfer_fraction), so the decoder also learns the features it is given when painting;
# "ridge": the same, whitened with the ridge painting now uses (wct.WHITENING_RIDGE);
# "grid": the same, with the penalty on detail that repeats every 8 pixels (DecoderConfig.
#   grid_weight), the grid relu4_1's decoder had learnt to paint into flat areas.
# relu3_1's ridge stage lowered the style and content loss on all 15 of the README's held-out
# pairs; the same stage for relu2_1 raised the style loss on the tuning pairs, so it has none
# (docs/universal.md).
LATER_STAGES = {"relu3_1": [("ridge", {"steps": 3000, "batch_size": 8, "learning_rate": 2.5e-4,
                                       "transfer_fraction": 0.5, "whitening_ridge": 0.1})],
                "relu4_1": [("transfer", {"steps": 3000, "batch_size": 8, "learning_rate": 1e-4,
                                          "transfer_fraction": 0.5}),
                            ("ridge", {"steps": 2000, "batch_size": 8, "learning_rate": 1e-4,
                                       "transfer_fraction": 0.5, "whitening_ridge": 0.1}),
                            ("grid", {"steps": 800, "batch_size": 8, "learning_rate": 1e-4,
                                      "transfer_fraction": 0.5, "whitening_ridge": 0.1,
                                      "grid_weight": 1000.0})]}


def _stop_as_interrupt(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    # SIGTERM, and SIGINT even where a shell started this in the background with SIGINT
    # ignored, stop training with a checkpoint.
    signal.signal(signal.SIGINT, _stop_as_interrupt)
    signal.signal(signal.SIGTERM, _stop_as_interrupt)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=BUNDLED_DIR)
    parser.add_argument("--layers", nargs="+", default=list(DECODER_LAYERS), choices=DECODER_LAYERS,
                        help="layers to train and write (default: all four, as bundled)")
    parser.add_argument("--from-bundled", action="store_true",
                        help="count the bundled decoders as trained; train only the layers they lack")
    args = parser.parse_args()
    if set(args.layers) != set(DECODER_LAYERS) and args.out.resolve() == BUNDLED_DIR.resolve():
        parser.error("--layers without all four would replace the bundled decoders with only "
                     "those; give --out another folder")
    args.work.mkdir(parents=True, exist_ok=True)
    if args.from_bundled:
        _seed_from_bundled(args.work)
    records, nets = {}, {}
    for layer in args.layers:
        stages = [(layer, RECIPE[layer]),
                  *((f"{layer}-{name}", settings) for name, settings in LATER_STAGES.get(layer, []))]
        for stage, (name, settings) in enumerate(stages):
            done = args.work / f"{name}.pt"
            if done.exists():
                continue
            warm = WARM_START.get(layer) if stage == 0 else None
            if warm and not (args.work / f"{warm}.pt").exists():
                parser.error(f"{layer}'s decoder starts from {warm}'s: train that layer first "
                             "(add it to --layers) or pass --from-bundled")
            shallower = _trained(args.work, warm) if warm else None
            initial = _trained(args.work, stages[stage - 1][0]) if stage else None
            try:
                net, record = train_decoder(layer, args.photos, args.work, DecoderConfig(**settings),
                                            resume=True, callback=_reporter(name),
                                            shallower=shallower, initial=initial)
            except TrainingInterrupted as stop:
                print(f"stopped at step {stop.step}; rerun to resume", file=sys.stderr)
                return 130
            torch.save({"model": net.state_dict(), "record": record}, done)
        stage_records = [torch.load(args.work / f"{name}.pt", weights_only=True)["record"]
                         for name, _ in stages]
        records[layer] = stage_records if len(stage_records) > 1 else stage_records[0]
        nets[layer] = _trained(args.work, stages[-1][0])
    save_decoders(Decoders(nets, {"training": records}), args.out)
    print(json.dumps(records, indent=1))
    return 0


def _reporter(name: str):
    def report(p):
        if p.step % 25 == 0 or p.checkpointed:
            print(f"{name} step {p.step}/{p.steps} " + " ".join(
                f"{k} {v:.4g}" for k, v in p.losses.items()) + f" {p.elapsed:.0f}s", flush=True)
    return report


def _seed_from_bundled(work: Path) -> None:
    """Write each bundled decoder (fp16 weights, read as fp32) into ``work`` as a finished
    stage, with its training record, unless ``work`` already has that stage. A layer bundled
    after later stages is seeded as each of them, with their records."""
    bundled = load_decoders()
    for layer, net in bundled.nets.items():
        record = bundled.config["training"][layer]
        records = record if isinstance(record, list) else [record]
        names = [layer, *(f"{layer}-{name}" for name, _ in LATER_STAGES.get(layer, []))]
        names = names[:len(records)]
        for name, one in zip(names, records):
            done = work / f"{name}.pt"
            if not done.exists():
                torch.save({"model": net.state_dict(), "record": one}, done)


def _trained(work: Path, name: str) -> Decoder:
    """The finished decoder of stage ``name`` ("relu4_1", "relu4_1-transfer", ...) from ``work``."""
    net = Decoder(name.split("-")[0])
    net.load_state_dict(torch.load(work / f"{name}.pt", weights_only=True)["model"])
    return net


if __name__ == "__main__":
    sys.exit(main())
