"""painterly: neural style transfer (Gatys, Ecker & Bethge 2015) that works offline.

>>> import painterly
>>> image = painterly.stylize("photo.jpg", "painting.jpg", painterly.StyleConfig(size=512))
>>> image.save("out.png")
>>> painterly.fast_stylize("photo.jpg", "starry_night").save("fast.png")  # one pass
"""

import importlib

from .cpuinfo import shorten_openmp_spin

shorten_openmp_spin()  # before PyTorch loads OpenMP, which reads it then; see cpuinfo.py

__version__ = "0.1.0"
_EXPORTS = {"StyleConfig": ".config", "Progress": ".optimize", "Interrupted": ".pipeline",
            "stylize": ".pipeline", "fast_stylize": ".fast", "ImageError": ".image_io"}
__all__ = ["StyleConfig", "Progress", "Interrupted", "stylize", "fast_stylize", "ImageError"]


def __getattr__(name: str):
    """The exports are imported on first use (PEP 562): importing the package does not load
    PyTorch, so the ``painterly`` command can answer Ctrl-C from its first moment."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
