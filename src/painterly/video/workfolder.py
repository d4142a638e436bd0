"""The work folder of a clip being painted: its settings, its plan and its painted frames.

Every file is written atomically, so a stop at any moment leaves only whole files: a rerun
with the same settings finds every frame painted so far and paints only the rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from ..image_io import OutputError, replacing

SETTINGS = "settings.json"


def default_work_folder(output: Path) -> Path:
    """``.NAME.painterly-work`` next to the output: where its frames wait to be encoded."""
    return output.with_name(f".{output.name}.painterly-work")


def frame_path(folder: Path, index: int) -> Path:
    return folder / f"frame_{index:06d}.png"


def prepare_work_folder(work: Path, settings: Mapping[str, object]) -> None:
    """Create ``work``, or check that it holds frames of these ``settings``. ValueError,
    before any work, for a folder of another run."""
    record = json.dumps(dict(settings), sort_keys=True, indent=1)
    marker = work / SETTINGS
    if work.exists():
        if not marker.is_file():
            raise ValueError(f"work folder {str(work)!r} exists but is not a painterly video "
                             "work folder; choose another --work")
        if marker.read_text(encoding="utf-8") != record:
            raise ValueError(f"work folder {str(work)!r} holds frames painted with other "
                             "settings or from another input; delete it or choose another --work")
    else:
        work.mkdir(parents=True)
        write_atomically(marker, record.encode("utf-8"))


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`painterly.image_io.replacing`), without
    the fsync a style's files get: a frame lost to a crash is painted again on resume."""
    with replacing(path, overwrite=True, errors=()) as tmp:
        tmp.write_bytes(data)


def save_frame(path: Path, frame: np.ndarray) -> None:
    """Write RGB uint8 (H,W,3) as a PNG, atomically."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise OutputError(f"cannot write {str(path)!r}: PNG encoding failed")
    write_atomically(path, encoded.tobytes())


def load_frame(path: Path) -> np.ndarray:
    """A painted frame back: RGB uint8 (H,W,3)."""
    picture = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if picture is None:
        raise OutputError(f"cannot read the painted frame {str(path)!r}; delete it to paint it again")
    return cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)
