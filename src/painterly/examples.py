"""The example images shipped inside the package, and their names.

``data/content/`` holds photos, ``data/style/`` paintings and ``data/masks/`` masks for the
cat photo (provenance in ``data/SOURCES.md``). Each is named by its file name with or without
the extension (``chelsea_cat``, ``starry_night.jpg``), so the front ends accept a bundled
name wherever they expect an image file. A file or folder that exists always wins over a
bundled name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .specs import parse_weighted

KINDS = ("content", "style", "masks")
_KIND_WORDS = {"content": "photo", "style": "painting", "masks": "mask"}


@dataclass(frozen=True)
class Example:
    """One bundled image: ``name`` (the file's stem), ``kind`` (photo, painting or mask)."""

    name: str
    kind: str
    path: Path


def bundled_image(name: str) -> str:
    """Path of a bundled file relative to the package data, e.g. ``"content/chelsea_cat.png"``."""
    return str(resources.files("painterly") / "data" / name)


def examples() -> list[Example]:
    """Every bundled photo, painting and mask, in that order, each sorted by name."""
    found = []
    for folder in KINDS:
        entries = resources.files("painterly") / "data" / folder
        if not entries.is_dir():
            continue
        for entry in sorted(entries.iterdir(), key=lambda e: e.name):
            path = Path(str(entry))
            if path.name.startswith(".") or path.suffix.lower() == ".md" or not path.is_file():
                continue
            found.append(Example(path.stem, _KIND_WORDS[folder], path))
    return found


def find_example(name: str) -> Example | None:
    """The bundled image called ``name`` (``chelsea_cat`` or ``chelsea_cat.png``), else None."""
    for example in examples():
        if name in (example.name, example.path.name):
            return example
    return None


def example_path(name: str) -> Path:
    """The file of the bundled image ``name``. Raises ValueError listing the names."""
    example = find_example(name)
    if example is None:
        raise ValueError(f"no bundled image {name!r}; {names_hint()}")
    return example.path


def resolve_image(text: str) -> str:
    """``text`` itself when something exists at that path, else the bundled image of that name.

    A name that is neither is returned unchanged, for the caller's usual "no such file" check.
    """
    if os.path.lexists(text):
        return text
    example = find_example(text)
    return str(example.path) if example is not None else text


def input_image(text: str) -> str:
    """A front end's image argument: a path, else the name of a bundled example.

    A path where something exists always wins (its own checks report what is wrong with
    it). Raises ImageError naming ``text`` and listing the bundled names when it is neither.
    """
    from .image_io import ImageError  # PyTorch: `painterly examples` lists without it

    path = resolve_image(text)
    if not os.path.lexists(path):
        raise ImageError(f"cannot read {text!r}: no such file; {names_hint()}")
    return path


def parse_picture_spec(text: str) -> tuple[str, float]:
    """``PICTURE`` or ``PICTURE:WEIGHT`` -> (PICTURE as given, weight); the weight defaults to 1.

    See :func:`painterly.specs.parse_weighted`: ``C:\\art\\wave.jpg`` and ``a:b.jpg`` stay
    paths, ``wave.jpg:abc`` (where wave.jpg exists) is a bad weight. Raises ValueError for a
    weight that is not a finite number >= 0. Bundled pictures count as existing, so
    ``starry_night:abc`` is a bad weight too. Resolve the name with :func:`resolve_image` or
    :func:`input_image`.
    """
    return parse_weighted(text, exists=lambda name: os.path.lexists(resolve_image(name)))


def names_hint() -> str:
    """``bundled examples: astronaut, chelsea_cat, ... (`painterly examples` lists them)``."""
    names = ", ".join(example.name for example in examples())
    return f"bundled examples: {names} (`painterly examples` lists them)"
