from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from sipha_runtime.run import Completed
from sync_helper.config import SyncConfig, config_from_mapping
from sync_helper.errors import PathEscapeError, RoleError
from sync_helper.ledger import Ledger
from sync_helper.paths import Entry
from sync_helper.role import ACTIVE, STANDBY
from sync_helper.syncer import PULL, Syncer
from tests.support.fake_runner import ANY, FakeRunner, done


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def debug(self, message: str) -> None:
        pass

    def info(self, message: str) -> None:
        self.lines.append(message)

    warning = error = info


def setup(tmp_path: Path) -> tuple[SyncConfig, Path]:
    folder = tmp_path / "asterisk"
    folder.mkdir()
    config = config_from_mapping({
        "folders": [str(folder)], "state_dir": str(tmp_path / "state"),
        "backup_dir": str(tmp_path / "local-backups"), "ssh": {"control_dir": ""},
        "peers": [{"name": "b", "host": "198.51.100.12", "backup_dir": "/var/backups/sip-ha"}]})
    return config, folder


def syncer(config: SyncConfig, runner: FakeRunner, role: str = ACTIVE) -> Syncer:
    return Syncer(config, lambda: runner, Log(), lambda: role, stamp=lambda: "T")


def names_in(argv: Sequence[str]) -> list[str]:
    listed = next(a for a in argv if a.startswith("--files-from="))
    return Path(listed.split("=", 1)[1]).read_bytes().decode().split("\0")[:-1]


def answer(stdout: str, expect: list[str]) -> object:
    def run(argv: Sequence[str]) -> Completed:
        assert names_in(argv) == expect
        return done(stdout)
    return run


LISTING = ["--dry-run", "--recursive", "--ignore-missing-args", "--out-format=%i|%M|%l|%n"]
LIST = [*[ANY] * 8, *LISTING, ANY, ANY, ANY]  # with --files-from
LIST_ALL = [*[ANY] * 8, *LISTING, ANY, ANY]
PUSH = [ANY] * 8 + ["--mkpath", ANY, "--backup", ANY, "--suffix=", ANY,
                    "--ignore-missing-args", "--checksum", ANY, ANY]
REMOVE = [ANY] * 8 + ["--mkpath", ANY, "--backup", ANY, "--suffix=", ANY,
                      "--delete-missing-args", "--force", "--checksum", ANY, ANY]
# A pull takes the peer's files as they are (no --checksum: it never plans
# a same-looking file)
PULL_ARGV = [a for a in PUSH if a != "--checksum"]


def test_the_standby_does_not_push(tmp_path: Path) -> None:
    config, folder = setup(tmp_path)
    (folder / "sip.conf").write_text("x")
    runner = FakeRunner([])
    report = syncer(config, runner, STANDBY).push_paths([str(folder / "sip.conf")])
    assert "not the active" in report.skipped and runner.calls == []
    with pytest.raises(RoleError):
        syncer(config, runner, STANDBY).resync("push")


def from_stage(stdout: str, expect: list[str], staged: dict[str, bytes]) -> object:
    """Checks that rsync is to read the stage (holding ``staged``), not the folder."""
    def run(argv: Sequence[str]) -> Completed:
        stage = Path(argv[-2])
        assert stage.parent.stat().st_mode & 0o777 == 0o700
        assert {str(p.relative_to(stage)): p.read_bytes() for p in stage.rglob("*")
                if p.is_file()} == staged
        return answer(stdout, expect)(argv)
    return run


def test_a_changed_file_is_listed_then_sent_and_recorded(tmp_path: Path) -> None:
    config, folder = setup(tmp_path)
    (folder / "sip.conf").write_text("hello")
    runner = FakeRunner([
        (LIST, answer("", ["sip.conf"])),
        (PUSH, from_stage("<f+++++++++|sip.conf\n", ["sip.conf"], {"sip.conf": b"hello"})),
    ])
    report = syncer(config, runner).push_paths([str(folder / "sip.conf")])
    assert runner.finished()
    assert report.peers[0].sent == [str(folder / "sip.conf")]
    assert f"--backup-dir=/var/backups/sip-ha/T{folder}" in runner.calls[1]
    assert runner.calls[1][-1] == f"root@198.51.100.12:{folder}/"
    assert list((tmp_path / "state").glob(".sync-*")) == []  # the stage is gone
    ledger = json.loads((tmp_path / "state" / "ledger-b.json").read_text())
    mtime = int(os.stat(folder / "sip.conf").st_mtime)
    assert ledger["folders"][str(folder)] == {"sip.conf": ["f", mtime, 5]}


def test_a_peer_file_newer_than_ours_is_a_conflict_and_not_sent(tmp_path: Path) -> None:
    config, folder = setup(tmp_path)
    (folder / "sip.conf").write_text("hello")
    os.utime(folder / "sip.conf", (1_700_000_000, 1_700_000_000))
    runner = FakeRunner([
        (LIST, answer(">f+++++++++|2030/01/01-00:00:00|9|sip.conf\n", ["sip.conf"])),
    ])
    report = syncer(config, runner).push_paths([str(folder / "sip.conf")])
    assert runner.finished()
    assert [(peer, c.path) for peer, c in report.conflicts] == [("b", str(folder / "sip.conf"))]


def test_a_failed_transfer_is_reported_and_not_recorded(tmp_path: Path) -> None:
    config, folder = setup(tmp_path)
    (folder / "sip.conf").write_text("hello")
    runner = FakeRunner([
        (LIST, answer("", ["sip.conf"])),
        (PUSH, done(returncode=255, stderr="ssh: connect to host 198.51.100.12 port 22: "
                                          "Connection refused\n")),
    ])
    report = syncer(config, runner).push_paths([str(folder / "sip.conf")])
    assert not report.ok and "Connection refused" in report.peers[0].errors[0]
    assert not (tmp_path / "state" / "ledger-b.json").exists()


def test_a_removed_file_is_moved_into_the_backup_there(tmp_path: Path) -> None:
    config, folder = setup(tmp_path)
    Ledger(config.state_dir, "b").update(folder, {"old.conf": Entry("f", 1577836800, 9)}, set())
    runner = FakeRunner([
        (LIST, answer(">f+++++++++|2020/01/01-00:00:00|9|old.conf\n", ["old.conf"])),
        (REMOVE, answer("*deleting  |old.conf\n", ["old.conf"])),
    ])
    report = syncer(config, runner).push_paths([str(folder / "old.conf")])
    assert runner.finished() and report.peers[0].removed == [str(folder / "old.conf")]


def test_paths_outside_the_folders_are_refused_or_skipped(tmp_path: Path) -> None:
    config, folder = setup(tmp_path)
    runner = FakeRunner([])
    with pytest.raises(PathEscapeError):
        syncer(config, runner).push_paths([f"{folder}/../etc/passwd"])
    report = syncer(config, runner).push_paths([f"{folder}/../etc/passwd"], strict=False)
    assert report.peers == [] and runner.calls == []


def test_excluded_files_are_not_pushed(tmp_path: Path) -> None:
    config, folder = setup(tmp_path)
    (folder / ".sip.conf.swp").write_text("x")
    runner = FakeRunner([])
    assert syncer(config, runner).push_paths([str(folder / ".sip.conf.swp")]).peers == []


def test_pull_copies_from_the_peer_into_a_local_backup(tmp_path: Path) -> None:
    config, folder = setup(tmp_path)
    (folder / "sip.conf").write_text("old")
    os.utime(folder / "sip.conf", (1_600_000_000, 1_600_000_000))
    runner = FakeRunner([
        ([*LIST_ALL[:-2], f"root@198.51.100.12:{folder}/./", ANY],
         done(">f+++++++++|2030/01/01-00:00:00|9|sip.conf\n")),
        (PULL_ARGV, answer("<f.st......|sip.conf\n", ["sip.conf"])),
    ])
    report = syncer(config, runner, STANDBY).resync(PULL)
    assert runner.finished()
    assert report.peers[0].replaced == [str(folder / "sip.conf")]
    assert f"--backup-dir={tmp_path}/local-backups/T{folder}" in runner.calls[1]
    assert runner.calls[1][-2:] == [f"root@198.51.100.12:{folder}/", f"{folder}/"]


@pytest.mark.parametrize(("returncode", "stderr"), [
    (23, 'rsync: [sender] change_dir "/x" failed: No such file or directory (2)\n'),
    # a confined key: rrsync refuses the folder before rsync starts
    (12, "/usr/bin/rrsync error: post-realpath open failed (race detected): /x/ No such "
         "file or directory\nrsync: connection unexpectedly closed (0 bytes received so far) "
         "[Receiver]\n"),
], ids=["rsync", "rrsync"])
def test_a_missing_folder_on_the_peer_counts_as_empty(tmp_path: Path, returncode: int,
                                                      stderr: str) -> None:
    config, folder = setup(tmp_path)
    (folder / "a.conf").write_text("a")
    runner = FakeRunner([
        (LIST_ALL, done(returncode=returncode, stderr=stderr)),
        (PUSH, answer("<f+++++++++|a.conf\n", ["a.conf"])),
    ])
    report = syncer(config, runner).resync("push")
    assert report.ok and report.peers[0].sent == [str(folder / "a.conf")]
