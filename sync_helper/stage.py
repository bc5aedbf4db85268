"""What a push sends, pinned in a private stage before rsync reads it.

rsync resolves every name it sends by path, as root.  A user who can write in
a watched folder (the asterisk user in /etc/asterisk) could replace a folder
in that path with a symlink between the planning of a push and the transfer,
and have files from under a root-only folder elsewhere sent to every peer
(rsync 3.2.7 follows any such symlink; 3.5 one that root owns).  No rsync
option stops the sender from following a symlink in the middle of a path, and
running rsync as the folder's owner fails on mixed-owner trees.

So rsync never reads a watched folder.  Each name is reached by an ``openat``
walk from the folder that refuses a symlink in every component but the last
(``O_NOFOLLOW``), and what it reaches is put into a stage under the state
folder: a regular file as a hard link to the very inode reached (a copy when
the stage is on another file system), a symlink, folder or special file
re-created, each with the same owner, mode and times (rsync sends the folders
of a path with their attributes too).  rsync then sends from the stage, every
folder of which this process made inside a root-only one.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sync_helper.errors import PathEscapeError
from sync_helper.paths import Entry, Listing, entry_of

_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_SYMLINK_HOPS = 40
SWAPPED = "a folder in its path is no longer a folder (a symlink put in its place?)"


def open_folder(folder: Path) -> int:
    """An ``O_PATH`` descriptor of a watched folder.  A symlink on the way is
    followed only when root (or this process's user) owns it: the folder's
    own path may pass through a folder the service user can write
    (/var/spool/asterisk/voicemail), where it could plant one."""
    trusted = {0, os.geteuid()}
    fd = os.open("/", _DIR)
    parts = [p for p in str(folder).split("/") if p]
    hops = 0
    try:
        while parts:
            name = parts.pop(0)
            if name == ".":
                continue
            try:
                step = os.open(name, _DIR, dir_fd=fd)
            except NotADirectoryError:
                link = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                try:
                    info = os.fstat(link)
                    if not stat.S_ISLNK(info.st_mode) or info.st_uid not in trusted:
                        raise PathEscapeError(f"watched folder {folder}: {name} is not a folder "
                                              "or a symlink that root owns") from None
                    target = os.readlink("", dir_fd=link)
                finally:
                    os.close(link)
                hops += 1
                if hops > _SYMLINK_HOPS:
                    raise PathEscapeError(f"watched folder {folder}: too many symlinks") from None
                parts[:0] = [p for p in target.split("/") if p]
                if target.startswith("/"):
                    step = os.open("/", _DIR)
                else:
                    continue
            os.close(fd)
            fd = step
    except BaseException:
        os.close(fd)
        raise
    return fd


@dataclass
class Staged:
    """What the stage holds (by name, as the ledger records it) and the names
    left out, with the reason."""

    entries: Listing = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)


class Stage:
    """A private tree mirroring the chosen names of one watched folder."""

    def __init__(self, folder: Path, root: Path) -> None:
        self.folder = folder
        self.root = root
        self._folders: dict[Path, os.stat_result] = {}

    def add(self, names: Iterable[str], *, parents_only: bool = False) -> Staged:
        """Stage each name (with ``parents_only``, only the folders of its path:
        what a removal needs, the removed names themselves missing)."""
        staged = Staged()
        top = open_folder(self.folder)
        try:
            self._mirror(self.root, os.fstat(top))
            for name in names:
                parts = name.split("/")
                if any(part in ("", ".", "..") for part in parts):
                    staged.refused[name] = "not a plain relative path"
                    continue
                try:
                    entry = self._add(top, parts, parents_only)
                except FileNotFoundError:
                    continue  # vanished: its removal is an event of its own
                except (NotADirectoryError, _Swapped):
                    staged.refused[name] = SWAPPED
                    continue
                except OSError as err:
                    staged.refused[name] = err.strerror or str(err)
                    continue
                if entry is not None:
                    staged.entries[name] = entry
        finally:
            os.close(top)
        self._finish()
        return staged

    def _add(self, top: int, parts: list[str], parents_only: bool) -> Entry | None:
        fd, where = top, self.root
        try:
            for part in parts[:-1]:
                step = os.open(part, _DIR, dir_fd=fd)
                if fd != top:
                    os.close(fd)
                fd, where = step, where / part
                self._mirror(where, os.fstat(fd))
            if parents_only:
                return None
            return self._put(fd, parts[-1], where / parts[-1])
        finally:
            if fd != top:
                os.close(fd)

    def _put(self, parent: int, name: str, target: Path) -> Entry:
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                self._mirror(target, info)
            elif stat.S_ISREG(info.st_mode):
                _file(fd, info, target)
            elif stat.S_ISLNK(info.st_mode):
                os.symlink(os.readlink("", dir_fd=fd), target)
                _attributes(target, info)
            else:
                os.mknod(target, info.st_mode, info.st_rdev)
                _attributes(target, info)
        finally:
            os.close(fd)
        return entry_of(info)

    def _mirror(self, where: Path, info: os.stat_result) -> None:
        if where in self._folders:
            return
        if where != self.root:
            os.mkdir(where, 0o700)
        self._folders[where] = info
        _owner(where, info)

    def _finish(self) -> None:
        # modes and times last: writing into a folder changes its time
        for where in sorted(self._folders, key=lambda p: -len(p.parts)):
            info = self._folders[where]
            os.chmod(where, stat.S_IMODE(info.st_mode))
            os.utime(where, ns=(info.st_atime_ns, info.st_mtime_ns))


class _Swapped(Exception):
    pass


def _file(fd: int, info: os.stat_result, target: Path) -> None:
    """A hard link to the inode reached; a copy of it when that cannot be."""
    fds = os.open("/proc/self/fd", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        # linkat(AT_SYMLINK_FOLLOW) through the magic link: the inode itself
        os.link(str(fd), target, src_dir_fd=fds, follow_symlinks=True)
        return
    except OSError:
        pass  # another file system, or not allowed (protected_hardlinks): copy
    finally:
        os.close(fds)
    source = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        if os.fstat(source).st_ino != info.st_ino:
            raise _Swapped
        copy = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with open(source, "rb", closefd=False) as reader, \
                    open(copy, "wb", closefd=False) as writer:
                shutil.copyfileobj(reader, writer)
        finally:
            os.close(copy)
    finally:
        os.close(source)
    _attributes(target, info)


def _owner(path: Path, info: os.stat_result) -> None:
    try:
        os.chown(path, info.st_uid, info.st_gid, follow_symlinks=False)
    except PermissionError:
        pass  # not root: rsync does not send owners then either


def _attributes(path: Path, info: os.stat_result) -> None:
    _owner(path, info)
    if not stat.S_ISLNK(info.st_mode):
        os.chmod(path, stat.S_IMODE(info.st_mode))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns), follow_symlinks=False)
