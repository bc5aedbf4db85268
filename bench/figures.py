"""What the benches share: a median with its range, written one way, and
where each run's records go."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


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


def keep(name: str, records: object, folder: Path = RESULTS) -> Path:
    """RECORDS as FOLDER/NAME-<UTC time>.json: each run's beside the earlier
    ones, none replaced (the folder is make bench's own, not in git)."""
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path, n = folder / f"{name}-{stamp}.json", 1
    while path.exists():  # two runs within a second
        n += 1
        path = folder / f"{name}-{stamp}-{n}.json"
    path.write_text(json.dumps(records, indent=2))
    return path
