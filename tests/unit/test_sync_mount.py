"""A mounted sync target: its configuration, the check before every rsync
run, and what a missing mount does to a push (nothing runs, the peer fails)."""

from __future__ import annotations

import logging
import pathlib
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from sipha_runtime.run import Completed
from sync_helper import rsync_argv
from sync_helper.config import SyncConfig, config_from_mapping
from sync_helper.errors import ConfigError
from sync_helper.health import FAILING, OK, HealthFile, read, record
from sync_helper.mount import MountTarget, mounted_type, problem
from sync_helper.role import ACTIVE, STANDBY
from sync_helper.service import SyncService
from sync_helper.syncer import Syncer
from tests.support.fake_runner import ANY, FakeRunner, done

LOG = logging.getLogger("test_sync_mount")
ROOT_LINE = "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"


def mountinfo(tmp_path: Path, *mounts: tuple[str, str]) -> Path:
    path = tmp_path / "mountinfo"
    path.write_text(ROOT_LINE + "".join(
        f"{40 + n} 22 0:{50 + n} / {point} rw,relatime shared:{n} - {fstype} nas:/x rw\n"
        for n, (point, fstype) in enumerate(mounts)))
    return path


def test_a_mountpoint_is_found_with_its_type_and_the_last_mount_wins(tmp_path: Path) -> None:
    info = mountinfo(tmp_path, ("/mnt/nas", "tmpfs"), ("/mnt/n\\040as", "ext4"),
                     ("/mnt/nas", "nfs4"))
    assert mounted_type(Path("/mnt/nas"), info) == "nfs4"
    assert mounted_type(Path("/mnt/n as"), info) == "ext4"
    assert mounted_type(Path("/mnt"), info) is None
    assert mounted_type(Path("/"), info) == "ext4"


def test_problems_name_what_is_wrong(tmp_path: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    info = mountinfo(tmp_path, (str(share), "nfs4"))
    assert problem(MountTarget(tmp_path / "gone"), 1, info) == \
        f"{tmp_path / 'gone'} is not mounted (nothing written into the empty mountpoint)"
    assert problem(MountTarget(share, fstype="cifs"), 1, info) == \
        f"{share} is a nfs4 mount, not the cifs expected"
    assert problem(MountTarget(share, "nfs4", ".sip-ha-target"), 1, info) == \
        f"{share / '.sip-ha-target'} is missing: not the export this sync writes to"
    (share / ".sip-ha-target").touch()
    assert problem(MountTarget(share, "nfs4", ".sip-ha-target"), 1, info) == ""
    assert problem(MountTarget(share), 1, info) == ""
    assert "cannot read" in problem(MountTarget(share), 1, tmp_path / "none")


def test_a_marker_that_does_not_answer_in_time_is_a_problem_probed_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hung hard NFS mount: one probe blocks, later checks start no other."""
    info = mountinfo(tmp_path, (str(tmp_path), "nfs4"))
    release = threading.Event()
    started: list[Path] = []

    def hangs(self: Path) -> bool:
        started.append(self)
        release.wait()
        return True

    monkeypatch.setattr(pathlib.Path, "is_file", hangs)
    before = set(threading.enumerate())
    target = MountTarget(tmp_path, marker="m")
    for _ in range(3):
        assert problem(target, 0.05, info) == f"{tmp_path} did not answer within 0.05s"
    assert started == [tmp_path / "m"]
    (probe,) = set(threading.enumerate()) - before
    release.set()
    probe.join(5)
    assert problem(target, 1, info) == ""  # answered again: a new look
    assert started == [tmp_path / "m"] * 2


def config(tmp_path: Path, **target: object) -> SyncConfig:
    folder = tmp_path / "asterisk"
    folder.mkdir(exist_ok=True)
    return config_from_mapping({
        "folders": [str(folder)], "state_dir": str(tmp_path / "state"),
        "peers": [{"name": "nas", "mount": str(tmp_path / "nas"), **target}]}, local="a")


def test_a_mounted_target_keeps_its_tree_and_backups_inside_the_mount(tmp_path: Path) -> None:
    peer = config(tmp_path, fstype="nfs4", marker=".sip-ha-target").peers[0]
    assert peer.mount == MountTarget(tmp_path / "nas", "nfs4", ".sip-ha-target")
    assert peer.root == tmp_path / "nas"
    assert peer.backup_dir == tmp_path / "nas" / ".sip-ha-backups"
    peer = config(tmp_path, root=str(tmp_path / "nas/pbx")).peers[0]
    assert peer.destination(Path("/etc/asterisk")) == tmp_path / "nas/pbx/etc/asterisk"


@pytest.mark.parametrize(("target", "message"), [
    ({"host": "198.51.100.12"}, "setting(s) host unknown of a mounted target"),
    ({"root": "/srv"}, "root /srv is not inside its mount"),
    ({"backup_dir": "/var/backups"}, "backup_dir /var/backups is not inside its mount"),
    ({"marker": "../etc/passwd"}, "marker '../etc/passwd' is not a file name"),
    ({"marker": ".."}, "marker '..' is not a file name"),
    ({"fstype": "NFS 4"}, "fstype 'NFS 4' is not a file system type"),
])
def test_a_bad_mounted_target_is_refused(tmp_path: Path, target: dict[str, object],
                                         message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(tmp_path, **target)
    assert message in caught.value.reason


def test_fstype_without_mount_is_refused() -> None:
    with pytest.raises(ConfigError, match="fstype and marker go with mount"):
        config_from_mapping({"folders": ["/etc/asterisk"],
                             "peers": [{"name": "b", "host": "b", "fstype": "nfs4"}]})
    with pytest.raises(ConfigError, match="mountpoint, not /"):
        config_from_mapping({"folders": ["/etc/asterisk"],
                             "peers": [{"name": "b", "mount": "/"}]})


def test_rsync_writes_a_mounted_target_as_a_local_path(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    peer = cfg.peers[0]
    folder = cfg.folders[0]
    transfer = rsync_argv.Transfer(folder, tmp_path / "list", tmp_path / "nas/.b", stage=folder)
    argv = rsync_argv.push_argv(cfg, peer, transfer)
    assert "-e" not in argv
    assert argv[-1] == f"{tmp_path}/nas{folder}/"
    listing = rsync_argv.listing_argv(cfg, peer, folder, None, tmp_path / "empty")
    assert "-e" not in listing and listing[-2] == f"{tmp_path}/nas{folder}/./"


def test_a_missing_mount_runs_nothing_and_the_target_is_failing(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    (cfg.folders[0] / "sip.conf").write_text("x")
    runner = FakeRunner([])
    syncer = Syncer(cfg, lambda: runner, LOG, lambda: ACTIVE, mountinfo=mountinfo(tmp_path))
    report = syncer.push_paths([str(cfg.folders[0] / "sip.conf")])
    assert runner.calls == []
    assert report.peers[0].errors == [
        f"{cfg.folders[0]}: target nas: {tmp_path / 'nas'} is not mounted "
        "(nothing written into the empty mountpoint)"]
    health = HealthFile.of(cfg.state_dir)
    record(health, report, {str(cfg.folders[0] / "sip.conf")})
    assert read(health.path)["nas"].state == FAILING
    assert "is not mounted" in read(health.path)["nas"].error


def test_a_mounted_target_is_listed_and_written_once_mounted(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    folder = cfg.folders[0]
    (folder / "sip.conf").write_text("x")
    listing = rsync_argv.listing_argv(cfg, cfg.peers[0], folder, None, tmp_path)

    def listed(argv: Sequence[str]) -> Completed:
        assert argv[-2] == f"{tmp_path}/nas{folder}/./"
        return done("")

    runner = FakeRunner([([ANY] * len(listing), listed),
                         ([ANY] * 16, done("<f+++++++++|sip.conf\n"))])
    syncer = Syncer(cfg, lambda: runner, LOG, lambda: ACTIVE, stamp=lambda: "T",
                    mountinfo=mountinfo(tmp_path, (str(tmp_path / "nas"), "nfs4")))
    report = syncer.resync("push")
    assert runner.finished() and report.ok
    assert runner.calls[1][-1] == f"{tmp_path}/nas{folder}/"
    assert f"--backup-dir={tmp_path}/nas/.sip-ha-backups/T{folder}" in runner.calls[1]
    health = HealthFile.of(cfg.state_dir)
    record(health, report)
    assert read(health.path)["nas"].state == OK


@pytest.mark.parametrize(("role", "mounted", "pruned"), [
    (ACTIVE, True, True), (STANDBY, True, False), (ACTIVE, False, False)])
def test_the_active_node_prunes_a_mounted_targets_old_backups(
        tmp_path: Path, role: str, mounted: bool, pruned: bool) -> None:
    cfg = config(tmp_path)
    old = tmp_path / "nas" / ".sip-ha-backups" / "20200101T000000.000000Z"
    (old / "etc").mkdir(parents=True)
    (old / "etc" / "sip.conf").write_text("x")
    info = mountinfo(tmp_path, *([(str(tmp_path / "nas"), "nfs4")] if mounted else []))
    syncer = Syncer(cfg, lambda: FakeRunner([]), LOG, lambda: role, mountinfo=info)
    SyncService(cfg, syncer, LOG)._prune()
    assert old.exists() is not pruned
