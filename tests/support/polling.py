"""Waiting for what a test expects to happen, and reading what arrived."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def eventually(check: Callable[[], bool], within: float = 10.0) -> bool:
    """Whether check() became true within WITHIN seconds (polled every 0.1 s)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def content(path: Path) -> str | None:
    """The text of PATH, None while it does not exist."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
