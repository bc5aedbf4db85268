"""What to do with each path: pure decisions, no I/O.

Inputs are the source's and the destination's listings of one folder, the
versions both last agreed on (the ledger), and the paths to consider. Rules:

- same time and size on both sides: in sync, nothing to do;
- only on the source: send;
- different: send (the destination's version goes to its backup folder),
  unless the destination changed it after the last sync (or, with no
  record, has a newer one): a conflict, reported and left alone;
- only on the destination: move it into the backup folder there when the
  source removed it (the destination still has the version last synced); a
  conflict when the destination changed it since; left alone ("kept") when
  the ledger has no record of it, even when the removal of it or of its
  folder was observed here: it was never synced, so it is the destination's;
- a folder only on the destination goes when everything in it goes (an
  empty one when its removal was observed here);
- a folder on one side and a file on the other: always a conflict;
- ``force`` turns every conflict and every kept file into send/remove; the
  backup folder still keeps the destination's version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sync_helper.paths import Entry, Listing


@dataclass(frozen=True)
class Conflict:
    path: str
    reason: str


@dataclass
class Plan:
    send: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    in_sync: dict[str, Entry] = field(default_factory=dict)
    forget: set[str] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        return not (self.send or self.remove)


def _ancestors(path: str) -> Iterable[str]:
    parts = path.split("/")
    for end in range(1, len(parts)):
        yield "/".join(parts[:end])


def expand(candidates: Iterable[str], *listings: Listing) -> set[str]:
    """The candidates plus everything either side has beneath them."""
    wanted = set(candidates)
    found = set(wanted)
    for listing in listings:
        for name in listing:
            if name not in found and any(a in wanted for a in _ancestors(name)):
                found.add(name)
    return found


def plan(source: Listing, destination: Listing, agreed: dict[str, Entry],
         candidates: Iterable[str], *, observed: bool, force: bool = False) -> Plan:
    """Decide for every candidate path (and what lies beneath it).

    ``observed``: the candidates come from events seen on the source, so a
    path missing there was removed there.  That alone removes only an empty
    folder: a file goes only as the version the ledger recorded (a file the
    destination alone ever had is its own, event or not).
    """
    result = Plan()
    removable: set[str] = set()
    dest_only_dirs: list[str] = []
    for name in sorted(expand(candidates, source, destination)):
        here, there, base = source.get(name), destination.get(name), agreed.get(name)
        if here is None and there is None:
            if base is not None:
                result.forget.add(name)
        elif here is not None and there is not None and (here.kind == "d") != (
                there.kind == "d"):
            kinds = "a folder here and a file there" if here.kind == "d" else \
                "a file here and a folder there"
            result.conflicts.append(Conflict(name, f"{kinds}; resolve by hand"))
        elif here is not None and here.kind == "d":
            if there is None:
                result.send.append(name)
        elif here is not None:
            _decide_changed(name, here, there, base, force, observed, result)
        elif there is not None and there.kind == "d":
            dest_only_dirs.append(name)
        elif there is not None:
            _decide_removed(name, there, base, force, result, removable)
    _remove_folders(dest_only_dirs, destination, observed, force, removable, result)
    return result


def _decide_changed(name: str, here: Entry, there: Entry | None, base: Entry | None,
                    force: bool, observed: bool, result: Plan) -> None:
    if there is None:
        result.send.append(name)
    elif here.same_content_as(there):
        # A change the watcher saw on a file the destination holds as last
        # sent: a second write in the same second, of the same size, looks
        # the same in the listings (whole seconds), so it is sent anyway;
        # the push compares content (--checksum) and sends only a real change.
        if observed and base is not None and there.same_content_as(base):
            result.send.append(name)
        else:
            result.in_sync[name] = here
    elif force or (base is not None and there.same_content_as(base)):
        result.send.append(name)
    elif base is not None and there.mtime > base.mtime:
        result.conflicts.append(Conflict(name, "changed on the destination after the last sync"))
    elif base is None and there.mtime > here.mtime:
        result.conflicts.append(Conflict(name, "newer on the destination, never synced"))
    else:
        result.send.append(name)


def _decide_removed(name: str, there: Entry, base: Entry | None, force: bool, result: Plan,
                    removable: set[str]) -> None:
    if force or (base is not None and there.same_content_as(base)):
        removable.add(name)
    elif base is not None:
        result.conflicts.append(
            Conflict(name, "removed here, changed on the destination since the last sync"))
    else:
        result.kept.append(name)


def _remove_folders(folders: list[str], destination: Listing, observed: bool, force: bool,
                    removable: set[str], result: Plan) -> None:
    for folder in sorted(folders, key=lambda f: -f.count("/")):
        inside = [n for n in destination if n.startswith(f"{folder}/")]
        if all(n in removable for n in inside) and (inside or observed or force):
            removable.add(folder)
        elif not inside:
            result.kept.append(folder)
    # a removed folder takes its contents with it (each one into the backup)
    result.remove = sorted(n for n in removable
                           if not any(a in removable for a in _ancestors(n)))
