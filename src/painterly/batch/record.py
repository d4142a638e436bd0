"""The batch's record: one JSON line per finished item, appended as each finishes.

The record is what a rerun reads to skip the work already done. Each line is written with
one ``write`` and flushed to disk before the next item is counted, so a stop at any moment
leaves at most a torn last line, which is ignored on reading. The last line of an item wins.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

RECORD_NAME = "painterly-batch.jsonl"
DONE, FAILED = "done", "failed"


@dataclass
class Entry:
    """One line of the record: ``status`` is ``done`` or ``failed``; ``error`` its one-line
    reason; ``seconds`` the painting time (0 for an output found already written)."""

    key: str
    photo: str
    status: str
    error: str | None = None
    seconds: float = 0.0
    engine: str = ""
    worker: str = ""


def read_record(path: Path) -> dict[str, Entry]:
    """The latest entry of each item in the record at ``path`` ({} when there is none).
    Lines that do not parse (a write cut short by a crash) are skipped with a warning."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return {}
    entries: dict[str, Entry] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            entry = Entry(**{k: data[k] for k in Entry.__dataclass_fields__ if k in data})
        except (json.JSONDecodeError, TypeError, KeyError):
            log.warning("%s line %d: not a record line, ignored", path, number)
            continue
        entries[entry.key] = entry
    return entries


class Recorder:
    """Appends entries to the record at ``path`` (created if needed)."""

    def __init__(self, path: Path):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        if os.fstat(self._fd).st_size:  # a line torn by a crash must not swallow the next one
            with open(path, "rb") as file:
                file.seek(-1, os.SEEK_END)
                if file.read(1) != b"\n":
                    os.write(self._fd, b"\n")

    def add(self, entry: Entry) -> None:
        line = json.dumps({**entry.__dict__, "time": round(time.time(), 3)}, ensure_ascii=False)
        os.write(self._fd, (line + "\n").encode("utf-8"))
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
