"""Painting in one pass: fast styles, networks trained per style (Johnson et al. 2016; many
styles in one network, Dumoulin et al. 2017), and any painting with no training at all
(universal style transfer, Li et al. 2017).

>>> import painterly
>>> image = painterly.fast_stylize("photo.jpg", "starry_night", size=1024)
>>> image = painterly.fast_stylize("photo.jpg", "my_painting.jpg", strength=0.8)
>>> image.save("out.png")
"""

import importlib

from .config import DEFAULT_SIZE, TrainConfig

_EXPORTS = {
    "fast_stylize": ".api", "make_painter": ".api", "are_painting_files": ".api",
    "FastPainter": ".paint", "load_mix": ".paint", "mix_network": ".paint", "parse_style_spec": ".paint",
    "FastStyles": ".store", "StyleError": ".store", "load_styles": ".store", "save_styles": ".store",
    "TrainingInterrupted": ".train", "TrainProgress": ".train",
    "PaintingPainter": ".wct", "UniversalPainter": ".wct",
    "bundled_styles": "..style_folders", "user_styles": "..style_folders",
}


# ``painterly.fast.train`` is the training module (its function: ``painterly.fast.train.train``):
# importing a submodule binds its name in the package, so a function of that name cannot be
# exported lazily beside it.


def __getattr__(name: str):
    """The engine is imported on first use (PEP 562), as the package's own exports are: the
    commands read ``DEFAULT_SIZE`` and ``TrainConfig`` for their options without PyTorch."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = ["DEFAULT_SIZE", "TrainConfig", *_EXPORTS]
