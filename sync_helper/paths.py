"""Which paths are synced: filters, the safe mapping of a path to its watched
folder, and listings of the local side."""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sync_helper.errors import PathEscapeError


@dataclass(frozen=True)
class Entry:
    """One file system object as both sides can describe it: kind ``f`` (file),
    ``d`` (folder), ``l`` (symlink) or ``o`` (other); whole-second mtime."""

    kind: str
    mtime: int
    size: int

    def same_content_as(self, other: Entry) -> bool:
        if self.kind != other.kind:
            return False
        if self.kind == "d":
            return True
        return self.mtime == other.mtime and self.size == other.size


Listing = dict[str, Entry]


@dataclass(frozen=True)
class Filters:
    """Glob patterns matched against the path relative to its folder and
    against the file name; an exclude wins over an include; no include
    means everything."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def wanted(self, relative: str) -> bool:
        parts = PurePosixPath(relative).parts
        for part in parts[:-1]:  # a file inside an excluded folder is excluded
            if self._matches(self.exclude, part, part):
                return False
        name = parts[-1] if parts else relative
        if self._matches(self.exclude, relative, name):
            return False
        return not self.include or self._matches(self.include, relative, name)

    def wanted_folder(self, relative: str) -> bool:
        """A folder is walked unless excluded (includes choose files, not folders)."""
        return not any(self._matches(self.exclude, part, part)
                       for part in PurePosixPath(relative).parts)

    @staticmethod
    def _matches(patterns: Iterable[str], relative: str, name: str) -> bool:
        return any(fnmatch.fnmatchcase(relative, p) or fnmatch.fnmatchcase(name, p)
                   for p in patterns)


def locate(path: str | Path, folders: Iterable[Path]) -> tuple[Path, str]:
    """The watched folder holding ``path`` and the path relative to it.

    ``..`` is resolved first, and the folder holding the path must really be
    inside the watched folder once symlinks are followed, so neither can
    reach outside. The path itself may be a symlink: rsync copies the link,
    not what it points to.
    """
    raw = str(path)
    if not raw.startswith("/"):
        raise PathEscapeError(f"{raw!r} is not an absolute path")
    normal = Path(os.path.normpath(raw))
    for folder in folders:
        if normal == folder:
            raise PathEscapeError(f"{raw} is a watched folder itself; name a path inside it")
        if not normal.is_relative_to(folder):
            continue
        real_folder = Path(os.path.realpath(folder))
        real_parent = Path(os.path.realpath(normal.parent))
        if not real_parent.is_relative_to(real_folder):
            raise PathEscapeError(
                f"{raw} leads outside the watched folder {folder} (through a symlink)")
        return folder, normal.relative_to(folder).as_posix()
    listed = ", ".join(str(f) for f in folders)
    raise PathEscapeError(f"{raw} is not inside a watched folder ({listed})")


def describe(path: Path) -> Entry | None:
    """The local object at ``path`` (not following a final symlink), or None."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    return entry_of(info)


def entry_of(info: os.stat_result) -> Entry:
    if stat.S_ISREG(info.st_mode):
        kind = "f"
    elif stat.S_ISDIR(info.st_mode):
        kind = "d"
    elif stat.S_ISLNK(info.st_mode):
        kind = "l"
    else:
        kind = "o"
    return Entry(kind, int(info.st_mtime), info.st_size if kind != "d" else 0)


def list_local(folder: Path, filters: Filters, under: Iterable[str] | None = None) -> Listing:
    """Everything wanted in ``folder`` (or only the given relative paths, with
    the whole tree of those that are folders)."""
    listing: Listing = {}
    starts = [""] if under is None else list(under)
    for start in starts:
        top = folder / start if start else folder
        entry = describe(top)
        if entry is None:
            continue
        if start and (filters.wanted(start) or
                      (entry.kind == "d" and filters.wanted_folder(start))):
            listing[start] = entry
        if entry.kind != "d":
            continue
        for current, dirs, files in os.walk(top):
            base = Path(current).relative_to(folder).as_posix()
            base = "" if base == "." else base
            kept_dirs = []
            for name in sorted(dirs):
                relative = f"{base}/{name}" if base else name
                if not filters.wanted_folder(relative):
                    continue
                found = describe(Path(current) / name)
                if found is not None:
                    listing[relative] = found
                    if found.kind == "d":
                        kept_dirs.append(name)
            dirs[:] = kept_dirs
            for name in files:
                relative = f"{base}/{name}" if base else name
                if filters.wanted(relative):
                    found = describe(Path(current) / name)
                    if found is not None:
                        listing[relative] = found
    return listing
