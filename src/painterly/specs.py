"""``NAME[:WEIGHT]``: how the command line and the library name a weighted painting or style.

One parser for the optimiser's ``STYLE[:WEIGHT]`` arguments and the fast styles'
``--style NAME[:WEIGHT]``, so the two agree on what is a weight and what is part of a name.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable


def parse_weighted(text: str, *, exists: Callable[[str], bool] = os.path.lexists
                   ) -> tuple[str, float]:
    """``NAME`` or ``NAME:WEIGHT`` -> (NAME, weight); the weight defaults to 1.

    Only the text after the LAST colon is tried, and only a number counts as a weight, so
    ``C:\\art\\wave.jpg`` and ``a:b.jpg`` stay names. A tail that is not a number is part
    of the name, unless the name without it ``exists`` and the whole text does not: then
    ``wave.jpg:abc`` is a bad weight, not a missing file. Raises ValueError (one line, naming
    the text) for a weight that is not a finite number >= 0.
    """
    head, sep, tail = text.rpartition(":")
    if not sep or not head:
        return text, 1.0
    try:
        weight = float(tail)
    except ValueError:
        if _exists(exists, head) and not _exists(exists, text):
            raise ValueError(f"style weight in {text!r} must be a number, got {tail!r}") from None
        return text, 1.0
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(f"style weight in {text!r} must be a finite number >= 0, got {tail!r}")
    return head, weight


def _exists(exists: Callable[[str], bool], name: str) -> bool:
    try:
        return bool(exists(name))
    except (OSError, ValueError):  # a name the system cannot even look up
        return False
