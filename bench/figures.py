"""What the benches share: a median with its range, written one way."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def spread(values: Sequence[float], digits: int | None = 2, unit: str = "") -> str:
    """VALUES' median and range as the README's tables write them,
    ``2.08 s (2.04-2.21)``; one value alone; ``-`` for none.  DIGITS after
    the point; None for counts: the median of 2 and 3 is 2.5, ``2.5 (2-3)``."""
    if not values:
        return "-"
    form = "g" if digits is None else f".{digits}f"
    median = f"{statistics.median(values):{form}}{f' {unit}' if unit else ''}"
    if len(values) == 1:
        return median
    return f"{median} ({min(values):{form}}-{max(values):{form}})"

