"""Whether this node holds the active role, the only one that pushes.

The ``filesync`` agent (or an operator) writes ``active`` or ``standby`` into
a small state file; anything else, or no file at all, counts as standby: a
node that is unsure must not push.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

ACTIVE = "active"
STANDBY = "standby"
RoleSource = Callable[[], str]


class RoleFile:
    """A role source reading a state file each time it is asked."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self) -> str:
        try:
            text = self.path.read_text(encoding="utf-8").strip().lower()
        except (OSError, UnicodeDecodeError):
            return STANDBY
        return ACTIVE if text == ACTIVE else STANDBY

    def set(self, role: str) -> None:
        """Write the role atomically (what the agent does on start/stop)."""
        if role not in (ACTIVE, STANDBY):
            raise ValueError(f"role must be {ACTIVE} or {STANDBY}, not {role!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.new")
        partial.write_text(f"{role}\n", encoding="utf-8")
        partial.replace(self.path)


def is_active(source: RoleSource) -> bool:
    return source() == ACTIVE
