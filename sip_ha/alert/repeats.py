"""Repeated resource alerts held back.

A server that keeps failing is retried every failure-timeout (seconds), and
each round makes the same alerts: its failure, and when it fails on both
nodes the service bouncing between them (promote, demote, the service
address started and stopped).  Per recipient:

- a failed operation like one sent (same node, resource, operation, interval
  and result) less than the repeat interval ago is counted, not sent;
- a successful one is held back the same way only while its resource keeps
  failing (a failure of it came within the interval); otherwise it is always
  sent, so a planned move and the move back are both told;
- the next alert about a resource that is sent (any operation, any node)
  says how many of that resource's alerts were held back since when.

Pacemaker runs the agent once per event and recipient, several at once, so
the counts live in a small file per recipient in STATE_DIR (named after a
hash of the recipient), read and updated under an flock.  A send is claimed
(pending) before it is tried and confirmed after: Pacemaker kills an agent
that overruns its alert timeout, and a claim never confirmed is taken, after
PENDING, as never sent.  Whatever is wrong with the folder or the file, the
alert is sent as if nothing were held back: a lost count costs one more
alert, a wrong hold-back an alert nobody sees.
"""

from __future__ import annotations

import dataclasses
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
# A send claimed longer ago and never confirmed was not made: Pacemaker killed
# its run at the alert timeout (30 s by default; every channel gives up at 10 s).
PENDING = 60.0


@dataclass(frozen=True)
class Alike:
    """What makes two alerts alike (TEXT, the state's key), and what it is about."""

    text: str
    rsc: str
    failed: bool


@dataclass(frozen=True)
class Held:
    """COUNT alerts were held back, the first at SINCE (Unix time): like the
    one sent, or (RSC given) others about RSC, FAILURES of them failures."""

    count: int
    since: float
    rsc: str = ""
    failures: int = 0

    def note(self, now: float) -> str:
        when = time.gmtime(self.since)
        today = time.gmtime(now)[:3] == when[:3]
        clock = time.strftime("%H:%M:%S" if today else "%Y-%m-%d %H:%M:%S", when)
        verb = "was" if self.count == 1 else "were"
        if not self.rsc:
            return f"{self.count} more like this since {clock} UTC {verb} held back"
        if self.failures == self.count:
            what = f"{self.count} failure{_s(self.count)} of {self.rsc}"
        else:
            what = (f"{self.count} other alert{_s(self.count)} about {self.rsc}"
                    + (f" ({self.failures} failed)" if self.failures else ""))
        return f"meanwhile {what} since {clock} UTC {verb} held back"


def _s(count: int) -> str:
    return "" if count == 1 else "s"


@dataclass(frozen=True)
class Entry:
    sent: float = 0.0        # when the last one was sent (0: never)
    held: int = 0            # held back and not yet told
    first_held: float = 0.0  # when the first of those came (0: none)
    seen: float = 0.0        # when the last one came, sent or held
    pending: float = 0.0     # when a send was claimed and not yet confirmed (0: none)


@dataclass(frozen=True)
class Verdict:
    send: bool
    # What to say was held back: like this one first, then the resource's others.
    held: tuple[Held, ...] = ()
    # When this run claimed the send (0: no state); and the counts HELD tells,
    # by key, taken off when the send is confirmed.
    claim: float = 0.0
    told: tuple[tuple[str, int], ...] = ()

    def note(self, now: float) -> str:
        return "; ".join(held.note(now) for held in self.held)


def key(event: Event) -> Alike | None:
    """What makes two alerts alike; None for those never held back: node,
    fencing, attribute and test alerts (rare, and each one matters)."""
    if event.kind != "resource":
        return None
    fields = [event.node, event.rsc, event.task, event.interval_ms, event.rc, event.status,
              event.target_rc, event.failed]
    return Alike(json.dumps(fields), event.rsc, event.failed)


def _about(text: str) -> tuple[str, bool]:
    """The resource and whether it failed, of key TEXT."""
    fields = json.loads(text)
    if not (isinstance(fields, list) and len(fields) == 8 and isinstance(fields[1], str)
            and isinstance(fields[7], bool)):
        raise ValueError(text)
    return fields[1], fields[7]


def _recent(entry: Entry, interval: float, now: float) -> bool:
    """Whether ENTRY's kind was sent (or is being sent) less than INTERVAL ago."""
    if entry.sent > 0 and 0 <= now - entry.sent < interval:
        return True
    return entry.pending > 0 and 0 <= now - entry.pending < min(interval, PENDING)


def admit(recipient: str, alike: Alike, interval: float, now: float) -> Verdict:
    """Whether the alert ALIKE for RECIPIENT at NOW goes out, and what was held
    back before it; a held one is counted, a sent one claimed (confirm or
    release it after the send)."""
    if interval <= 0:
        return Verdict(send=True)
    try:
        # A success never makes the file: with no failure counted, it is sent.
        with _State(recipient, create=alike.failed) as state:
            entries = state.entries
            old = entries.get(alike.text, Entry())
            failing = alike.failed or any(
                failed and rsc == alike.rsc and 0 <= now - entry.seen < interval
                for (rsc, failed), entry in ((_about(k), e) for k, e in entries.items()))
            if failing and _recent(old, interval, now):
                entries[alike.text] = dataclasses.replace(
                    old, held=old.held + 1, first_held=old.first_held or now, seen=now)
                state.save(now, interval)
                return Verdict(send=False)
            held, told = _untold(alike, entries)
            if failing:  # the kind is counted only while its resource fails
                entries[alike.text] = dataclasses.replace(old, pending=now, seen=now)
            elif not told:
                return Verdict(send=True)
            state.save(now, interval)
            return Verdict(send=True, held=held, claim=now, told=told)
    except (OSError, ValueError):  # a success finding no file among them
        return Verdict(send=True)


def _untold(alike: Alike, entries: dict[str, Entry]) -> tuple[tuple[Held, ...],
                                                               tuple[tuple[str, int], ...]]:
    """What was held back and is told with ALIKE: those like it, then the
    others about its resource (any operation, any node)."""
    held: list[Held] = []
    told: list[tuple[str, int]] = []
    own = entries.get(alike.text)
    if own and own.held:
        held.append(Held(own.held, own.first_held))
        told.append((alike.text, own.held))
    count = failures = 0
    since = math.inf
    for text, entry in entries.items():
        rsc, failed = _about(text)
        if text != alike.text and rsc == alike.rsc and entry.held:
            count += entry.held
            failures += entry.held if failed else 0
            since = min(since, entry.first_held)
            told.append((text, entry.held))
    if count:
        held.append(Held(count, since, alike.rsc, failures))
    return tuple(held), tuple(told)


def confirm(recipient: str, alike: Alike, verdict: Verdict, interval: float) -> None:
    """After VERDICT's alert was sent: it counts as sent at its claim, and
    what it told is no longer held (what came since stays counted)."""
    if not verdict.claim:
        return
    try:
        with _State(recipient) as state:
            mine = state.entries.get(alike.text)
            if mine is not None:
                state.entries[alike.text] = dataclasses.replace(
                    mine, sent=max(mine.sent, verdict.claim),
                    pending=0.0 if mine.pending == verdict.claim else mine.pending)
            for text, count in verdict.told:
                if (entry := state.entries.get(text)) is not None:
                    left = max(0, entry.held - count)
                    state.entries[text] = dataclasses.replace(
                        entry, held=left,
                        first_held=max(entry.first_held, verdict.claim) if left else 0.0)
            state.save(verdict.claim, interval)
    except (OSError, ValueError):
        pass


def release(recipient: str, alike: Alike, verdict: Verdict, now: float,
            interval: float) -> None:
    """After VERDICT's alert could not be sent: it is counted as held back,
    its claim dropped, so the next one like it goes out and tells it (with
    what was held back before and while it was tried)."""
    if not verdict.claim:
        return
    try:
        with _State(recipient) as state:
            mine = state.entries.get(alike.text, Entry(seen=now))
            state.entries[alike.text] = dataclasses.replace(
                mine, held=mine.held + 1,
                first_held=min(mine.first_held, now) if mine.first_held else now,
                pending=0.0 if mine.pending == verdict.claim else mine.pending)
            state.save(now, interval)
    except (OSError, ValueError):
        pass


def state_path(recipient: str) -> str:
    name = hashlib.sha256(recipient.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return os.path.join(STATE_DIR, f"{name}.json")


class _State:
    """The recipient's file, locked, read into ENTRIES (empty if it was
    corrupt: it is replaced on save); made if missing when CREATE."""

    def __init__(self, recipient: str, create: bool = True) -> None:
        self.path = state_path(recipient)
        self.create = create
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
                              os.O_RDWR | (os.O_CREAT if self.create else 0) | os.O_NOFOLLOW
                              | os.O_CLOEXEC, 0o600,
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
        data = json.dumps({k: [v.sent, v.held, v.first_held, v.seen, v.pending]
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
        try:
            _about(alike)
        except ValueError:
            return {}
        if not (isinstance(value, list) and len(value) == 5
                and all(isinstance(v, int | float) and not isinstance(v, bool)
                        and math.isfinite(v) for v in value)
                and isinstance(value[1], int) and value[1] >= 0):
            return {}
        sent, held, first_held, seen, pending = value
        entries[alike] = Entry(float(sent), int(held), float(first_held), float(seen),
                               float(pending))
    return entries
