"""The foreground loop behind ``watch``: events in, batches out, a periodic
full reconcile, and on every node, whatever its role, an hourly pruning of
its old backups; supervised by its agent or systemd, never a daemon itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from sync_helper.config import SyncConfig
from sync_helper.debounce import Debouncer
from sync_helper.errors import SyncError
from sync_helper.health import HealthFile, record, record_failure
from sync_helper.mount import problem
from sync_helper.paths import Filters
from sync_helper.prune import empty_after, prune
from sync_helper.report import SyncReport
from sync_helper.role import ACTIVE
from sync_helper.syncer import PUSH, Log, PrintableLog, Syncer
from sync_helper.watcher import FolderWatcher

# how often the loop looks at the stop flag and the role while idle
_TICK = 0.5
_PRUNE_EVERY = 3600.0


class SyncService:
    def __init__(self, config: SyncConfig, syncer: Syncer, log: Log,
                 on_report: Callable[[SyncReport], None] | None = None) -> None:
        self.config = config
        self.syncer = syncer
        self.log = PrintableLog(log)
        self.on_report = on_report
        self.debouncer = Debouncer(config.debounce, config.max_delay)
        self.watcher = FolderWatcher(config.folders, Filters(config.include, config.exclude),
                                     self.debouncer)
        self.ready = threading.Event()
        self.health = HealthFile.of(config.state_dir)

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` is set. A node that becomes active reconciles first,
        so whatever changed while it was not pushing is sent."""
        self.config.check_folders()
        self.watcher.start()
        self.ready.set()
        was_active = False
        next_reconcile = next_prune = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() >= next_prune:
                    self._prune()
                    next_prune = time.monotonic() + _PRUNE_EVERY
                active = self.syncer.role() == ACTIVE
                if active and not was_active:
                    self.health.reset(peer.name for peer in self.config.peers)
                if active and (not was_active or time.monotonic() >= next_reconcile):
                    self._reconcile()
                    next_reconcile = time.monotonic() + (self.config.reconcile_interval or
                                                         float("inf"))
                if active != was_active:
                    self.log.info("active: pushing changes" if active else
                                  "standby: not pushing")
                    if not active:
                        # The demote's final push may be running on them now.
                        self.syncer.close("stop")
                    was_active = active
                batch = self.debouncer.wait(_TICK)
                if batch and active:
                    self._push(batch)
                elif batch:
                    self.log.debug(f"standby: {len(batch)} changed path(s) not pushed")
        finally:
            self.watcher.stop()
            self.syncer.close()

    def _push(self, batch: set[str]) -> None:
        try:
            report = self.syncer.push_paths(sorted(batch), strict=False)
        except SyncError as exc:
            self.log.error(f"push failed: {exc.reason}")
            record_failure(self.health, self.config, exc.reason, batch)
            return
        record(self.health, report, batch)
        self._publish(report)

    def _reconcile(self) -> None:
        try:
            report = self.syncer.resync(PUSH)
        except SyncError as exc:
            self.log.error(f"reconcile failed: {exc.reason}")
            record_failure(self.health, self.config, exc.reason)
            return
        record(self.health, report)
        self._publish(report)

    def _prune(self) -> None:
        """This node's backups; and, on the active node, those of each mounted
        target that is there (an export runs no ``sip-ha-sync`` of its own,
        and only the node that writes into it checks it is mounted)."""
        folders = [self.config.backup_dir]
        if self.syncer.role() == ACTIVE:
            folders += [peer.backup_dir for peer in self.config.peers
                        if peer.mount is not None and not problem(
                            peer.mount, self.config.ssh.connect_timeout, self.syncer.mountinfo)]
        for folder in folders:
            self._prune_one(folder)

    def _prune_one(self, folder: Path) -> None:
        config = self.config
        try:
            gone = prune(folder, config.backup_keep_days, time.time(),
                         empty_after(config.timeout))
        except SyncError as exc:
            self.log.error(f"pruning backups failed: {exc.reason}")
            return
        if gone:
            self.log.info(f"pruned {len(gone)} dated folder(s) from {folder} "
                          f"(older than {config.backup_keep_days:g} days, or holding no file)")

    def _publish(self, report: SyncReport) -> None:
        for peer in report.peers:
            for error in peer.errors:
                self.log.error(f"{peer.peer}: {error}")
        if self.on_report is not None:
            self.on_report(report)

