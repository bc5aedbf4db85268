"""Runs the plans: push changed paths to every peer, or resync whole folders
in either direction, with the same protection every time.

Every rsync run gets a fresh backup folder named for the moment it starts
(on the receiving side), so nothing a transfer replaces or removes is lost.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from sipha_runtime.run import CommandError, Completed, Runner
from sync_helper import multiplex, rsync_argv
from sync_helper.config import Peer, SyncConfig
from sync_helper.errors import ConfigError, PathEscapeError, RoleError
from sync_helper.ledger import Ledger
from sync_helper.mount import MOUNTINFO, problem
from sync_helper.paths import Entry, Filters, Listing, describe, list_local, locate
from sync_helper.planner import Conflict, Plan, plan
from sync_helper.report import PeerReport, SyncReport, printable
from sync_helper.role import ACTIVE, RoleSource
from sync_helper.stage import Stage, Staged

# 24: some source files vanished before they could be sent; the next event
# (their removal) is handled on its own
_RSYNC_OK = (0, 24)
# rsync's words for a folder missing on the peer, and rrsync's (a confined
# key's forced command refuses a path it cannot open before rsync starts)
_MISSING_FOLDER = re.compile(r"(change_dir .* failed:|rrsync error: post-realpath open failed"
                             r" .*) No such file or directory")
PUSH, PULL = "push", "pull"
_SSH_FAILURES = ("Host key verification failed", "Permission denied", "Connection refused",
                 "No route to host", "timed out", "Could not resolve", "Network is unreachable")
# what ``ssh -O`` says to a socket no master listens on (one that was killed)
_NO_MASTER = re.compile(r"Control socket connect\(.*\): (Connection refused|No such file)")


def failure_reason(result: Completed) -> str:
    """The line of ssh's or rsync's complaint that says what went wrong
    (ssh's host-key warning banner and rsync's generic trailer say nothing)."""
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("@", "rsync error:",
                                                             "rsync: connection unexpectedly"))
              and "REMOTE HOST IDENTIFICATION" not in line]
    for line in useful:
        if any(key in line for key in _SSH_FAILURES):
            return line[:200]
    return (useful or lines or [result.summary()])[0][:200]


class Runs(Protocol):
    def run(self, argv: Sequence[str], timeout: float | None = None,
            env: Mapping[str, str] | None = None) -> Completed: ...


class Log(Protocol):
    def debug(self, message: str) -> None: ...
    def info(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...
    def error(self, message: str) -> None: ...


class PrintableLog:
    """Passes every message through ``printable``: a message naming a file
    whose name is not UTF-8 must not make the log raise."""

    def __init__(self, log: Log) -> None:
        self.log = log

    def debug(self, message: str) -> None:
        self.log.debug(printable(message))

    def info(self, message: str) -> None:
        self.log.info(printable(message))

    def warning(self, message: str) -> None:
        self.log.warning(printable(message))

    def error(self, message: str) -> None:
        self.log.error(printable(message))


class _Failed(Exception):
    pass


class Syncer:
    """``runner``: one for each rsync run, within the operation's deadline;
    ``runner_until``: one with a deadline of its own (ending the shared
    connections, which must happen also once that deadline is used up)."""

    def __init__(self, config: SyncConfig, runner: Callable[[], Runs], log: Log,
                 role: RoleSource, stamp: Callable[[], str] = rsync_argv.backup_stamp,
                 mountinfo: Path = MOUNTINFO,
                 runner_until: Callable[[float], Runs] = Runner) -> None:
        self.config = config
        self.mountinfo = mountinfo
        self.runner = runner
        self.runner_until = runner_until
        self.log = PrintableLog(log)
        self.role = role
        self.stamp = stamp
        self.filters = Filters(config.include, config.exclude)

    # -- entry points ----------------------------------------------------------

    def push_paths(self, paths: Iterable[str], *, peers: Sequence[str] = (),
                   force: bool = False, strict: bool = True) -> SyncReport:
        """Send what changed at ``paths`` (files or folders, present or
        removed) to each peer. ``strict``: a path outside the watched folders
        is an error (from a person); otherwise it is logged and skipped
        (from the watcher)."""
        if self.role() != ACTIVE:
            return SyncReport(skipped="this node is not the active one; only the active pushes")
        grouped: dict[Path, set[str]] = {}
        for path in paths:
            try:
                folder, relative = locate(path, self.config.folders)
            except PathEscapeError as exc:
                if strict:
                    raise
                self.log.warning(f"ignored: {exc.reason}")
                continue
            if self.filters.wanted(relative) or self._is_wanted_folder(folder, relative):
                grouped.setdefault(folder, set()).add(relative)
        report = SyncReport()
        if not grouped:
            return report
        for peer in self._peers(peers):
            peer_report = PeerReport(peer.name, PUSH)
            report.peers.append(peer_report)
            ledger = Ledger(self.config.state_dir, peer.name)
            for folder, names in sorted(grouped.items()):
                self._sync_folder(peer, folder, sorted(names), PUSH, ledger, peer_report,
                                  force=force, dry_run=False)
        return report

    def resync(self, direction: str, *, peers: Sequence[str] = (), force: bool = False,
               dry_run: bool = False) -> SyncReport:
        """Compare whole folders and copy in ``direction``: ``push`` (here to
        each peer; only from the active node) or ``pull`` (from the peers to
        here; what a node does before it takes over)."""
        if direction not in (PUSH, PULL):
            raise ValueError(direction)
        if direction == PUSH and self.role() != ACTIVE and not dry_run:
            raise RoleError("this node is not the active one; only the active pushes "
                            "(pull from the active instead, or make this node active)")
        report = SyncReport()
        for peer in self._peers(peers):
            peer_report = PeerReport(peer.name, direction, dry_run=dry_run)
            report.peers.append(peer_report)
            ledger = Ledger(self.config.state_dir, peer.name)
            for folder in self.config.folders:
                self._sync_folder(peer, folder, None, direction, ledger, peer_report,
                                  force=force, dry_run=dry_run)
        return report

    def close(self, command: str = "exit") -> None:
        """End every peer's shared connection (``ssh -O exit`` on each of
        their sockets there, whoever's run opened it, over a stale socket or
        not), each within ``multiplex.EXIT_WITHIN`` of its own: a push cut
        by its deadline has none left, and its master outlives it.  A
        session another process runs on one ends with it; with COMMAND
        ``stop`` the masters take no new session and end after the ones
        they carry (the watcher going standby while the demote's final push
        may be on one).  Called with ``exit`` when the watcher stops and
        after the demote's final push; with ``stop`` when the watcher goes
        standby and after a command-line push or resync."""
        try:
            found = multiplex.sockets(self.config.ssh, self.config.peers)
        except ConfigError as exc:
            self.log.warning(f"ssh connections not closed: {exc.reason}")
            return
        for peer, path in found:
            argv = multiplex.control_argv(self.config.ssh, peer, path, command)
            within = multiplex.EXIT_WITHIN
            try:
                result = self.runner_until(time.monotonic() + within).run(argv, timeout=within)
            except CommandError as exc:
                self.log.warning(f"ssh connection to {peer.name} not closed: {exc.reason}")
                continue
            if not result.ok and not _NO_MASTER.search(result.stderr):
                self.log.warning(f"ssh connection to {peer.name} not closed: "
                                 f"{failure_reason(result)}")

    # -- one folder with one peer ------------------------------------------------

    def _sync_folder(self, peer: Peer, folder: Path, names: list[str] | None, direction: str,
                     ledger: Ledger, report: PeerReport, *, force: bool,
                     dry_run: bool) -> None:
        try:
            ours = list_local(folder, self.filters, names)
            theirs = self._list_peer(peer, folder, names)
        except _Failed as exc:
            report.errors.append(f"{folder}: {exc}")
            self.log.error(f"sync with {peer.name}: {folder}: {exc}")
            return
        source, destination = (ours, theirs) if direction == PUSH else (theirs, ours)
        decided = plan(source, destination, ledger.folder(folder),
                       names if names is not None else set(ours) | set(theirs),
                       observed=names is not None, force=force)
        full = [str(folder / n) for n in decided.kept]
        report.kept += full
        report.conflicts += [Conflict(str(folder / c.path), c.reason) for c in decided.conflicts]
        for conflict in decided.conflicts:
            self.log.warning(f"conflict with {peer.name}: {folder / conflict.path}: "
                             f"{conflict.reason}; not overwritten")
        if dry_run:
            report.sent += [str(folder / n) for n in decided.send if n not in destination]
            report.replaced += [str(folder / n) for n in decided.send if n in destination]
            report.removed += [str(folder / n) for n in decided.remove]
            return
        if decided.empty:
            ledger.update(folder, decided.in_sync, decided.forget)
            return
        try:
            sent = self._transfer(peer, folder, direction, decided, report)
        except _Failed as exc:
            report.errors.append(f"{folder}: {exc}")
            self.log.error(f"{direction} {peer.name}: {folder}: {exc}")
            return
        agreed = dict(decided.in_sync)
        agreed.update((name, entry) for name, entry in sent.items() if entry.kind != "d")
        forgotten = set(decided.forget)
        for name in decided.remove:
            forgotten.add(name)
            forgotten.update(n for n in destination if n.startswith(f"{name}/"))
        ledger.update(folder, agreed, forgotten)

    def _transfer(self, peer: Peer, folder: Path, direction: str, decided: Plan,
                  report: PeerReport) -> Listing:
        """Run the plan; what was sent (both sides hold it now)."""
        base = peer.backup_dir if direction == PUSH else self.config.backup_dir
        stamp = self.stamp()
        backup = rsync_argv.backup_dir(base, stamp, folder)
        report.backup_dir = str(base / stamp)
        build = rsync_argv.push_argv if direction == PUSH else rsync_argv.pull_argv
        sent: Listing = {}
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        # private (0700) and on the state folder's file system, for a stage of hard links
        with tempfile.TemporaryDirectory(prefix=".sync-", dir=self.config.state_dir) as scratch:
            for planned, delete in ((decided.send, False), (decided.remove, True)):
                kind = "remove" if delete else "send"
                names, stage = planned, None
                if direction == PUSH and planned:
                    stage = Path(scratch) / f"{kind}-stage"
                    staged = self._stage(peer, folder, stage, planned, delete)
                    if delete:
                        names = [n for n in planned if n not in staged.refused]
                    else:
                        sent, names = staged.entries, sorted(staged.entries)
                if not names:
                    continue
                files_from = Path(scratch) / kind
                rsync_argv.write_file_list(files_from, names)
                self._check_mounted(peer)
                transfer = rsync_argv.Transfer(folder, files_from, backup, delete=delete,
                                               stage=stage)
                result = self._rsync(peer, build(self.config, peer, transfer))
                if result.returncode not in _RSYNC_OK:
                    raise _Failed(f"rsync failed: {failure_reason(result)}")
                changes = rsync_argv.parse_changes(result.stdout)
                report.sent += [str(folder / n) for n in changes.created]
                report.replaced += [str(folder / n) for n in changes.replaced]
                report.removed += [str(folder / n) for n in changes.removed
                                   if not any(n.startswith(f"{r}/") for r in names)]
                if changes.created or changes.replaced or changes.removed:
                    self.log.info(f"{direction} {peer.name}: {folder}: "
                                  f"{len(changes.created)} new, {len(changes.replaced)} "
                                  f"replaced, {len(changes.removed)} moved to {backup}")
        if direction == PULL:
            sent = {n: e for n in decided.send if (e := describe(folder / n)) is not None}
        return sent

    def _stage(self, peer: Peer, folder: Path, root: Path, names: list[str],
               parents_only: bool) -> Staged:
        """Pin what a push sends (see sync_helper.stage)."""
        root.mkdir()
        try:
            staged = Stage(folder, root).add(names, parents_only=parents_only)
        except PathEscapeError as exc:
            raise _Failed(exc.reason) from None
        except OSError as exc:
            raise _Failed(f"cannot read {folder}: {exc.strerror}") from None
        for name, reason in staged.refused.items():
            self.log.warning(f"push {peer.name}: {folder / name} not sent: {reason}")
        return staged

    def _list_peer(self, peer: Peer, folder: Path, names: list[str] | None) -> Listing:
        self._check_mounted(peer)
        with tempfile.TemporaryDirectory(prefix="sip-ha-list-") as scratch:
            files_from = None
            if names is not None:
                files_from = Path(scratch) / "names"
                rsync_argv.write_file_list(files_from, names)
            empty = Path(scratch) / "empty"
            empty.mkdir()
            result = self._rsync(peer, rsync_argv.listing_argv(self.config, peer, folder,
                                                               files_from, empty))
        if result.returncode not in _RSYNC_OK:
            if _MISSING_FOLDER.search(result.stderr) and result.returncode in (3, 12, 23):
                return {}
            raise _Failed(f"cannot list {peer.name}: {failure_reason(result)}")
        return {name: entry for name, entry in rsync_argv.parse_listing(result.stdout).items()
                if self._wanted(name, entry)}

    # -- helpers -----------------------------------------------------------------

    def _check_mounted(self, peer: Peer) -> None:
        """Before each rsync run with a mounted target: is the export there?
        (Its marker gets the patience an ssh peer's connect gets.)"""
        if peer.mount is None:
            return
        reason = problem(peer.mount, self.config.ssh.connect_timeout, self.mountinfo)
        if reason:
            raise _Failed(f"target {peer.name}: {reason}")

    def _rsync(self, peer: Peer, argv: list[str]) -> Completed:
        self._share(peer)
        self.log.debug(f"running {argv}")
        return self.runner().run(argv, timeout=self.config.timeout, env=rsync_argv.RSYNC_ENV)

    def _share(self, peer: Peer) -> None:
        """Before a run over ssh: the control folder is ours alone."""
        path = multiplex.control_path(self.config.ssh, peer)
        if path is not None:
            multiplex.prepare(path.parent)

    def _wanted(self, name: str, entry: Entry) -> bool:
        return self.filters.wanted_folder(name) if entry.kind == "d" else \
            self.filters.wanted(name)

    def _is_wanted_folder(self, folder: Path, relative: str) -> bool:
        entry = describe(folder / relative)
        return (entry is None or entry.kind == "d") and self.filters.wanted_folder(relative)

    def _peers(self, names: Sequence[str]) -> list[Peer]:
        if not names:
            return list(self.config.peers)
        return [self.config.peer(name) for name in names]
