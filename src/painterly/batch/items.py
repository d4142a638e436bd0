"""What a batch paints: items gathered from folders, globs and manifests, each with a
predictable output name.

An :class:`Item` is one photo, its styles and its own options (a manifest row may set
``size``, ``strength``, ``iterations``...). Its ``key`` is its output file's name inside the
output folder: the same inputs give the same names on every run, which is what lets a
rerun find the work already done.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..examples import input_image
from ..image_io import PICTURE_SUFFIXES

MANIFEST_SUFFIXES = {".csv", ".jsonl"}
MANIFEST_KEYS = ("photo", "style", "output")
"""A manifest row's own columns; every other column is an option of its engine."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


@dataclass(frozen=True)
class Item:
    """One photo to paint. ``key``: the output's name inside the output folder (unique in a
    batch); ``options``: this item's settings on top of the batch's (engine option names)."""

    key: str
    photo: str
    styles: tuple[str, ...]
    options: dict = field(default_factory=dict, hash=False, compare=False)


def style_slug(styles: Sequence[str]) -> str:
    """``starry_night``, ``the_scream-0.7+great_wave-0.3``: the styles as part of a file name."""
    parts = []
    for spec in styles:
        name, _, weight = spec.rpartition(":") if _has_weight(spec) else (spec, "", "")
        stem = Path(name.rstrip("/\\")).stem or "style"
        parts.append(stem + (f"-{weight}" if weight and float(weight) != 1 else ""))
    return _UNSAFE.sub("_", "+".join(parts))[:80]


def _has_weight(spec: str) -> bool:
    head, sep, tail = spec.rpartition(":")
    if not sep or not head or os.path.lexists(spec):
        return False
    try:
        float(tail)
    except ValueError:
        return False
    return True


def output_name(photo: str, styles: Sequence[str], fmt: str) -> str:
    """``<photo stem>.<styles>.<fmt>``, e.g. ``chelsea_cat.starry_night.png``."""
    return f"{_UNSAFE.sub('_', Path(photo).stem) or 'photo'}.{style_slug(styles)}.{fmt}"


def gather(inputs: Sequence[str], styles: Sequence[str], fmt: str) -> list[Item]:
    """Items from ``inputs``: folders (the pictures directly inside), globs, picture files or
    bundled photo names, each painted with ``styles``; and manifests (``.csv`` with a header,
    or ``.jsonl``), one item per row. Raises ValueError naming the input for a folder or
    glob with no pictures, a missing file or manifest, a bad row, or two items that would be
    written to the same name. Pictures are not opened here: a bad one fails as its item."""
    items: list[Item] = []
    for text in inputs:
        if Path(text).suffix.lower() in MANIFEST_SUFFIXES:
            items += read_manifest(Path(text), styles, fmt)
            continue
        for photo in _pictures(text):
            if not styles:
                raise ValueError(f"{photo!r} has no style: give --style (or a manifest "
                                 "with a style column)")
            items.append(Item(output_name(photo, styles, fmt), photo, tuple(styles)))
    if not items:
        raise ValueError("nothing to paint: no pictures in " + ", ".join(map(repr, inputs)))
    check_unique(items)
    return items


def _pictures(text: str) -> list[str]:
    if not os.path.lexists(text) and glob.has_magic(text):
        found = sorted(p for p in glob.glob(text, recursive=True)
                       if Path(p).suffix.lower() in PICTURE_SUFFIXES and os.path.isfile(p))
        if not found:
            raise ValueError(f"no pictures match {text!r}")
        return found
    path = input_image(text)
    if os.path.isdir(path):
        found = sorted(str(p) for p in Path(path).iterdir()
                       if p.suffix.lower() in PICTURE_SUFFIXES and p.is_file())
        if not found:
            raise ValueError(f"no pictures ({', '.join(sorted(PICTURE_SUFFIXES))}) in folder {text!r}")
        return found
    return [path]


def read_manifest(path: Path, styles: Sequence[str], fmt: str) -> list[Item]:
    """One item per row of a CSV (header: ``photo``, optional ``style``, ``output`` and
    option columns; several styles separated by ``;``) or JSONL manifest (``style`` a string
    or a list). Photos are relative to the manifest's folder; a row without a style gets
    ``styles``. Raises ValueError naming the file and row."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read manifest {str(path)!r}: {getattr(exc, 'strerror', None) or exc}") from None
    rows = _csv_rows(text, path) if path.suffix.lower() == ".csv" else _jsonl_rows(text, path)
    items = []
    for number, row in rows:
        where = f"{str(path)!r} row {number}"
        photo = row.get("photo")
        if not isinstance(photo, str) or not photo.strip():
            raise ValueError(f"{where}: no photo (a 'photo' column is required)")
        photo = os.path.join(path.parent, photo) if not os.path.isabs(photo) else photo
        row_styles = _row_styles(row.get("style"), where) or tuple(styles)
        if not row_styles:
            raise ValueError(f"{where}: no style (give a 'style' column or --style)")
        output = row.get("output") or output_name(photo, row_styles, fmt)
        if not isinstance(output, str) or Path(output).is_absolute() or ".." in Path(output).parts:
            raise ValueError(f"{where}: output {output!r} must be a file name inside the output folder")
        options = {k: v for k, v in row.items() if k not in MANIFEST_KEYS and v not in ("", None)}
        items.append(Item(output, photo, row_styles, options))
    return items


def _row_styles(value, where: str) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return tuple(s.strip() for s in value.split(";") if s.strip())
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(value)
    raise ValueError(f"{where}: style must be a name or a list of names, got {value!r}")


def _csv_rows(text: str, path: Path) -> Iterable[tuple[int, dict]]:
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "photo" not in reader.fieldnames:
        raise ValueError(f"manifest {str(path)!r} needs a header row with a 'photo' column")
    for number, row in enumerate(reader, start=2):
        if None in row:
            raise ValueError(f"{str(path)!r} row {number}: more cells than the header has columns")
        yield number, {k: (v or "").strip() for k, v in row.items()}


def _jsonl_rows(text: str, path: Path) -> Iterable[tuple[int, dict]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{str(path)!r} line {number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{str(path)!r} line {number}: expected a JSON object")
        yield number, row


def check_unique(items: Sequence[Item]) -> None:
    """Two items written to one name would overwrite each other: refuse, naming both."""
    seen: dict[str, Item] = {}
    for item in items:
        if item.key in seen:
            raise ValueError(f"{seen[item.key].photo!r} and {item.photo!r} would both be written "
                             f"as {item.key!r}; give them different names (a manifest's "
                             "'output' column) or paint them into different folders")
        seen[item.key] = item
