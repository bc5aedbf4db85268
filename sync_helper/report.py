"""What a sync did, per peer, in words a person (and the agent) can use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sync_helper.planner import Conflict


def printable(text: str) -> str:
    """``text`` with the bytes of a name that is not UTF-8 (held as surrogates,
    see os.fsdecode) shown as ``\\xNN``: terminals and syslog refuse them."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass
class PeerReport:
    peer: str
    direction: str  # "push" (to the peer) or "pull" (from the peer)
    sent: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    backup_dir: str = ""
    errors: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.sent or self.replaced or self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {"peer": self.peer, "direction": self.direction, "sent": self.sent,
                "replaced": self.replaced, "removed": self.removed,
                "conflicts": [{"path": c.path, "reason": c.reason} for c in self.conflicts],
                "kept": self.kept, "backup_dir": self.backup_dir, "errors": self.errors,
                "dry_run": self.dry_run}

    def lines(self) -> list[str]:
        arrow = "->" if self.direction == "push" else "<-"
        would = "would " if self.dry_run else ""
        out = [f"{arrow} {self.peer}:"]
        out += [f"  {would}copy {p}" for p in self.sent]
        where = self.backup_dir or "a dated backup folder"
        out += [f"  {would}replace {p} (the old version kept in {where})"
                for p in self.replaced]
        out += [f"  {would}move {p} into {where}" for p in self.removed]
        out += [f"  CONFLICT {c.path}: {c.reason} (not overwritten)" for c in self.conflicts]
        out += [f"  kept {p}: only on the destination, never synced" for p in self.kept]
        out += [f"  ERROR {e}" for e in self.errors]
        if len(out) == 1:
            out.append("  already in sync")
        return [printable(line) for line in out]


@dataclass
class SyncReport:
    peers: list[PeerReport] = field(default_factory=list)
    skipped: str = ""

    @property
    def ok(self) -> bool:
        return not any(p.errors for p in self.peers)

    @property
    def conflicts(self) -> list[tuple[str, Conflict]]:
        return [(p.peer, c) for p in self.peers for c in p.conflicts]

    def to_dict(self) -> dict[str, Any]:
        return {"skipped": self.skipped, "peers": [p.to_dict() for p in self.peers]}

    def text(self) -> str:
        if self.skipped:
            return f"nothing pushed: {self.skipped}"
        return "\n".join(line for p in self.peers for line in p.lines()) or "no peers"
