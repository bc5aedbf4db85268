"""One shared ssh connection per peer: the argv, the control path, its
folder, and ending every master there (sync_helper.multiplex, Syncer.close)."""

from __future__ import annotations

import dataclasses
import os
import socket
import tempfile
import time
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
        listening(path)
        return done()
    return run


def listening(path: Path) -> None:
    """A socket at PATH, as a master makes (closed at once: to ``ssh -O`` it
    would be a stale one, which the fake runner does not care about)."""
    path.parent.mkdir(mode=0o700, exist_ok=True)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))


def exit_argv(path: Path, port: int = 2222, address: str = "root@198.51.100.12",
              command: str = "exit") -> list[object]:
    return ["/usr/bin/ssh", "-o", "BatchMode=yes", "-o", f"ControlPath={path}",
            "-O", command, "-p", str(port), address]


class Bounded:
    """``runner_until``: each runner is the given FakeRunner; it records the
    time each one had (its deadline from now) and each run's timeout."""

    def __init__(self, runner: FakeRunner) -> None:
        self.runner = runner
        self.given: list[float] = []
        self.timeouts: list[float | None] = []

    def __call__(self, deadline: float) -> Bounded:
        self.given.append(deadline - time.monotonic())
        return self

    def run(self, argv: Sequence[str], timeout: float | None = None,
            env: object = None) -> Completed:
        self.timeouts.append(timeout)
        return self.runner.run(argv, timeout, env)


def no_time_left() -> FakeRunner:
    """The runs' runner once their deadline is used up: it runs nothing."""
    return FakeRunner([])


def one_file(tmp_path: Path, control_dir: Path) -> tuple[SyncConfig, Path]:
    folder = tmp_path / "asterisk"
    folder.mkdir()
    (folder / "sip.conf").write_text("x")
    return configure(folder, tmp_path / "state", str(control_dir)), folder


@pytest.mark.parametrize("opened_by", ["this-push", "an-earlier-run"])
def test_close_ends_the_master_there_whoever_opened_it(tmp_path: Path, control_dir: Path,
                                                       opened_by: str) -> None:
    """This push, or an earlier process, or a run that found a stale socket:
    ``ssh -O exit`` on the socket that is there."""
    config, folder = one_file(tmp_path, control_dir)
    path = multiplex.control_path(config.ssh, config.peer("b"))
    assert path is not None
    if opened_by == "an-earlier-run":
        listening(path)
    listing = becomes_master(path) if opened_by == "this-push" else done()
    runner = FakeRunner([([ANY] * 15, listing), ([ANY] * 18, done())])
    closing = Bounded(FakeRunner([(exit_argv(path), done())]))
    syncer = Syncer(config, lambda: runner, Log(), lambda: ACTIVE, stamp=lambda: "T",
                    runner_until=closing)
    syncer.push_paths([str(folder / "sip.conf")], peers=["b"])
    assert control_dir.stat().st_mode & 0o777 == 0o700
    syncer.close()
    assert runner.finished() and closing.runner.finished()


def test_going_standby_lets_the_sessions_on_a_master_finish(tmp_path: Path,
                                                           control_dir: Path) -> None:
    """The watcher going standby asks ``-O stop``: the demote's final push
    may be on the master, and ends its sessions before the master ends."""
    config, _ = one_file(tmp_path, control_dir)
    path = multiplex.control_path(config.ssh, config.peer("b"))
    assert path is not None
    listening(path)
    closing = Bounded(FakeRunner([(exit_argv(path, command="stop"), done())]))
    syncer = Syncer(config, lambda: FakeRunner([]), Log(), lambda: ACTIVE, stamp=lambda: "T",
                    runner_until=closing)
    syncer.close("stop")
    assert closing.runner.finished()


def test_close_ends_every_peers_master_each_within_its_own_bound(control_dir: Path,
                                                                 tmp_path: Path) -> None:
    """The runs' deadline is used up (a push cut short): each master still
    gets an ``exit`` of its own, bounded by EXIT_WITHIN; peers that share a
    connection get one, a peer without a socket none."""
    config = config_from_mapping({
        "folders": [str(tmp_path)], "state_dir": str(tmp_path / "state"),
        "ssh": {"control_dir": str(control_dir)},
        "peers": [{"name": "b", "host": "198.51.100.12"},
                  {"name": "b-again", "host": "198.51.100.12"},
                  {"name": "c", "host": "198.51.100.13", "port": 2200},
                  {"name": "d", "host": "198.51.100.14"},
                  {"name": "nas", "mount": "/mnt/nas"}]}, local="a")
    b, c, d = (multiplex.control_path(config.ssh, config.peer(n)) for n in "bcd")
    assert b is not None and c is not None and d is not None
    listening(b)
    listening(c)
    d.write_text("not a socket")
    closing = Bounded(FakeRunner([(exit_argv(b, 22), done()),
                                  (exit_argv(c, 2200, "root@198.51.100.13"), done())]))
    log = Log()
    Syncer(config, no_time_left, log, lambda: ACTIVE, runner_until=closing).close()
    assert closing.runner.finished() and log.lines == []
    assert closing.timeouts == [multiplex.EXIT_WITHIN] * 2
    assert all(multiplex.EXIT_WITHIN - 0.5 < given <= multiplex.EXIT_WITHIN
               for given in closing.given), closing.given


@pytest.mark.parametrize(("stderr", "warned"), [
    ("Control socket connect(P): Connection refused", False),  # a master killed before
    ("Control socket connect(P): No such file or directory", False),  # ended meanwhile
    ("mux_client_request_terminate: master returned error: Permission denied", True),
])
def test_a_socket_no_master_answers_is_not_a_warning(tmp_path: Path, control_dir: Path,
                                                     stderr: str, warned: bool) -> None:
    config, _ = one_file(tmp_path, control_dir)
    path = multiplex.control_path(config.ssh, config.peer("b"))
    assert path is not None
    listening(path)
    closing = Bounded(FakeRunner([(exit_argv(path), done(returncode=255, stderr=stderr))]))
    log = Log()
    Syncer(config, no_time_left, log, lambda: ACTIVE, runner_until=closing).close()
    assert closing.runner.finished()
    assert log.lines == ([f"ssh connection to b not closed: {stderr}"] if warned else [])


def test_a_master_that_does_not_answer_holds_close_up_only_its_own_bound(
        tmp_path: Path, control_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real runner and an "ssh" that never answers for one peer: close
    gives up on it after EXIT_WITHIN, says so, and still ends the other."""
    monkeypatch.setattr(multiplex, "EXIT_WITHIN", 0.5)
    answered = tmp_path / "answered"
    ssh = tmp_path / "ssh"
    ssh.write_text(f'#!/bin/sh\ncase "$*" in *198.51.100.12*) exec sleep 30;; esac\n'
                   f'echo "$*" >> {answered}\n')
    ssh.chmod(0o755)
    config = config_from_mapping({
        "folders": [str(tmp_path)], "state_dir": str(tmp_path / "state"),
        "ssh": {"control_dir": str(control_dir), "ssh": str(ssh)},
        "peers": [{"name": "b", "host": "198.51.100.12"},
                  {"name": "c", "host": "198.51.100.13"}]}, local="a")
    for name in "bc":
        path = multiplex.control_path(config.ssh, config.peer(name))
        assert path is not None
        listening(path)
    log = Log()
    started = time.monotonic()
    Syncer(config, no_time_left, log, lambda: ACTIVE).close()
    assert time.monotonic() - started < 2 * 0.5 + 1.0
    assert log.lines == ["ssh connection to b not closed: ssh did not answer within 0.5s"]
    assert "root@198.51.100.13" in answered.read_text()


def test_close_runs_nothing_without_a_folder_and_refuses_one_others_can_enter(
        tmp_path: Path, control_dir: Path) -> None:
    config, _ = one_file(tmp_path, control_dir)
    log = Log()
    Syncer(config, no_time_left, log, lambda: ACTIVE,
           runner_until=Bounded(FakeRunner([]))).close()  # no folder yet
    path = multiplex.control_path(config.ssh, config.peer("b"))
    assert path is not None
    listening(path)
    os.chmod(control_dir, 0o777)
    Syncer(config, no_time_left, log, lambda: ACTIVE,
           runner_until=Bounded(FakeRunner([]))).close()
    assert len(log.lines) == 1 and "must be a folder of uid" in log.lines[0]


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
