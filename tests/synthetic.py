"""Small synthetic images for the tests, and a loader for the benchmark scripts (plain
functions, importable from any test module)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def gradient(h: int = 24, w: int = 32) -> torch.Tensor:
    """A smooth colour ramp (1,3,h,w) in [0,1]: red grows left to right, green top to bottom."""
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return torch.stack([x, y, (x + y) / 2])[None]


def stripes(h: int = 24, w: int = 24) -> torch.Tensor:
    """Vertical black and white stripes (1,3,h,w), 3 px wide: a texture with one clear period."""
    return (torch.arange(w) % 6 < 3).float().expand(1, 3, h, w).clone()


def photo_folder(root: Path, count: int) -> Path:
    """``root/photos`` with ``count`` random 32x24 PNGs (p0.png, ...) and one broken file."""
    folder = root / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for n in range(count):
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), np.uint8)).save(folder / f"p{n}.png")
    (folder / "broken.png").write_bytes(b"not a picture")
    return folder


def benchmark(name: str):
    """The module ``benchmarks/<name>.py``, loaded from its file (benchmarks are scripts, not
    a package)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    if str(path.parent) not in sys.path:  # as when the script runs: its siblings import
        sys.path.append(str(path.parent))
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
