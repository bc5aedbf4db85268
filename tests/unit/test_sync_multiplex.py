"""One shared ssh connection per peer: the argv, the control path, its
folder, and who ends a master (sync_helper.multiplex, Syncer.close)."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from sipha_runtime.run import Completed
from sync_helper import multiplex, rsync_argv
from sync_helper.config import SyncConfig, config_from_mapping
from sync_helper.errors import ConfigError
from sync_helper.role import ACTIVE
from sync_helper.syncer import Syncer
from tests.support.fake_runner import ANY, FakeRunner, done
from tests.unit.test_sync_syncer import Log


@pytest.fixture
def control_dir() -> Iterator[Path]:
    """Short, as a socket's path must be (pytest's tmp_path can be too long)."""
    with tempfile.TemporaryDirectory(prefix="mux-", dir="/tmp") as top:
        yield Path(top) / "ssh"


def configure(folder: Path, state: Path, control_dir: str, **ssh: object) -> SyncConfig:
    return config_from_mapping({
        "folders": [str(folder)], "state_dir": str(state),
        "ssh": {"identity_file": "/etc/sip-ha/key", "control_dir": control_dir, **ssh},
        "peers": [{"name": "b", "host": "198.51.100.12", "port": 2222},
                  {"name": "nas", "mount": "/mnt/nas"}]}, local="a")


def ssh_of(argv: Sequence[str]) -> list[str]:
    return argv[list(argv).index("-e") + 1].split()


def test_rsync_shares_one_connection_per_peer(tmp_path: Path) -> None:
    config = configure(tmp_path, tmp_path / "state", "/run/sip-ha/ssh")
    peer = config.peer("b")
    path = multiplex.control_path(config.ssh, peer)
    assert path is not None and path.parent == Path("/run/sip-ha/ssh")
    argv = rsync_argv.listing_argv(config, peer, tmp_path, None, tmp_path / "e")
    ssh = ssh_of(argv)
    assert ssh[ssh.index("-p"):] == [
        "-p", "2222", "-o", "ControlMaster=auto", "-o", f"ControlPath={path}",
        "-o", "ControlPersist=120", "-o", "ServerAliveInterval=3",
        "-o", "ServerAliveCountMax=3"]
    # the host key is still checked, by the connection the sessions share
    assert "StrictHostKeyChecking=yes" in ssh and "BatchMode=yes" in ssh


def test_no_sharing_when_turned_off_or_for_a_mounted_target(tmp_path: Path) -> None:
    off = configure(tmp_path, tmp_path / "state", "")
    assert not any(o.startswith("Control") for o in ssh_of(
        rsync_argv.listing_argv(off, off.peer("b"), tmp_path, None, tmp_path / "e")))
    on = configure(tmp_path, tmp_path / "state", "/run/sip-ha/ssh")
    assert multiplex.control_path(on.ssh, on.peer("nas")) is None
    assert "-e" not in rsync_argv.listing_argv(on, on.peer("nas"), tmp_path, None, tmp_path)


def test_a_connection_is_shared_only_under_the_same_trust(tmp_path: Path) -> None:
    """Another host key file, key, checking, user, host or port: another
    connection, so a fixed or changed known_hosts is checked anew."""
    config = configure(tmp_path, tmp_path / "state", "/run/sip-ha/ssh")
    peer = config.peer("b")
    first = multiplex.control_path(config.ssh, peer)
    assert first == multiplex.control_path(config.ssh, dataclasses.replace(peer, name="c"))
    others = [
        (dataclasses.replace(config.ssh, known_hosts_file="/etc/sip-ha/known2"), peer),
        (dataclasses.replace(config.ssh, identity_file="/etc/sip-ha/key2"), peer),
        (dataclasses.replace(config.ssh, strict_host_key_checking="accept-new"), peer),
        (config.ssh, dataclasses.replace(peer, user="asterisk")),
        (config.ssh, dataclasses.replace(peer, host="198.51.100.13")),
        (config.ssh, dataclasses.replace(peer, port=22)),
    ]
    paths = {multiplex.control_path(settings, p) for settings, p in others}
    assert first not in paths and len(paths) == len(others)


@pytest.mark.parametrize(("value", "message"), [
    ("run/ssh", "must be an absolute path"),
    ("/run/sip-ha/" + "x" * 60, "longer than 70 bytes"),
    ("/run/sip ha", "white space"),
])
def test_a_control_dir_that_cannot_work_is_refused(tmp_path: Path, value: str,
                                                   message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        configure(tmp_path, tmp_path / "state", value)


def test_the_control_folder_is_made_root_only_and_checked(control_dir: Path) -> None:
    multiplex.prepare(control_dir)
    assert control_dir.stat().st_mode & 0o777 == 0o700
    multiplex.prepare(control_dir)  # there already: fine
    control_dir.chmod(0o755)
    with pytest.raises(ConfigError, match="mode 0700"):
        multiplex.prepare(control_dir)
    control_dir.rmdir()
    elsewhere = control_dir.with_name("elsewhere")
    elsewhere.mkdir(mode=0o700)
    control_dir.symlink_to(elsewhere)
    with pytest.raises(ConfigError, match="mode 0700"):
        multiplex.prepare(control_dir)


def becomes_master(path: Path) -> Callable[[Sequence[str]], Completed]:
    """rsync's ssh found no master: it becomes one (its socket appears)."""
    def run(argv: Sequence[str]) -> Completed:
        path.touch()
        return done()
    return run


def one_file(tmp_path: Path, control_dir: Path) -> tuple[SyncConfig, Path]:
    folder = tmp_path / "asterisk"
    folder.mkdir()
    (folder / "sip.conf").write_text("x")
    return configure(folder, tmp_path / "state", str(control_dir)), folder


def test_the_syncer_ends_the_master_it_opened_and_only_that(tmp_path: Path,
                                                           control_dir: Path) -> None:
    config, folder = one_file(tmp_path, control_dir)
    peer = config.peer("b")
    path = multiplex.control_path(config.ssh, peer)
    assert path is not None
    listing = [ANY] * 15
    push = [ANY] * 18
    stop: list[object] = ["/usr/bin/ssh", "-o", "BatchMode=yes", "-o", f"ControlPath={path}",
                          "-O", "stop", "-p", "2222", "root@198.51.100.12"]
    runner = FakeRunner([(listing, becomes_master(path)), (push, done()), (stop, done())])
    syncer = Syncer(config, lambda: runner, Log(), lambda: ACTIVE, stamp=lambda: "T")
    syncer.push_paths([str(folder / "sip.conf")], peers=["b"])
    assert control_dir.stat().st_mode & 0o777 == 0o700
    syncer.close()
    assert runner.finished()
    syncer.close()  # nothing opened since: no command

    # a master that was there before (the watcher's) is not ours to end
    runner = FakeRunner([(listing, done()), (push, done())])
    syncer = Syncer(config, lambda: runner, Log(), lambda: ACTIVE, stamp=lambda: "T")
    syncer.push_paths([str(folder / "sip.conf")], peers=["b"])
    syncer.close()  # would run "-O stop": the fake runner has no such step
    assert runner.finished()


def test_a_master_that_is_gone_already_is_not_asked_to_stop(tmp_path: Path,
                                                            control_dir: Path) -> None:
    config, folder = one_file(tmp_path, control_dir)
    runner = FakeRunner([([ANY] * 15, done()), ([ANY] * 18, done())])
    syncer = Syncer(config, lambda: runner, Log(), lambda: ACTIVE, stamp=lambda: "T")
    syncer.push_paths([str(folder / "sip.conf")], peers=["b"])
    syncer.close()  # its master ended with the peer: its socket went with it
    assert runner.finished()


def test_a_control_folder_others_can_enter_fails_the_push_and_runs_nothing(
        tmp_path: Path, control_dir: Path) -> None:
    control_dir.mkdir(mode=0o700)
    os.chmod(control_dir, 0o777)
    config, folder = one_file(tmp_path, control_dir)
    runner = FakeRunner([])
    with pytest.raises(ConfigError, match="ssh control folder"):
        Syncer(config, lambda: runner, Log(), lambda: ACTIVE).push_paths(
            [str(folder / "sip.conf")], peers=["b"])
    assert runner.calls == []
