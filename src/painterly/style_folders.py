"""Where fast styles are found: the bundled folder and the user's own, read without PyTorch.

A style folder holds ``config.json`` and ``model.safetensors`` (:mod:`painterly.fast.store`
reads and writes them). The bundled folder holds the network that paints every bundled style
and blends of them, and beside it, in a folder of each style's name, that style's own network.
Listing styles reads only the configs, so ``painterly styles`` answers without loading PyTorch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import platformdirs

FORMAT = "painterly-fast-style"
BUNDLED_DIR = Path(__file__).resolve().parent / "data" / "fast"


def user_styles_dir() -> Path:
    """Where a user's own styles are looked up by name ($PAINTERLY_STYLES_DIR overrides)."""
    override = os.environ.get("PAINTERLY_STYLES_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir("painterly")) / "styles"


def is_style_folder(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def bundled_styles() -> list[str]:
    """Names of the styles that ship with painterly (empty if the bundle is missing)."""
    folder = BUNDLED_DIR
    if not is_style_folder(folder):
        return []
    return [s["name"] for s in json.loads((folder / "config.json").read_text())["styles"]]


def bundled_style_folder(name: str) -> Path:
    """The network that paints bundled style ``name`` on its own: the one trained for it alone
    (``BUNDLED_DIR/NAME``, scripts/train_bundled.sh's seventh phase) where it ships, else the
    network shared by all the bundled styles. Blends always use the shared one: only styles of
    one network mix through its norms (Dumoulin et al. 2017)."""
    own = BUNDLED_DIR / name
    return own if is_style_folder(own) else BUNDLED_DIR


def network_origin(folder: Path) -> str:
    """A style folder as outputs and ``painterly styles`` name it: ``bundled`` (the network
    all the bundled styles share), ``bundled/NAME`` (a bundled style's own network), else the
    folder's absolute path."""
    folder, bundled = Path(folder).resolve(), BUNDLED_DIR.resolve()
    if folder == bundled:
        return "bundled"
    if folder.parent == bundled:
        return f"bundled/{folder.name}"
    return str(folder)


def user_styles() -> dict[str, Path]:
    """{style name: folder} for every style folder under :func:`user_styles_dir`."""
    root = user_styles_dir()
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    for folder in sorted(p for p in root.iterdir() if is_style_folder(p)):
        try:
            config = json.loads((folder / "config.json").read_text())
            for style in config["styles"]:
                found.setdefault(style["name"], folder)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found
