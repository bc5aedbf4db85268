"""Configuration that arrives is configuration in use.

The file sync (or an administrator's rsync, or a shared folder) changes files
in Asterisk's configuration folder on a standby; nothing there tells Asterisk.
The agent compares the newest modification time in that folder with the one
it recorded when Asterisk last loaded it, and reloads what changed: on every
standby monitor once the files have been quiet for SETTLE seconds (a sync in
progress is not loaded half-way), and on promote at once, so the new active
serves the newest dialplan.

Watching from the agent rather than from a receive hook of the sync means it
works whatever brought the files, costs one folder walk per monitor (about a
millisecond for a FreePBX tree) and needs no second channel into Asterisk.

Files whose module is known are reloaded with ``module reload MODULE``, which
reports a module that refuses its new configuration (a dialplan that does not
parse keeps the old one running); any other file gets ``core reload``.
"""

from __future__ import annotations

import os
import time

from ocf_agents.clients.asterisk_cli import AsteriskCli

SETTLE = 2.0

# File name prefix -> module that reads it (longest prefix first). FreePBX's
# extensions_additional.conf, pjsip.endpoint.conf etc. share the prefixes.
MODULES = (
    ("pjsip_notify", "res_pjsip_notify.so"),
    ("extensions", "pbx_config.so"),
    ("pjsip", "res_pjsip.so"),
    ("queues", "app_queue.so"),
    ("voicemail", "app_voicemail.so"),
    ("musiconhold", "res_musiconhold.so"),
    ("manager", "manager"),
    ("res_odbc", "res_odbc.so"),
    ("cdr_adaptive_odbc", "cdr_adaptive_odbc.so"),
)


def _ignored(name: str) -> bool:
    """Editor droppings and the backups sip-ha and editors leave beside files."""
    return name.startswith(".") or name.endswith(("~", ".swp", ".bak", ".tmp"))


def changed_since(folder: str, mark: int) -> tuple[list[str], int]:
    """Files under FOLDER modified after MARK (ns), relative, and the newest
    modification time seen (MARK if none is newer)."""
    changed, newest = [], mark
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            if _ignored(entry.name):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                    continue
                stamp = entry.stat().st_mtime_ns
            except OSError:
                continue
            if stamp > mark:
                changed.append(os.path.relpath(entry.path, folder))
                newest = max(newest, stamp)
    return sorted(changed), newest


def module_of(path: str) -> str | None:
    name = os.path.basename(path)
    if not name.endswith(".conf"):
        return None
    return next((module for prefix, module in MODULES if name.startswith(prefix)), None)


def reload(cli: AsteriskCli, changed: list[str]) -> list[str]:
    """Load CHANGED into the running Asterisk; what it refused, in words."""
    modules = sorted({module for path in changed if (module := module_of(path)) is not None})
    if any(module_of(path) is None for path in changed):
        cli.command("core reload", timeout=max(cli.timeout, 10))
    if not modules:
        return []
    output = cli.command(f"module reload {' '.join(modules)}", timeout=max(cli.timeout, 10))
    refused = [line.split("'")[1] for line in output.splitlines()
               if "reload failure" in line and line.count("'") >= 2]
    files = {module: [path for path in changed if module_of(path) == module]
             for module in refused}
    return [f"{module} refused {', '.join(files[module])}" for module in refused]


class Loaded:
    """What the running Asterisk has loaded: the newest file time (ns) it read
    and what it refused of it (empty: all taken).  A plain class: dataclasses
    would cost every monitor about 8 ms of imports (inspect, re)."""

    __slots__ = ("mark", "problem")

    def __init__(self, mark: int, problem: str = "") -> None:
        self.mark, self.problem = mark, problem

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Loaded)
                and (self.mark, self.problem) == (other.mark, other.problem))

    def __hash__(self) -> int:
        return hash((self.mark, self.problem))

    def __repr__(self) -> str:
        return f"Loaded({self.mark}, {self.problem!r})"

    @classmethod
    def read(cls, path: str) -> Loaded | None:
        try:
            with open(path, encoding="utf-8") as handle:
                mark, _, problem = handle.read().rstrip("\n").partition("\t")
            return cls(int(mark), problem)
        except (FileNotFoundError, ValueError):
            return None

    def save(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            handle.write(f"{self.mark}\t{self.problem}\n")
        os.replace(path + ".tmp", path)


def newest(folder: str) -> int:
    return changed_since(folder, 0)[1]


def freshen(cli: AsteriskCli, folder: str, state: str, settle: float) -> tuple[Loaded, str]:
    """Reload what changed in FOLDER since the state in STATE, once the newest
    change is SETTLE seconds old. Returns the new state and what was done
    ("" when nothing)."""
    loaded = Loaded.read(state)
    if loaded is None:  # started before this agent version: assume loaded
        loaded = Loaded(newest(folder))
        loaded.save(state)
        return loaded, ""
    changed, mark = changed_since(folder, loaded.mark)
    if not changed or time.time_ns() - mark < settle * 1e9:
        return loaded, ""
    refused = reload(cli, changed)
    # A refusal stands until its module has taken a later change.
    reloaded = {module_of(path) for path in changed}
    kept = [old for old in loaded.problem.split("; ") if old and old.split()[0] not in reloaded]
    now = Loaded(mark, "; ".join(kept + refused))
    now.save(state)
    done = f"reloaded {len(changed)} changed file(s): {', '.join(changed[:5])}" + (
        " ..." if len(changed) > 5 else "")
    return now, done
