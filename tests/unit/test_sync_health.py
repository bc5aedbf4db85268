"""The sync health record: what the pushing node knows about each peer."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sync_helper.config import Peer, SyncConfig
from sync_helper.health import (
    BEHIND,
    CONFLICTS,
    FAILING,
    OK,
    HealthFile,
    read,
    record,
    record_failure,
)
from sync_helper.planner import Conflict
from sync_helper.report import PeerReport, SyncReport


def states(path: Path) -> dict[str, str]:
    return {peer: health.state for peer, health in read(path).items()}


def test_a_peer_is_ok_only_after_a_full_reconcile_since_its_last_failure(tmp_path: Path):
    health = HealthFile.of(tmp_path)
    health.reset(["node2", "node3"])
    assert states(health.path) == {"node2": BEHIND, "node3": BEHIND}
    health.reconciled("node2", "", (), now=100)
    health.pushed("node3", ["/etc/asterisk/a.conf"], "", (), now=101)
    assert states(health.path) == {"node2": OK, "node3": BEHIND}   # pushed, never compared
    health.pushed("node2", ["/etc/asterisk/a.conf", "/etc/asterisk/b.conf"],
                  "cannot list node2: Host key verification failed", (), now=102)
    node2 = read(health.path)["node2"]
    assert (node2.state, node2.last_ok, node2.reconciled) == (FAILING, 100, None)
    assert node2.pending == ["/etc/asterisk/a.conf", "/etc/asterisk/b.conf"]
    assert node2.error == "cannot list node2: Host key verification failed"
    # the next push of one path reaches it: no error, but not everything delivered
    health.pushed("node2", ["/etc/asterisk/a.conf"], "", (), now=103)
    node2 = read(health.path)["node2"]
    assert (node2.state, node2.pending, node2.last_ok) == (BEHIND, ["/etc/asterisk/b.conf"],
                                                            103)
    health.reconciled("node2", "", (), now=104)
    node2 = read(health.path)["node2"]
    assert (node2.state, node2.pending, node2.reconciled) == (OK, [], 104)
    # a failed reconcile also clears it
    health.reconciled("node2", "cannot list node2: Connection refused", (), now=105)
    assert states(health.path)["node2"] == FAILING
    assert read(health.path)["node2"].reconciled is None


def test_conflicts_last_until_a_sync_of_the_path_finds_none(tmp_path: Path):
    health = HealthFile.of(tmp_path)
    health.reconciled("node2", "", ["/etc/asterisk/x.conf", "/etc/asterisk/y.conf"], now=1)
    assert states(health.path) == {"node2": CONFLICTS}
    health.pushed("node2", ["/etc/asterisk/x.conf"], "", (), now=2)   # push --force x.conf
    assert read(health.path)["node2"].conflicts == ["/etc/asterisk/y.conf"]
    health.pushed("node2", ["/etc/asterisk/z.conf"], "", ["/etc/asterisk/z.conf"], now=3)
    assert read(health.path)["node2"].conflicts == ["/etc/asterisk/y.conf",
                                                    "/etc/asterisk/z.conf"]
    health.reconciled("node2", "", (), now=4)
    assert states(health.path) == {"node2": OK}


def test_the_record_is_root_only_and_a_bad_one_reads_as_nothing_known(tmp_path: Path):
    health = HealthFile.of(tmp_path)
    health.reset(["node2"])
    assert stat.S_IMODE(os.stat(health.path).st_mode) == 0o600
    health.path.write_text("{not json")
    assert read(health.path) == {}
    assert read(tmp_path / "missing.json") == {}
    health.path.write_text('{"peers": {"node2": {"last_ok": "x", "pending": 3}}}')
    assert read(health.path)["node2"].state == BEHIND


def test_reports_are_recorded_per_peer_and_pulls_and_dry_runs_are_not(tmp_path: Path):
    health = HealthFile.of(tmp_path)
    failed = PeerReport("node2", "push", errors=["/etc/asterisk: rsync failed: timed out"])
    fine = PeerReport("node3", "push",
                      conflicts=[Conflict("/etc/asterisk/q.conf", "edited on node3")])
    record(health, SyncReport([failed, fine]), {"/etc/asterisk/a.conf"})
    node2, node3 = read(health.path)["node2"], read(health.path)["node3"]
    assert (node2.state, node2.pending, node2.error) == (
        FAILING, ["/etc/asterisk/a.conf"], "/etc/asterisk: rsync failed: timed out")
    assert (node3.state, node3.conflicts) == (CONFLICTS, ["/etc/asterisk/q.conf"])
    record(health, SyncReport([PeerReport("node2", "pull"),
                               PeerReport("node2", "push", dry_run=True)]))
    assert read(health.path)["node2"].state == FAILING
    record(health, SyncReport([PeerReport("node2", "push")]))
    assert read(health.path)["node2"].state == OK


def test_a_sync_that_failed_before_any_peer_fails_for_each(tmp_path: Path):
    config = SyncConfig(folders=(tmp_path,), peers=(Peer("node2", "198.51.100.2"),
                                                    Peer("node3", "198.51.100.3")),
                        state_dir=tmp_path)
    health = HealthFile.of(tmp_path)
    record_failure(health, config, "cannot read /etc/asterisk: Permission denied")
    assert states(health.path) == {"node2": FAILING, "node3": FAILING}


def test_files_only_the_peer_has_are_listed_until_a_push_decides_them(tmp_path: Path):
    health = HealthFile.of(tmp_path)
    health.reconciled("node2", "", (), now=1, kept=["/etc/asterisk/b.conf",
                                                    "/etc/asterisk/a.conf"])
    node2 = read(health.path)["node2"]
    assert (node2.state, node2.kept) == (OK, ["/etc/asterisk/a.conf", "/etc/asterisk/b.conf"])
    health.pushed("node2", ["/etc/asterisk/a.conf"], "", (), now=2)   # push --force a.conf
    assert read(health.path)["node2"].kept == ["/etc/asterisk/b.conf"]
    record(health, SyncReport([PeerReport("node2", "push")]))
    assert read(health.path)["node2"].kept == []
