"""ocf:sipha:filesync, installed as a user installs it, pushing to a real sshd.

The peer is the private sshd of tests/support/sshd.py (its own network
namespace, documentation addresses); it shares this host's file system, so
the peer's copy of each folder lives under its own ``root``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocf_agents.filesync import TAG_VARIABLE as TAG
from ocf_agents.filesync import Watcher, tagged_processes
from tests.support import sshd
from tests.support.agent_run import AgentRun, run_agent
from tests.support.polling import content, eventually

pytestmark = pytest.mark.integration

OCF_SUCCESS, OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_ERR_CONFIGURED = 0, 1, 5, 6
OCF_NOT_RUNNING, OCF_RUNNING_PROMOTED = 7, 8


class SyncNode:
    """This node's folders, its sync.toml, the agent's environment."""

    instance = "filesync:0"

    def __init__(self, tmp_path: Path, daemon: sshd.PrivateSshd | None,
                 port: int | None = None, ocf_root: Path | None = None) -> None:
        self.ocf_root = ocf_root
        self.tags: dict[Path, str] = {}
        self.folder = tmp_path / "etc" / "asterisk"
        self.sounds = tmp_path / "sounds" / "custom"
        for folder in (self.folder, self.sounds):
            folder.mkdir(parents=True)
        self.peer_root = tmp_path / "peer"
        self.role_file = tmp_path / "run" / "sync-role"
        self.config = tmp_path / "sync.toml"
        self.rsctmp = tmp_path / "rsc"
        self.config.write_text(f"""
folders = ["{self.folder}", "{self.sounds}"]
role_file = "{self.role_file}"
state_dir = "{tmp_path / 'state'}"
backup_dir = "{tmp_path / 'local-backups'}"
debounce = 0.3
max_delay = 2
timeout = 60
""" + (self._peer(tmp_path, daemon, port) if daemon else ""))

    @staticmethod
    def _peer(tmp_path: Path, daemon: sshd.PrivateSshd, port: int | None) -> str:
        options = daemon.ssh_options()
        return f"""[ssh]
identity_file = "{options['identity_file']}"
known_hosts_file = "{options['known_hosts_file']}"
connect_timeout = 3
[[peers]]
name = "peer-b"
host = "{daemon.address}"
port = {port or options['port']}
root = "{tmp_path / 'peer'}"
backup_dir = "{tmp_path / 'peer-backups'}"
"""

    def environ(self, **params: str) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items()
               if not name.startswith(("HA_LOG", "HA_DEBUG", "OCF_"))}
        env.update({"OCF_RESOURCE_INSTANCE": self.instance, "HA_RSCTMP": str(self.rsctmp),
                    "OCF_RESKEY_config": str(self.config)})
        env.update({f"OCF_RESKEY_{key}": value for key, value in params.items()})
        return env

    def agent(self, action: str, **params: str) -> AgentRun:
        assert self.ocf_root is not None
        result = run_agent(self.ocf_root, "filesync", action, self.environ(**params))
        self.tag()  # remembered while the marker exists
        return result

    def marker(self, instance: str | None = None) -> Path:
        name = (instance or self.instance).split(":")[0]
        return self.rsctmp / f"sipha-filesync-{name}.running"

    def tag(self, instance: str | None = None) -> str:
        """The random tag of the watcher this test started, "" before one started."""
        marker = self.marker(instance)
        try:
            self.tags[marker] = marker.read_text().split("\n", 1)[0].split()[2]
        except (FileNotFoundError, IndexError):
            pass
        return self.tags.get(marker, "")

    def watcher_pid(self) -> int:
        text = self.marker().read_text().splitlines()
        return int(text[0].split()[0])

    def on_peer(self, path: Path) -> Path:
        return self.peer_root / str(path).lstrip("/")

    def role(self) -> str:
        return self.role_file.read_text().strip()

    def cleanup(self, instance: str | None = None) -> None:
        if self.ocf_root is not None:
            self.agent("stop")
        for pid in tagged_processes(self.tag(instance)):  # only what this test started
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def node(tmp_path: Path, peer_sshd: sshd.PrivateSshd, ocf_root: Path) -> Iterator[SyncNode]:
    node = SyncNode(tmp_path, peer_sshd, ocf_root=ocf_root)
    yield node
    node.cleanup()


def test_the_promoted_instance_pushes_and_demote_flushes(node: SyncNode) -> None:
    assert node.agent("monitor").rc == OCF_NOT_RUNNING
    started = node.agent("start")
    assert started.rc == OCF_SUCCESS, started.stderr
    assert node.role() == "standby"
    assert node.agent("monitor").rc == OCF_SUCCESS

    # Unpromoted: changes stay here.
    (node.folder / "sip.conf").write_text("written while standby\n")
    time.sleep(2)
    assert not node.on_peer(node.folder / "sip.conf").exists()

    promoted = node.agent("promote")
    assert promoted.rc == OCF_SUCCESS, promoted.stderr
    assert node.agent("monitor").rc == OCF_RUNNING_PROMOTED
    # The reconcile on becoming active sends what changed before ...
    assert eventually(lambda: content(node.on_peer(node.folder / "sip.conf")) ==
                      "written while standby\n", 15), "the reconcile did not reach the peer"
    # ... and every change after it follows within seconds.
    (node.sounds / "welcome.wav").write_bytes(b"RIFF....WAVE")
    assert eventually(lambda: node.on_peer(node.sounds / "welcome.wav").exists(), 15), \
        "a file written in a watched folder never reached the peer"

    # Demote pushes what the watcher has not sent yet: here it cannot (stopped).
    watcher = node.watcher_pid()
    os.kill(watcher, signal.SIGSTOP)
    try:
        (node.folder / "extensions.conf").write_text("[default]\n")
        demoted = node.agent("demote")
    finally:
        os.kill(watcher, signal.SIGCONT)
    assert demoted.rc == OCF_SUCCESS, demoted.stderr
    assert content(node.on_peer(node.folder / "extensions.conf")) == "[default]\n"
    assert node.role() == "standby"
    assert eventually(lambda: node.agent("monitor").rc == OCF_SUCCESS, 5)

    # Standby again: nothing is pushed.
    (node.folder / "late.conf").write_text("after demote\n")
    time.sleep(2)
    assert not node.on_peer(node.folder / "late.conf").exists()

    assert node.agent("stop").rc == OCF_SUCCESS
    assert node.agent("monitor").rc == OCF_NOT_RUNNING
    assert tagged_processes(node.tag()) == []
    assert not Watcher(watcher, 0, "", "", ()).alive()


def test_demote_with_an_unreachable_peer_only_warns(
        tmp_path: Path, peer_sshd: sshd.PrivateSshd, ocf_root: Path) -> None:
    # Nothing listens on this port of the peer's address: connection refused.
    node = SyncNode(tmp_path, peer_sshd, port=peer_sshd.port + 1, ocf_root=ocf_root)
    try:
        assert node.agent("start").rc == OCF_SUCCESS
        assert node.agent("promote").rc == OCF_SUCCESS
        (node.folder / "sip.conf").write_text("nobody receives this\n")
        demoted = node.agent("demote", flush_timeout="10s")
        assert demoted.rc == OCF_SUCCESS, demoted.stderr
        assert "WARNING: final push to peer-b" in demoted.stderr
        assert "Connection refused" in demoted.stderr
        assert node.role() == "standby"
        assert node.agent("monitor").rc == OCF_SUCCESS
    finally:
        node.cleanup()
    assert tagged_processes(node.tag()) == []


@pytest.mark.parametrize(("text", "words"), [
    ("folders = [\n", "is not valid TOML"),
    ('folders = ["/etc/asterisk"]\nbwlimit = "1 M"\n', "'bwlimit' must be one word"),
    ('folders = ["/etc/asterisk"]\n[[peers]]\nname = "-x"\n', "peer name '-x'"),
])
def test_a_bad_configuration_is_not_configured(tmp_path: Path, ocf_root: Path, text: str,
                                              words: str) -> None:
    node = SyncNode(tmp_path, None, ocf_root=ocf_root)
    node.config.write_text(text)
    for action in ("validate-all", "start"):
        result = node.agent(action)
        assert result.rc == OCF_ERR_CONFIGURED, result.stderr
        assert words in result.reason
    assert node.agent("monitor").rc == OCF_NOT_RUNNING
    assert tagged_processes(node.tag()) == []


def test_a_missing_program_is_not_installed(tmp_path: Path, ocf_root: Path) -> None:
    node = SyncNode(tmp_path, None, ocf_root=ocf_root)
    result = node.agent("validate-all", program="/nonexistent/sip-ha-sync")
    assert result.rc == OCF_ERR_INSTALLED
    assert "not installed" in result.reason


def test_ocf_tester_passes(tmp_path: Path, peer_sshd: sshd.PrivateSshd,
                           ocf_root: Path) -> None:
    node = SyncNode(tmp_path, peer_sshd)
    env = {**node.environ(), "OCF_ROOT": "/usr/lib/ocf"}
    try:
        result = subprocess.run(
            ["/usr/sbin/ocf-tester", "-n", "fs", "-o", f"config={node.config}",
             "-o", "flush_timeout=10s", str(ocf_root / "resource.d" / "sipha" / "filesync")],
            env=env, capture_output=True, text=True, timeout=300, check=False)
    finally:
        node.cleanup("fs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed all tests" in result.stdout
    assert tagged_processes(node.tag("fs")) == []


def test_another_users_tagged_processes_are_not_ours_and_stop_succeeds(
        tmp_path: Path, ocf_root: Path) -> None:
    """stop ends every process carrying the watcher's tag; one that fails is
    fenced.  A user who keeps starting processes with the tag in their
    environment (the one it guesses, or the real one) must not make stop fail,
    nor get them killed by root."""
    node = SyncNode(tmp_path, None, ocf_root=ocf_root)
    assert node.agent("start").rc == OCF_SUCCESS
    guessed = str(node.marker())  # what every version before this one used
    nobody = {"user": 65534, "group": 65534, "extra_groups": [], "start_new_session": True,
              "stdin": subprocess.DEVNULL, "cwd": "/"}
    spawner = subprocess.Popen(
        ["/bin/sh", "-c", f"while :; do env {TAG}={guessed} /bin/sleep 2 & /bin/sleep 0.05; done"],
        env={"PATH": "/usr/bin:/bin"}, **nobody)
    holders = [subprocess.Popen(["/bin/sleep", "300"], env={TAG: tag}, **nobody)
               for tag in (guessed, node.tag())]
    try:
        stopped = node.agent("stop", CRM_meta_timeout="10000")
        assert stopped.rc == OCF_SUCCESS, stopped.stderr
        assert stopped.elapsed < 5
        assert [h.poll() for h in holders] == [None, None]  # not killed
        assert spawner.poll() is None
    finally:
        for process in (spawner, *holders):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert node.agent("monitor").rc == OCF_NOT_RUNNING
