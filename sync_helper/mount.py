"""A sync target that is a mounted path (an NFS or NAS export), and the
check that it is really there before anything is written into it.

An export that is not mounted leaves an empty folder, the mountpoint, on the
node's own disk: rsync would fill it, and the node's disk, without a word.
So before every listing and every transfer the target must be:

- a mountpoint (an entry of ``/proc/self/mountinfo``, which reading costs
  no access to the export, so it cannot hang on a dead NFS server);
- when ``fstype`` is set, of that file system type (``nfs4``, ``cifs``...):
  something else mounted there (a local disk, a tmpfs) is not the target;
- when ``marker`` is set, holding that file, which the administrator placed
  once at the top of the export: the right export, not another one of the
  same type, nor one whose contents were lost.  Looking for it touches the
  export, so it gets a deadline (a hard NFS mount of a dead server blocks).

A check that fails is a failed sync with that peer, reported as every other
(sync_helper.health), never written around.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
FSTYPE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
MARKER = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,254}")
_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class MountTarget:
    path: Path
    fstype: str = ""
    marker: str = ""


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def mounted_type(path: Path, mountinfo: Path = MOUNTINFO) -> str | None:
    """The file system type mounted at PATH (the last mount there, the one
    in sight), or None when PATH is not a mountpoint."""
    found = None
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as handle:
        for line in handle:
            before, sep, after = line.partition(" - ")
            fields = before.split()
            if not sep or len(fields) < 5 or not after.split():
                continue
            if _unescape(fields[4]) == str(path):
                found = after.split()[0]
    return found


class _Probe:
    """One look for a file, in a daemon thread: a stat blocked on a dead hard
    NFS mount cannot be interrupted, and must not keep the sync (or its exit)
    waiting."""

    def __init__(self, path: Path) -> None:
        self.answer: list[bool] = []
        self.thread = threading.Thread(target=lambda: self.answer.append(path.is_file()),
                                       daemon=True)
        self.thread.start()


# At most one probe a path: the watcher checks on every push, resync and
# prune, and each probe left blocked on a hung mount would be a thread for good.
_PROBES: dict[Path, _Probe] = {}
_PROBES_LOCK = threading.Lock()


def _exists_within(path: Path, timeout: float) -> bool | None:
    """Whether PATH is a file; None when the file system did not answer in
    time, or still has not answered an earlier look."""
    with _PROBES_LOCK:
        probe = _PROBES.get(path)
        if probe is not None and probe.thread.is_alive():
            return None
        probe = _PROBES[path] = _Probe(path)
    probe.thread.join(timeout)
    return probe.answer[0] if probe.answer else None


def problem(target: MountTarget, timeout: float, mountinfo: Path = MOUNTINFO) -> str:
    """Why TARGET must not be written into now; empty when it may."""
    try:
        fstype = mounted_type(target.path, mountinfo)
    except OSError as exc:
        return f"cannot read {mountinfo}: {exc.strerror}"
    if fstype is None:
        return f"{target.path} is not mounted (nothing written into the empty mountpoint)"
    if target.fstype and fstype != target.fstype:
        return f"{target.path} is a {fstype} mount, not the {target.fstype} expected"
    if target.marker:
        marker = target.path / target.marker
        found = _exists_within(marker, timeout)
        if found is None:
            return f"{target.path} did not answer within {timeout:g}s"
        if not found:
            return f"{marker} is missing: not the export this sync writes to"
    return ""
