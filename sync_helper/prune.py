"""Old backups go, on the node that holds them.

Each node prunes its own ``backup_dir``: a dated folder (a ``backup_stamp``
name, the moment its transfer started) once it is older than
``backup_keep_days`` (0 keeps them all), and sooner one that holds no file,
which rrsync 3.5 makes for every confined push before it knows whether
anything will be replaced, once no transfer can still be writing into it.

Nothing else is touched: only folders directly in the backup folder with a
stamp name, reached without following a symlink (the backup folder's own
path follows only symlinks root owns, as a watched folder's does), and
removed through descriptors (``shutil.rmtree`` with ``dir_fd``), which never
follow a symlink inside either.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from sync_helper.errors import SyncError
from sync_helper.rsync_argv import backup_stamp_time
from sync_helper.stage import open_folder

DAY = 86400.0
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def empty_after(timeout: float) -> float:
    """How old a dated folder holding no file must be before it goes: older
    than any transfer may run (its timeout and a margin), and an hour at least."""
    return max(3600.0, 2 * timeout)


def prune(backup_dir: Path, keep_days: float, now: float, empty_for: float,
          dry_run: bool = False) -> list[str]:
    """The names of the dated folders removed (with ``dry_run``: that would be)."""
    try:
        fd = _open(backup_dir)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise SyncError(f"cannot prune {backup_dir}: {exc.strerror or exc}") from None
    try:
        gone = [name for name in sorted(os.listdir(fd))
                if _expired(fd, name, keep_days * DAY, now, empty_for)]
        if not dry_run:
            for name in gone:
                shutil.rmtree(name, dir_fd=fd)
    except OSError as exc:
        raise SyncError(f"cannot prune {backup_dir}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return gone


def _open(folder: Path) -> int:
    top = open_folder(folder)
    try:
        return os.open(".", _DIR, dir_fd=top)
    finally:
        os.close(top)


def _expired(fd: int, name: str, keep: float, now: float, empty_for: float) -> bool:
    made = backup_stamp_time(name)
    if made is None:
        return False
    try:
        if not stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
            return False
    except FileNotFoundError:
        return False
    age = now - made
    if keep and age > keep:
        return True
    return age > empty_for and _holds_no_file(fd, name)


def _holds_no_file(parent: int, name: str) -> bool:
    """Only folders below (a symlink is something kept, and is not followed)."""
    fd = os.open(name, _DIR, dir_fd=parent)
    try:
        with os.scandir(fd) as entries:
            return all(entry.is_dir(follow_symlinks=False) and _holds_no_file(fd, entry.name)
                       for entry in entries)
    finally:
        os.close(fd)
