"""Repeated resource alerts held back.

A server that keeps failing on a node is retried every failure-timeout, and
each round makes the same alerts.  Per recipient, the first alert of a kind
(node, resource, operation and its result) is sent; the same again within
the repeat interval is counted instead; the first one after the interval is
sent and says how many like it were held back since when.

Pacemaker runs the agent once per event and recipient, several at once, so
the counts live in a small file per recipient in STATE_DIR (named after a
hash of the recipient), read and updated under an flock.  Whatever is wrong
with the folder or the file, the alert is sent as if nothing were held back:
a lost count costs one more alert, a wrong hold-back an alert nobody sees.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import math
import os
import stat
import time
from dataclasses import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sip_ha.alert.event import Event

# Made by systemd-tmpfiles (debian/sip-ha.tmpfiles): hacluster's, mode 0750.
STATE_DIR = "/run/sip-ha-alert"
# An entry not seen for this long (or the interval, if longer) is dropped.
KEEP = 86400.0
# Other runs hold the lock only to read and write a small file.
LOCK_WAIT = 2.0


@dataclass(frozen=True)
class Held:
    """COUNT alerts like this one were held back, the first at SINCE (Unix time)."""

    count: int
    since: float

    def note(self, now: float) -> str:
        when = time.gmtime(self.since)
        today = time.gmtime(now)[:3] == when[:3]
        clock = time.strftime("%H:%M:%S" if today else "%Y-%m-%d %H:%M:%S", when)
        return f"{self.count} more like this since {clock} UTC were held back"


@dataclass(frozen=True)
class Entry:
    sent: float        # when the last one was sent (0: never)
    held: int          # held back since then
    first_held: float  # when the first of those came (0: none)
    seen: float        # when the last one came, sent or held


@dataclass(frozen=True)
class Verdict:
    send: bool
    held: Held | None = None
    # What the entry was before this alert claimed it (None: none, or no state).
    previous: Entry | None = None
    claimed: bool = False


def key(event: Event) -> str | None:
    """What makes two alerts alike; None for those never held back: node,
    fencing, attribute and test alerts (rare, and each one matters), and a
    resource operation that succeeded (a promote, a service address started:
    each says where the service runs now, and a planned move and its move
    back within minutes must both be told).  What a failing server repeats
    every failure-timeout is its failures."""
    if event.kind != "resource" or not event.failed:
        return None
    return json.dumps([event.node, event.rsc, event.task, event.rc, event.status,
                       event.target_rc])


def admit(recipient: str, alike: str, interval: float, now: float) -> Verdict:
    """Whether the alert ALIKE for RECIPIENT at NOW goes out, and what was held
    back before it; records it either way."""
    if interval <= 0:
        return Verdict(send=True)
    try:
        with _State(recipient) as state:
            old = state.entries.get(alike)
            if old is None or not 0 <= now - old.sent < interval:
                held = Held(old.held, old.first_held) if old and old.held else None
                state.entries[alike] = Entry(sent=now, held=0, first_held=0.0, seen=now)
                state.save(now, interval)
                return Verdict(send=True, held=held, previous=old, claimed=True)
            state.entries[alike] = Entry(sent=old.sent, held=old.held + 1,
                                         first_held=old.first_held or now, seen=now)
            state.save(now, interval)
            return Verdict(send=False)
    except (OSError, ValueError):
        return Verdict(send=True)


def release(recipient: str, alike: str, verdict: Verdict, now: float,
            interval: float) -> None:
    """After VERDICT's alert could not be sent: the next one like it goes out
    and counts what was held back before and while this one was tried."""
    if not verdict.claimed:
        return
    try:
        with _State(recipient) as state:
            mine = state.entries.get(alike)
            if mine is None or mine.sent != now:
                return  # another run has sent one since
            before = verdict.previous or Entry(sent=0.0, held=0, first_held=0.0, seen=now)
            firsts = [t for t in (before.first_held, mine.first_held) if t]
            state.entries[alike] = Entry(sent=before.sent, held=before.held + mine.held,
                                         first_held=min(firsts, default=0.0), seen=mine.seen)
            state.save(now, interval)
    except (OSError, ValueError):
        pass


def state_path(recipient: str) -> str:
    name = hashlib.sha256(recipient.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return os.path.join(STATE_DIR, f"{name}.json")


class _State:
    """The recipient's file, locked, read into ENTRIES (empty if it was
    corrupt: it is replaced on save)."""

    def __init__(self, recipient: str) -> None:
        self.path = state_path(recipient)
        self.fd = -1
        self.entries: dict[str, Entry] = {}

    def __enter__(self) -> _State:
        # Never through a symlink (the file, nor the folder), never readable by others.
        folder = os.open(os.path.dirname(self.path),
                         os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            if os.fstat(folder).st_mode & 0o022:
                raise OSError(errno.EPERM, "writable by group or others", STATE_DIR)
            self.fd = os.open(os.path.basename(self.path),
                              os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                              dir_fd=folder)
        finally:
            os.close(folder)
        try:
            if not stat.S_ISREG(os.fstat(self.fd).st_mode):
                raise OSError(errno.EINVAL, "not a regular file", self.path)
            self._lock()
            self.entries = _parse(self._read())
        except BaseException:
            os.close(self.fd)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # releases the lock

    def _lock(self) -> None:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _read(self) -> bytes:
        data = b""
        while chunk := os.pread(self.fd, 65536, len(data)):
            data += chunk
        return data

    def save(self, now: float, interval: float) -> None:
        keep = max(KEEP, interval)
        fresh = {k: v for k, v in self.entries.items() if 0 <= now - v.seen < keep}
        data = json.dumps({k: [v.sent, v.held, v.first_held, v.seen]
                           for k, v in fresh.items()}).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)


def _parse(data: bytes) -> dict[str, Entry]:
    try:
        raw = json.loads(data) if data else {}
    except ValueError:
        return {}
    if not isinstance(raw, dict):
        return {}
    entries = {}
    for alike, value in raw.items():
        if not (isinstance(value, list) and len(value) == 4
                and all(isinstance(v, int | float) and not isinstance(v, bool)
                        and math.isfinite(v) for v in value)
                and isinstance(value[1], int) and value[1] >= 0):
            return {}
        sent, held, first_held, seen = value
        entries[alike] = Entry(float(sent), int(held), float(first_held), float(seen))
    return entries
