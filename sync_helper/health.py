"""How the pushes from this node to each peer are going: the record the
filesync agent's monitor turns into node attributes (ocf_agents.filesync).

Whoever pushes (the watcher, an operator's ``push`` or ``resync``) updates
one root-only JSON file under a short lock; the agent only reads it.  A file
rather than attributes set by the watcher itself: the watcher also runs
without Pacemaker (systemd, by hand), the agent already owns the node
attributes and their cache (ocf_agents.framework.promotion), and a monitor
that reads a file costs no process.

Per peer:

- ``last_ok``: when a push or reconcile last reached the peer without error;
- ``reconciled``: when a full comparison (a reconcile) last completed without
  error *after the last failure*: cleared by any failure, so a peer that was
  away gets a new one only once it has received everything;
- ``pending``: changed paths that did not reach it (kept until a push of the
  path or a full reconcile succeeds);
- ``conflicts``: its files edited since the last sync, left alone;
- ``error``: the last failure (empty once a sync reaches it again);
- ``kept``: files only the peer has and never synced (left alone there, by
  the last full comparison), e.g. written on a former active just before it
  failed: someone has to decide about them.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sync_helper.filelock import locked

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sync_helper.config import SyncConfig
    from sync_helper.report import SyncReport

FILE = "health.json"
OK, BEHIND, FAILING, CONFLICTS = "ok", "behind", "failing", "conflicts"
STATES = (OK, BEHIND, FAILING, CONFLICTS)


@dataclass
class PeerHealth:
    last_ok: float | None = None
    reconciled: float | None = None
    pending: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    error: str = ""
    kept: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        """failing, conflicts, behind (not yet compared whole since the last
        failure, or something not delivered), or ok."""
        if self.error:
            return FAILING
        if self.conflicts:
            return CONFLICTS
        if self.pending or self.reconciled is None:
            return BEHIND
        return OK

    @property
    def healthy(self) -> bool:
        return self.state == OK

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> PeerHealth:
        def number(key: str) -> float | None:
            value = raw.get(key)
            return float(value) if isinstance(value, int | float) else None

        def names(key: str) -> list[str]:
            value = raw.get(key)
            return [str(v) for v in value] if isinstance(value, list) else []

        return cls(number("last_ok"), number("reconciled"), names("pending"),
                   names("conflicts"), str(raw.get("error") or ""), names("kept"))


def read(path: Path | str) -> dict[str, PeerHealth]:
    """The record (empty when missing or unreadable: nothing known)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return {str(peer): PeerHealth.from_dict(raw)
                for peer, raw in data.get("peers", {}).items() if isinstance(raw, dict)}
    except (OSError, ValueError, AttributeError):
        return {}


class HealthFile:
    @classmethod
    def of(cls, state_dir: Path) -> HealthFile:
        return cls(state_dir / FILE)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(f".{path.name}.lock")

    def reset(self, peers: Iterable[str]) -> None:
        """Nothing known yet: what the node becoming active starts from
        (a record from an earlier active spell says nothing about now)."""
        with locked(self.lock_path):
            self._save({peer: PeerHealth() for peer in peers})

    def pushed(self, peer: str, paths: Iterable[str], error: str, conflicts: Iterable[str],
               now: float) -> None:
        """A push of PATHS to PEER ended (ERROR empty: it reached the peer)."""
        paths = set(paths)
        with self._changing(peer) as health:
            if error:
                health.error, health.reconciled = error, None
                health.pending = sorted(set(health.pending) | paths)
                return
            health.error, health.last_ok = "", now
            health.pending = [p for p in health.pending if p not in paths]
            health.conflicts = sorted({c for c in health.conflicts if c not in paths}
                                      | set(conflicts))
            health.kept = [k for k in health.kept if k not in paths]

    def reconciled(self, peer: str, error: str, conflicts: Iterable[str], now: float,
                   kept: Iterable[str] = ()) -> None:
        """A full push comparison with PEER ended."""
        with self._changing(peer) as health:
            if error:
                health.error, health.reconciled = error, None
                return
            health.error, health.last_ok, health.reconciled = "", now, now
            health.pending, health.conflicts = [], sorted(set(conflicts))
            health.kept = sorted(set(kept))

    # -- the file ----------------------------------------------------------

    @contextlib.contextmanager
    def _changing(self, peer: str) -> Iterator[PeerHealth]:
        """PEER's entry, read under the lock and saved when the block ends."""
        with locked(self.lock_path):
            peers = read(self.path)
            yield peers.setdefault(peer, PeerHealth())
            self._save(peers)

    def _save(self, peers: dict[str, PeerHealth]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"peers": {name: asdict(h) for name, h in sorted(peers.items())}}
        partial = self.path.with_name(f".{self.path.name}.new")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        os.fchmod(fd, 0o600)
        with open(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
        os.replace(partial, self.path)


def record(health: HealthFile, report: SyncReport, paths: set[str] | None = None) -> None:
    """Note how a push of PATHS (None: a full reconcile) went with each peer."""
    now = time.time()
    for peer in report.peers:
        if peer.direction != "push" or peer.dry_run:  # a pull says nothing about the peer
            continue
        error = peer.errors[0] if peer.errors else ""
        conflicts = [conflict.path for conflict in peer.conflicts]
        if paths is None:
            health.reconciled(peer.peer, error, conflicts, now, peer.kept)
        else:
            health.pushed(peer.peer, paths, error, conflicts, now)


def record_failure(health: HealthFile, config: SyncConfig, reason: str,
                   paths: set[str] | None = None) -> None:
    """A sync that failed before reaching any peer failed for each of them."""
    now = time.time()
    for peer in config.peers:
        if paths is None:
            health.reconciled(peer.name, reason, (), now)
        else:
            health.pushed(peer.name, paths, reason, (), now)
