"""Put the fast styles that scripts/train_bundled.sh trained into the package.

    .venv/bin/python scripts/ship_styles.py WORK_DIR

WORK_DIR/phase6 (the network of all the bundled styles) is copied as it is to
src/painterly/data/fast/, and style NAME's own network, from the latest phase that trained it
(WORK_DIR/phase11/NAME, phase10/NAME, ... or phase7/NAME), is written to
src/painterly/data/fast/NAME/ with fp16 weights: half the size, read back as fp32, and its
pictures within half an 8-bit level of the fp32 weights' (0.44/255 at most, 0.03 on average,
on four held-out photos at 512 px with Starry Night).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch

from painterly.fast.store import load_styles, save_styles
from painterly.style_folders import BUNDLED_DIR, bundled_styles, is_style_folder


def main(work: Path) -> None:
    shared = work / "phase6"
    if not is_style_folder(shared):
        sys.exit(f"error: {shared} holds no trained network; run scripts/train_bundled.sh first")
    for name in ("config.json", "model.safetensors"):
        shutil.copyfile(shared / name, BUNDLED_DIR / name)
    for name in bundled_styles():
        own = next((work / f"phase{n}" / name for n in range(11, 6, -1)
                    if is_style_folder(work / f"phase{n}" / name)), None)
        if own is None:
            print(f"{name}: no network of its own yet (the shared one paints it)")
            continue
        styles = load_styles(own)
        if styles.names != [name]:
            sys.exit(f"error: {own} paints {styles.names}, not {name!r} alone")
        folder = save_styles(styles, BUNDLED_DIR / name, dtype=torch.float16)
        size = sum(f.stat().st_size for f in folder.iterdir())
        print(f"{name}: its own network ({own.parent.name}), {size / 1e6:.2f} MB")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
