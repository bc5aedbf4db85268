"""Argument lists for rsync over ssh (or to a mounted target's local path),
and parsers for what rsync prints.

Only argument lists: no shell ever sees a path. rsync splits the ``-e`` value
on white space itself, which is why the configuration refuses white space in
every path that goes into it.
"""

from __future__ import annotations

import calendar
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sync_helper import multiplex
from sync_helper.config import Peer, SshSettings, SyncConfig
from sync_helper.paths import Entry, Listing

# rsync prints the remote file's time in the client's zone: run it in UTC.
RSYNC_ENV = {"TZ": "UTC"}
LIST_FORMAT = "%i|%M|%l|%n"
CHANGE_FORMAT = "%i|%n"
_ESCAPE = re.compile(rb"\\#([0-7]{3})")
_STAMP = re.compile(r"([0-9]{8}T[0-9]{6})\.([0-9]{6})Z")


def ssh_options(settings: SshSettings) -> list[str]:
    """How every SIP-HA ssh between nodes (the sync, ``sip-ha copy-config``
    and ``sip-ha logs``) checks: it never asks, and takes only a host key it
    knows; given on the command line, so no ssh_config can loosen it."""
    argv = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={settings.connect_timeout}",
            "-o", f"StrictHostKeyChecking={settings.strict_host_key_checking}"]
    if settings.identity_file:
        argv += ["-o", "IdentitiesOnly=yes", "-i", settings.identity_file]
    if settings.known_hosts_file:
        argv += ["-o", f"UserKnownHostsFile={settings.known_hosts_file}"]
    return argv


def ssh_command(settings: SshSettings, peer: Peer) -> list[str]:
    return [settings.ssh, *ssh_options(settings), "-p", str(peer.port)]


def _common(config: SyncConfig, peer: Peer) -> list[str]:
    argv = [config.rsync, "--archive", "--relative", "--from0", "--8-bit-output",
            f"--timeout={max(int(config.timeout), 1)}"]
    if peer.mount is None:
        ssh = [*ssh_command(config.ssh, peer), *multiplex.options(config.ssh, peer)]
        argv += ["-e", " ".join(ssh)]
    if config.bwlimit:
        argv.append(f"--bwlimit={config.bwlimit}")
    return argv


def remote(peer: Peer, path: Path) -> str:
    """PATH on PEER as rsync names it: a mounted target's is a local path
    (absolute, so rsync never reads a colon in it as a host's)."""
    where = f"{str(path).rstrip('/')}/"
    return where if peer.mount is not None else f"{peer.address()}:{where}"


def local(path: Path) -> str:
    return f"{str(path).rstrip('/')}/"


def listing_argv(config: SyncConfig, peer: Peer, folder: Path, files_from: Path | None,
                 empty_dir: Path) -> list[str]:
    """A dry run from the peer into an empty folder: prints every peer object
    with its time and size (the whole folder when ``files_from`` is None,
    with the trees of listed folders otherwise)."""
    argv = [*_common(config, peer), "--dry-run", "--recursive", "--ignore-missing-args",
            f"--out-format={LIST_FORMAT}"]
    source = remote(peer, peer.destination(folder))
    if files_from is not None:
        argv.append(f"--files-from={files_from}")
    else:
        source += "./"  # with --relative, names start after "/./"
    return [*argv, source, local(empty_dir)]


@dataclass(frozen=True)
class Transfer:
    """One rsync run: copy (or, with ``delete``, move into the backup folder)
    the listed paths of one folder, from source to destination.  A push
    reads them from ``stage`` (see sync_helper.stage), never from the folder."""

    folder: Path
    files_from: Path
    backup_dir: Path
    delete: bool = False
    stage: Path | None = None


def push_argv(config: SyncConfig, peer: Peer, transfer: Transfer) -> list[str]:
    if transfer.stage is None:
        raise ValueError("a push sends from its stage, never from the watched folder")
    # --checksum: what the planner sends may match the peer's copy in size and
    # whole-second time (a second write in the same second), which rsync's
    # quick check would skip; only the files planned are compared.
    return [*_transfer_options(config, peer, transfer), "--checksum", *_as_peer_user(peer),
            local(transfer.stage), remote(peer, peer.destination(transfer.folder))]


def _as_peer_user(peer: Peer) -> list[str]:
    """A peer user other than root owns all it receives, and cannot change
    the mode or time of a folder or file another user owns there (a root
    sync's folder): rsync would try, fail, and fail the whole push.  So the
    peer keeps the modes it has; a new file takes ours less its umask."""
    return [] if peer.user == "root" else ["--no-perms", "--omit-dir-times"]


def pull_argv(config: SyncConfig, peer: Peer, transfer: Transfer) -> list[str]:
    return [*_transfer_options(config, peer, transfer),
            remote(peer, peer.destination(transfer.folder)), local(transfer.folder)]


def _transfer_options(config: SyncConfig, peer: Peer, transfer: Transfer) -> list[str]:
    argv = [*_common(config, peer), "--mkpath", f"--files-from={transfer.files_from}",
            "--backup", f"--backup-dir={transfer.backup_dir}", "--suffix=",
            f"--out-format={CHANGE_FORMAT}"]
    if transfer.delete:
        # a listed path missing on the source is removed on the destination,
        # folders with their contents: each one moved into the backup folder
        argv += ["--delete-missing-args", "--force"]
    else:
        argv.append("--ignore-missing-args")
    return argv


def backup_dir(base: Path, stamp: str, folder: Path) -> Path:
    """``<base>/<stamp>/<folder>``: one dated folder per transfer, mirroring
    the watched folder's path so a file can be put back where it was."""
    return base / stamp / str(folder).lstrip("/")


def backup_stamp(now: float | None = None) -> str:
    """Sorts by time; microseconds keep two transfers in one second apart."""
    now = time.time() if now is None else now
    whole = int(now)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(whole)) + f".{int((now - whole) * 1e6):06d}Z"


def backup_stamp_time(name: str) -> float | None:
    """The moment a ``backup_stamp`` name stands for; None for any other name."""
    match = _STAMP.fullmatch(name)
    if match is None:
        return None
    try:
        whole = calendar.timegm(time.strptime(match.group(1), "%Y%m%dT%H%M%S"))
    except ValueError:
        return None
    return whole + int(match.group(2)) / 1e6


def _unescape(name: str) -> str:
    """rsync writes control characters in names as ``\\#ooo`` (octal), each
    escape one byte; a name is bytes, not-UTF-8 ones held as surrogates."""
    raw = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), os.fsencode(name))
    return os.fsdecode(raw)


def parse_listing(stdout: str) -> Listing:
    """Parse ``LIST_FORMAT`` lines: ``%i|YYYY/MM/DD-HH:MM:SS|size|name``."""
    listing: Listing = {}
    for line in stdout.splitlines():
        parts = line.split("|", 3)
        if len(parts) != 4 or len(parts[0]) < 2:
            continue
        items, when, size, name = parts
        name = _unescape(name).rstrip("/")
        if not name or name == ".":
            continue
        kind = {"f": "f", "d": "d", "L": "l"}.get(items[1], "o")
        try:
            mtime = calendar.timegm(time.strptime(when, "%Y/%m/%d-%H:%M:%S"))
        except ValueError:
            continue
        listing[name] = Entry(kind, mtime, int(size) if kind != "d" else 0)
    return listing


@dataclass(frozen=True)
class Changes:
    created: tuple[str, ...]
    replaced: tuple[str, ...]
    removed: tuple[str, ...]


def parse_changes(stdout: str) -> Changes:
    """Parse ``CHANGE_FORMAT`` lines: new objects, replaced files (whose
    previous version went to the backup folder), removed objects."""
    created: list[str] = []
    replaced: list[str] = []
    removed: list[str] = []
    for line in stdout.splitlines():
        if line.startswith("*deleting"):
            removed.append(_unescape(line.split("|", 1)[-1].strip()).rstrip("/"))
            continue
        parts = line.split("|", 1)
        if len(parts) != 2 or len(parts[0]) < 3:
            continue
        items, name = parts
        name = _unescape(name).rstrip("/")
        if items[0] not in "<>c" or name in ("", "."):
            continue
        if "+++" in items:
            if items[1] != "d":
                created.append(name)
        elif items[0] in "<>" or items[2] == "c":
            replaced.append(name)
    return Changes(tuple(created), tuple(replaced), tuple(removed))


def write_file_list(path: Path, names: Sequence[str]) -> None:
    """NUL-separated, for ``--files-from`` with ``--from0``."""
    path.write_bytes(b"".join(os.fsencode(n) + b"\0" for n in names))
