"""Error messages on one line: the CLI, the batch record and the studio each show a library
error as one line, whatever its message holds (DESIGN.md, "Errors at the boundary").

Torch-free, as ``painterly --help`` must stay (cli/group.py).
"""

from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (``'path': reason`` for OS errors), or its type's
    name when it has none."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"'{exc.filename}': " if exc.filename else ""
        return f"{where}{exc.strerror}"
    return " ".join(str(exc).split()) or type(exc).__name__
