"""sync_helper against a real sshd and real rsync: what an operator notices.

The "peer" is a private sshd in its own network namespace; it shares this
host's file system, so each test gives the peer its own root folder (the
``root`` peer setting) and its own backup folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from sync_helper import rsync_argv
from sync_helper.cli import main
from sync_helper.config import SyncConfig, load_config
from sync_helper.report import SyncReport
from sync_helper.service import SyncService
from sync_helper.syncer import Syncer
from tests.support import sshd
from tests.support.missing import missing
from tests.support.polling import content, eventually

pytestmark = pytest.mark.integration


class Node:
    """This node's folders and the peer's view of them.

    ``confined``: the peer takes the key only through rrsync confined to
    ``peer_root`` (see ``authorize``), so the configuration names the peer's
    paths as the key sees them: root "/", backups in "/backups"."""

    def __init__(self, tmp_path: Path, daemon: sshd.PrivateSshd,
                 known_hosts: Path | None = None, confined: bool = False,
                 user: str = "root", peer_root: Path | None = None) -> None:
        self.folder = tmp_path / "etc" / "asterisk"
        self.sounds = tmp_path / "sounds" / "custom"
        self.folder.mkdir(parents=True)
        self.sounds.mkdir(parents=True)
        self.peer_root = peer_root or tmp_path / "peer"
        self.peer_backups = self.peer_root / "backups" if confined else tmp_path / "peer-backups"
        self.local_backups = tmp_path / "local-backups"
        self.role_file = tmp_path / "role"
        self.config_file = tmp_path / "sync.toml"
        self.daemon = daemon
        root, backups = ("/", "/backups") if confined else (self.peer_root, self.peer_backups)
        options = daemon.ssh_options()
        self.config_file.write_text(f"""
folders = ["{self.folder}", "{self.sounds}"]
exclude = ["*.swp", "*~"]
role_file = "{self.role_file}"
state_dir = "{tmp_path / 'state'}"
backup_dir = "{self.local_backups}"
debounce = 0.3
max_delay = 2
timeout = 60
[ssh]
identity_file = "{options['identity_file']}"
known_hosts_file = "{known_hosts or options['known_hosts_file']}"
[[peers]]
name = "peer-b"
user = "{user}"
host = "{daemon.address}"
port = {options['port']}
root = "{root}"
backup_dir = "{backups}"
""")
        self.set_role("active")

    def authorize(self, receive_root: Path, *sources: str) -> None:
        """Install on the peer the line ``sip-ha-sync authorized-key`` prints."""
        from click.testing import CliRunner

        from sync_helper.cli import cli

        result = CliRunner().invoke(cli, ["-c", str(self.config_file), "authorized-key",
                                          "--peer", "peer-b", "--dir", str(receive_root),
                                          *(a for s in sources for a in ("--from", s))])
        assert result.exit_code == 0, result.output
        self.daemon.authorize(result.output.strip())

    def set_role(self, role: str) -> None:
        self.role_file.write_text(f"{role}\n")

    def config(self) -> SyncConfig:
        return load_config(self.config_file)

    def on_peer(self, path: Path) -> Path:
        return self.peer_root / str(path).lstrip("/")

    def backups_of(self, path: Path) -> list[str]:
        """The contents of every backup copy of path on the peer."""
        relative = str(path).lstrip("/")
        return sorted(p.read_text() for p in self.peer_backups.glob(f"*/{relative}"))

    def cli(self, *args: str) -> int:
        return main(["-c", str(self.config_file), *args])


class Running:
    def __init__(self, node: Node) -> None:
        from sipha_runtime.log import Logger
        from sipha_runtime.run import Runner

        config = node.config()
        log = Logger("sip-ha-sync", "test", {})
        self.reports: list[SyncReport] = []
        syncer = Syncer(config, lambda: Runner(time.monotonic() + 60, log), log,
                        lambda: node.role_file.read_text().strip())
        self.service = SyncService(config, syncer, log, on_report=self.reports.append)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.service.run, args=(self.stop,), daemon=True)

    def __enter__(self) -> Running:
        self.thread.start()
        assert self.service.ready.wait(10), "the watcher did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


@pytest.fixture
def node(tmp_path: Path, peer_sshd: sshd.PrivateSshd) -> Node:
    return Node(tmp_path, peer_sshd)


def test_a_file_written_in_a_watched_folder_appears_on_the_peer(node: Node) -> None:
    with Running(node):
        (node.folder / "sip.conf").write_text("[general]\nbindport=5060\n")
        (node.sounds / "welcome.wav").write_bytes(b"RIFF....WAVE")
        assert eventually(lambda: content(node.on_peer(node.folder / "sip.conf")) ==
                          "[general]\nbindport=5060\n"), "sip.conf never reached the peer"
        assert eventually(lambda: node.on_peer(node.sounds / "welcome.wav").exists())
        (node.folder / ".sip.conf.swp").write_text("editor swap")
        (node.folder / "extensions.conf").write_text("[default]\n")
        assert eventually(lambda: node.on_peer(node.folder / "extensions.conf").exists())
    assert not node.on_peer(node.folder / ".sip.conf.swp").exists()


def test_a_burst_of_writes_arrives_complete_in_few_transfers(node: Node) -> None:
    with Running(node) as running:
        assert eventually(lambda: len(running.reports) >= 1)  # the first reconcile
        before = len(running.reports)
        for n in range(30):
            (node.folder / f"pjsip_{n}.conf").write_text(f"endpoint {n}\n")
        assert eventually(lambda: all(node.on_peer(node.folder / f"pjsip_{n}.conf").exists()
                                      for n in range(30)))
        assert len(running.reports) - before < 30


def test_a_differing_peer_file_is_kept_as_a_backup(node: Node) -> None:
    peer_copy = node.on_peer(node.folder / "sip.conf")
    peer_copy.parent.mkdir(parents=True)
    peer_copy.write_text("the peer's old version\n")
    os.utime(peer_copy, (1_600_000_000, 1_600_000_000))
    with Running(node):
        (node.folder / "sip.conf").write_text("the active's version\n")
        assert eventually(lambda: content(peer_copy) == "the active's version\n")
    assert node.backups_of(node.folder / "sip.conf") == ["the peer's old version\n"]


def test_a_conflict_is_reported_and_not_overwritten(
        node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    local = node.folder / "sip.conf"
    local.write_text("version 1\n")
    os.utime(local, (1_700_000_000, 1_700_000_000))
    assert node.cli("push", str(local)) == 0
    peer_copy = node.on_peer(local)
    assert content(peer_copy) == "version 1\n"
    peer_copy.write_text("edited on the peer after the sync\n")  # newer than the sync
    local.write_text("version 2 here\n")
    capsys.readouterr()
    assert node.cli("push", str(local)) == 5
    out = capsys.readouterr().out
    assert "CONFLICT" in out and str(local) in out
    assert content(peer_copy) == "edited on the peer after the sync\n"
    assert node.cli("resync") == 5  # a full resync leaves it alone too
    assert content(peer_copy) == "edited on the peer after the sync\n"
    assert node.cli("push", "--force", str(local)) == 0
    assert content(peer_copy) == "version 2 here\n"
    assert node.backups_of(local) == ["edited on the peer after the sync\n"]


def test_the_standby_does_not_push_until_it_becomes_active(node: Node) -> None:
    node.set_role("standby")
    with Running(node):
        (node.folder / "sip.conf").write_text("written on the standby\n")
        time.sleep(3)
        assert not node.on_peer(node.folder / "sip.conf").exists()
        node.set_role("active")
        assert eventually(lambda: content(node.on_peer(node.folder / "sip.conf")) ==
                          "written on the standby\n")


def test_a_deletion_keeps_a_backup_on_the_peer(node: Node) -> None:
    with Running(node):
        (node.folder / "old_trunk.conf").write_text("register => old\n")
        (node.folder / "retired").mkdir()
        (node.folder / "retired" / "queue.conf").write_text("[q]\n")
        assert eventually(lambda: node.on_peer(node.folder / "retired" / "queue.conf").exists())
        (node.folder / "old_trunk.conf").unlink()
        (node.folder / "retired" / "queue.conf").unlink()
        (node.folder / "retired").rmdir()
        assert eventually(lambda: not node.on_peer(node.folder / "old_trunk.conf").exists()
                          and not node.on_peer(node.folder / "retired").exists())
    assert node.backups_of(node.folder / "old_trunk.conf") == ["register => old\n"]
    assert node.backups_of(node.folder / "retired" / "queue.conf") == ["[q]\n"]


def test_pull_copies_the_outage_changes_back_first(
        node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    """A former active comes back as standby and takes what changed meanwhile."""
    node.set_role("standby")
    local = node.folder / "extensions.conf"
    local.write_text("before the outage\n")
    os.utime(local, (1_600_000_000, 1_600_000_000))
    peer_copy = node.on_peer(local)
    peer_copy.parent.mkdir(parents=True)
    peer_copy.write_text("changed during the outage\n")
    node.on_peer(node.sounds / "holiday.wav").parent.mkdir(parents=True)
    node.on_peer(node.sounds / "holiday.wav").write_bytes(b"RIFF")
    assert node.cli("resync", "--direction", "pull", "--json") == 0
    report = json.loads(capsys.readouterr().out)["peers"][0]
    assert report["replaced"] == [str(local)]
    assert report["sent"] == [str(node.sounds / "holiday.wav")]
    assert local.read_text() == "changed during the outage\n"
    assert (node.sounds / "holiday.wav").read_bytes() == b"RIFF"
    kept = sorted(p.read_text() for p in node.local_backups.glob(f"*/{str(local).lstrip('/')}"))
    assert kept == ["before the outage\n"]


def wrong_known_hosts(tmp_path: Path, peer_sshd: sshd.PrivateSshd) -> Path:
    """A known_hosts file naming another key for the peer."""
    other = tmp_path / "other_key"
    subprocess.run(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True)
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"[{peer_sshd.address}]:{peer_sshd.port} "
                     f"{' '.join(Path(f'{other}.pub').read_text().split()[:2])}\n")
    return wrong


def test_an_untrusted_peer_key_is_an_error_and_nothing_changes(
        tmp_path: Path, peer_sshd: sshd.PrivateSshd,
        capsys: pytest.CaptureFixture[str]) -> None:
    wrong = wrong_known_hosts(tmp_path, peer_sshd)
    node = Node(tmp_path, peer_sshd, known_hosts=wrong)
    (node.folder / "sip.conf").write_text("keep me\n")
    assert node.cli("push", str(node.folder / "sip.conf")) == 1
    assert "Host key verification failed" in capsys.readouterr().out
    assert (node.folder / "sip.conf").read_text() == "keep me\n"
    assert not node.peer_root.exists()


def test_the_health_record_says_failing_until_the_host_key_is_fixed(
        tmp_path: Path, peer_sshd: sshd.PrivateSshd) -> None:
    """What the filesync agent publishes comes from this record: a broken host
    key makes every push fail and holds what was not delivered; once fixed,
    the next full reconcile delivers it and the peer is ok again."""
    from sync_helper.health import FAILING, OK, read

    wrong = wrong_known_hosts(tmp_path, peer_sshd)
    node = Node(tmp_path, peer_sshd, known_hosts=wrong)
    node.config_file.write_text(node.config_file.read_text().replace(
        "timeout = 60\n", "timeout = 60\nreconcile_interval = 2\n"))
    record = tmp_path / "state" / "health.json"
    written = node.folder / "sip.conf"

    def peer() -> object:
        return read(record).get("peer-b")

    node.set_role("standby")
    with Running(node):
        time.sleep(1)
        assert peer() is None                     # a standby pushes to nobody
        node.set_role("active")
        assert eventually(lambda: getattr(peer(), "state", None) == FAILING)
        written.write_text("[general]\n")
        assert eventually(lambda: str(written) in getattr(peer(), "pending", []))
        health = read(record)["peer-b"]
        assert health.state == FAILING and health.reconciled is None
        assert "Host key verification failed" in health.error, health.error
        wrong.write_text(peer_sshd.known_hosts.read_text())
        assert eventually(lambda: getattr(peer(), "state", None) == OK, within=20)
        health = read(record)["peer-b"]
        assert (health.pending, health.error, health.conflicts) == ([], "", [])
        assert health.reconciled is not None and health.last_ok == health.reconciled
        assert content(node.on_peer(written)) == "[general]\n"


def test_files_only_the_peer_has_are_recorded_then_taken_or_dropped(node: Node) -> None:
    """What a former active wrote before it failed and never pushed: the
    active's comparison keeps it and records it; the documented commands take
    one into the active tree (a pull) or drop it into the peer's backup
    folder (push --force of the path), and the record forgets them."""
    from sync_helper.health import read

    take, drop = node.folder / "voicemail-greeting.conf", node.folder / "scratch.conf"
    for path, text in ((take, "keep me\n"), (drop, "throw me away\n")):
        node.on_peer(path).parent.mkdir(parents=True, exist_ok=True)
        node.on_peer(path).write_text(text)
    record = node.config().state_dir / "health.json"
    assert node.cli("resync") == 0
    assert read(record)["peer-b"].kept == [str(drop), str(take)]
    assert node.cli("push", "--force", str(drop)) == 0
    assert not node.on_peer(drop).exists()
    assert node.backups_of(drop) == ["throw me away\n"]
    assert read(record)["peer-b"].kept == [str(take)]
    assert node.cli("resync", "--direction", "pull", "--peer", "peer-b") == 0
    assert take.read_text() == "keep me\n"
    assert not drop.exists()
    assert node.cli("resync") == 0
    assert read(record)["peer-b"].kept == []
    assert read(record)["peer-b"].state == "ok"


def test_the_watch_command_pushes_and_stops_on_sigterm(node: Node) -> None:
    import signal
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "sync_helper.cli", "-c",
                             str(node.config_file), "watch"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).parents[2])
    try:
        time.sleep(1)  # let the watches be placed; a file written earlier is reconciled anyway
        (node.folder / "rtp.conf").write_text("rtpstart=10000\n")
        assert eventually(lambda: content(node.on_peer(node.folder / "rtp.conf")) ==
                          "rtpstart=10000\n")
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "active: pushing changes" in err


class SwapDuringPush:
    """Runs the real commands, but first replaces a folder of the tree with a
    symlink to somewhere else: what a user who can write in a watched folder
    can do between the planning of a push and rsync reading the files.
    ``moment`` is the listing of the peer (before anything is read for the
    transfer) or the transfer itself."""

    def __init__(self, folder: Path, target: Path, owner: int, moment: str) -> None:
        from sipha_runtime.log import Logger
        from sipha_runtime.run import Runner

        self.folder, self.target, self.owner, self.moment = folder, target, owner, moment
        self.runner = Runner(time.monotonic() + 60, Logger("sip-ha-sync", "test", {}))
        self.swapped = False

    def run(self, argv: list[str], timeout: float | None = None,
            env: dict[str, str] | None = None) -> object:
        transfer = "--dry-run" not in argv
        if not self.swapped and transfer == (self.moment == "transfer"):
            self.folder.rename(self.folder.with_name(f"{self.folder.name}.moved"))
            self.folder.symlink_to(self.target)
            os.lchown(self.folder, self.owner, self.owner)
            self.swapped = True
        return self.runner.run(argv, timeout, env)


@pytest.mark.parametrize("moment", ["listing", "transfer"])
@pytest.mark.parametrize("owner", [0, 65534], ids=["root-owns-the-link", "a-user-owns-the-link"])
def test_a_folder_swapped_for_a_symlink_during_a_push_sends_nothing_from_outside(
        node: Node, tmp_path: Path, owner: int, moment: str) -> None:
    """rsync >= 3.5 itself refuses a symlink in the middle of a path when a user
    other than root owns it; rsync 3.2.7 follows any.  A link that root owns
    (one root made in a folder the user can write, renamed into place) every
    version follows: only the sender's own walk keeps it out."""
    from sipha_runtime.log import Logger

    secret = tmp_path / "root-only"
    secret.mkdir(mode=0o700)
    (secret / "voicemail.conf").write_text("the root-only secret\n")
    (secret / "voicemail.conf").chmod(0o644)
    sub = node.folder / "pjsip.d"
    sub.mkdir()
    (sub / "voicemail.conf").write_text("the user's own file\n")
    swap = SwapDuringPush(sub, secret, owner, moment)
    log = Logger("sip-ha-sync", "test", {})
    syncer = Syncer(node.config(), lambda: swap, log, lambda: "active")
    try:
        syncer.push_paths([str(sub / "voicemail.conf")])
    finally:
        syncer.close()
    assert swap.swapped
    arrived = {p: p.read_text() for p in node.peer_root.rglob("*") if p.is_file()}
    assert not [p for p, text in arrived.items() if "secret" in text], arrived
    if moment == "transfer":  # read before the swap: the user's own file, as planned
        assert content(node.on_peer(sub / "voicemail.conf")) == "the user's own file\n"


def test_a_file_named_with_bytes_that_are_not_utf8_is_removed_on_the_peer(
        node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    """Names are bytes: a prompt recorded on an old Latin-1 system keeps its
    0xff byte, and its removal here must reach the peer like any other."""
    local = node.sounds / os.fsdecode(b"accueil-\xff.wav")
    local.write_bytes(b"RIFF")
    os.utime(local, (1_700_000_000, 1_700_000_000))
    assert node.cli("push", str(local)) == 0
    assert node.on_peer(local).read_bytes() == b"RIFF"
    assert node.cli("resync") == 0
    assert "kept" not in capsys.readouterr().out
    local.unlink()
    assert node.cli("push", str(local)) == 0
    assert not node.on_peer(local).exists()
    backup = list(node.peer_backups.glob(f"*/{str(local).lstrip('/')}"))
    assert [p.read_bytes() for p in backup] == [b"RIFF"]
    capsys.readouterr()
    assert node.cli("resync", "--json") == 0
    report = json.loads(capsys.readouterr().out)["peers"][0]
    assert (report["kept"], report["sent"], report["removed"]) == ([], [], [])


def test_removing_a_folder_here_leaves_what_only_the_peer_had(
        node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    retired = node.folder / "retired"
    retired.mkdir()
    (retired / "queue.conf").write_text("[q]\n")
    assert node.cli("push", str(retired)) == 0
    peer_only = node.on_peer(retired / "local-notes.txt")  # never synced: reported kept
    peer_only.write_text("the peer's own\n")
    (retired / "queue.conf").unlink()
    retired.rmdir()
    capsys.readouterr()
    assert node.cli("push", str(retired / "queue.conf"), str(retired)) == 0
    assert f"kept {retired / 'local-notes.txt'}" in capsys.readouterr().out
    assert content(peer_only) == "the peer's own\n"
    assert not node.on_peer(retired / "queue.conf").exists()
    assert node.backups_of(retired / "queue.conf") == ["[q]\n"]


# -- a key confined by its forced command (rrsync) ------------------------------


@pytest.fixture
def confined(tmp_path: Path, peer_sshd: sshd.PrivateSshd) -> Iterator[Node]:
    """The peer takes the key only through rrsync confined to its folder, and
    only from this host's address."""
    node = Node(tmp_path, peer_sshd, confined=True)
    node.peer_root.mkdir()
    node.authorize(node.peer_root, peer_sshd.host_address)
    try:
        yield node
    finally:
        peer_sshd.authorize()


def test_a_confined_key_lists_pushes_keeps_backups_and_pulls(
        confined: Node, capsys: pytest.CaptureFixture[str]) -> None:
    node, local = confined, confined.folder / "sip.conf"
    local.write_text("version 1\n")
    os.utime(local, (1_700_000_000, 1_700_000_000))
    assert node.cli("push", str(local)) == 0  # its folder missing there: listed as empty
    assert content(node.on_peer(local)) == "version 1\n"
    local.write_text("version 2\n")
    (node.folder / "old.conf").write_text("retired\n")
    assert node.cli("push", str(local), str(node.folder / "old.conf")) == 0
    assert content(node.on_peer(local)) == "version 2\n"
    assert node.backups_of(local) == ["version 1\n"]
    (node.folder / "old.conf").unlink()
    assert node.cli("push", str(node.folder / "old.conf")) == 0
    assert not node.on_peer(node.folder / "old.conf").exists()
    assert node.backups_of(node.folder / "old.conf") == ["retired\n"]
    capsys.readouterr()
    assert node.cli("resync", "--json") == 0  # the sounds folder is still missing there
    report = json.loads(capsys.readouterr().out)["peers"][0]
    assert (report["sent"], report["replaced"], report["removed"], report["errors"]) == \
        ([], [], [], [])

    node.set_role("standby")
    node.on_peer(local).write_text("edited on the peer\n")
    node.on_peer(node.sounds / "moh.wav").parent.mkdir(parents=True)
    node.on_peer(node.sounds / "moh.wav").write_bytes(b"RIFF")
    assert node.cli("resync", "--direction", "pull") == 0
    assert local.read_text() == "edited on the peer\n"
    assert (node.sounds / "moh.wav").read_bytes() == b"RIFF"
    kept = [p.read_text() for p in node.local_backups.glob(f"*/{str(local).lstrip('/')}")]
    assert kept == ["version 2\n"]
    assert "forced-command (key-option) '/usr/bin/rrsync" in node.daemon.log.read_text()


def test_a_second_edit_in_the_same_second_of_the_same_size_arrives(confined: Node) -> None:
    """5060 -> 5061 written twice within one second: the listings (whole
    seconds, size) cannot tell it from what was sent, rsync's quick check
    neither; the push sends what it was told changed and compares content.
    Through a confined key: rrsync lets --checksum through."""
    node, local = confined, confined.folder / "sip.conf"
    second = 1_700_000_000 * 10**9
    local.write_text("bindport=5060\n")
    os.utime(local, ns=(second + 100_000_000, second + 100_000_000))
    assert node.cli("push", str(local)) == 0
    assert content(node.on_peer(local)) == "bindport=5060\n"
    local.write_text("bindport=5061\n")
    os.utime(local, ns=(second + 700_000_000, second + 700_000_000))
    assert node.cli("push", str(local)) == 0
    assert content(node.on_peer(local)) == "bindport=5061\n"


def test_a_confined_key_runs_no_command_and_writes_below_its_folder_only(
        confined: Node, tmp_path: Path) -> None:
    config = confined.config()
    peer = config.peers[0]
    ssh = rsync_argv.ssh_command(config.ssh, peer)
    marker = tmp_path / "ran"
    shell = subprocess.run([*ssh, peer.address(), f"touch {marker}"], capture_output=True,
                           text=True, timeout=30, check=False)
    assert shell.returncode != 0 and "does not run rsync" in shell.stderr
    assert not marker.exists()

    payload = tmp_path / "payload"
    payload.write_text("written by the key\n")
    rsync = ["/usr/bin/rsync", "--mkpath", "-e", " ".join(ssh), str(payload)]
    outside = tmp_path / "outside" / "payload"
    sent = subprocess.run([*rsync, f"{peer.address()}:{outside}"], capture_output=True,
                          text=True, timeout=30, check=False)
    assert sent.returncode == 0, sent.stderr
    assert not outside.exists()
    assert content(confined.on_peer(outside)) == "written by the key\n"
    up = subprocess.run([*rsync, f"{peer.address()}:/../escaped"], capture_output=True,
                        text=True, timeout=30, check=False)
    assert up.returncode != 0 and "do not use .." in up.stderr
    assert not (tmp_path / "escaped").exists()


def test_a_confined_key_used_from_another_address_is_refused(
        tmp_path: Path, peer_sshd: sshd.PrivateSshd,
        capsys: pytest.CaptureFixture[str]) -> None:
    node = Node(tmp_path, peer_sshd, confined=True)
    node.peer_root.mkdir()
    node.authorize(node.peer_root, "192.0.2.7")
    try:
        (node.folder / "sip.conf").write_text("not for them\n")
        assert node.cli("push", str(node.folder / "sip.conf")) == 1
        assert "Permission denied" in capsys.readouterr().out
        assert list(node.peer_root.iterdir()) == []
    finally:
        peer_sshd.authorize()


# -- a peer user other than root ------------------------------------------------


@pytest.fixture
def other_user() -> Iterator[tuple[sshd.PrivateSshd, sshd.User]]:
    """A peer sshd that knows an account other than root, whose home every
    user can reach (pytest's folders are root's alone): the daemon's files
    (it reads authorized_keys as that user) and the peer's side go there."""
    why = sshd.available()
    if why:
        missing(why)
    uid = next(n for n in range(64100, 65000) if not _uid_taken(n))
    home = Path(tempfile.mkdtemp(prefix="sipsync-user-"))
    home.chmod(0o755)
    daemon = sshd.PrivateSshd(home / "sshd", users=(sshd.User("sipsync", uid, home),))
    try:
        daemon.up()
        yield daemon, daemon.users[0]
    finally:
        daemon.down()
        shutil.rmtree(home)
    assert daemon.leftovers() == []


def _uid_taken(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def _make_owned(top: Path, path: Path, uid: int) -> None:
    """The folders from top down to path, made as the sync would have made them."""
    for folder in (*reversed(path.relative_to(top).parents), path.relative_to(top)):
        (top / folder).mkdir(exist_ok=True)
        os.chown(top / folder, uid, uid)


def test_a_peer_user_other_than_root_owns_what_arrives_and_keeps_backups(
        tmp_path: Path, other_user: tuple[sshd.PrivateSshd, sshd.User]) -> None:
    """What a peer gets when it is reached as the account that owns its
    folders: every file is that user's, whoever owned it here; a folder a root
    sync left there (root's, the user's group may write in it) takes files
    without a failure over its mode or time; replaced and removed files go to
    the backup folder as with root."""
    daemon, user = other_user
    node = Node(tmp_path, daemon, confined=True, user=user.name, peer_root=user.home / "peer")
    _make_owned(user.home, node.on_peer(node.folder), user.uid)
    node.authorize(node.peer_root, daemon.host_address)
    trunk, phones = node.folder / "pjsip.d" / "trunk.conf", node.folder / "phones.conf"
    trunk.parent.mkdir()
    trunk.write_text("new trunk\n")
    trunk.chmod(0o640)
    os.utime(trunk.parent, (1_650_000_000, 1_650_000_000))
    phones.write_text("[101]\n")
    os.chown(phones, 1000, 1000)
    peer_trunk = node.on_peer(trunk)
    peer_trunk.parent.mkdir()
    os.chown(peer_trunk.parent, 0, user.uid)
    peer_trunk.parent.chmod(0o775)
    peer_trunk.write_text("old trunk\n")
    os.utime(peer_trunk, (1_600_000_000, 1_600_000_000))

    assert node.cli("push", str(trunk.parent), str(phones)) == 0
    assert content(peer_trunk) == "new trunk\n"
    assert content(node.on_peer(phones)) == "[101]\n"
    assert {peer_trunk.stat().st_uid, node.on_peer(phones).stat().st_uid} == {user.uid}
    assert node.backups_of(trunk) == ["old trunk\n"]
    assert {p.stat().st_uid for p in node.peer_backups.rglob("*") if p.is_dir()} == {user.uid}

    phones.unlink()
    assert node.cli("push", str(phones)) == 0
    assert not node.on_peer(phones).exists()
    assert node.backups_of(phones) == ["[101]\n"]

    node.set_role("standby")
    peer_trunk.write_text("edited on the peer\n")
    assert node.cli("resync", "--direction", "pull") == 0
    assert trunk.read_text() == "edited on the peer\n"
    assert "Starting session: forced-command (key-option) '/usr/bin/rrsync" in \
        daemon.log.read_text() and f"for {user.name} from" in daemon.log.read_text()


# -- pruning old backups ------------------------------------------------------------


def test_watch_prunes_this_nodes_old_backups_whatever_its_role(node: Node) -> None:
    from sync_helper.rsync_argv import backup_stamp

    node.set_role("standby")
    old, young = (node.local_backups / backup_stamp(time.time() - days * 86400)
                  for days in (31, 29))
    for dated in (old, young):
        (dated / "etc").mkdir(parents=True)
        (dated / "etc" / "sip.conf").write_text("kept\n")
    with Running(node):
        assert eventually(lambda: not old.exists())
    assert (young / "etc" / "sip.conf").read_text() == "kept\n"


def test_the_receiving_node_prunes_what_confined_pushes_left(
        confined: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rrsync 3.5 makes a push's dated folder before the transfer, so one that
    replaced nothing leaves an empty one: it goes after an hour; one holding
    a replaced file stays for backup_keep_days."""
    node, local = confined, confined.folder / "sip.conf"
    local.write_text("version 1\n")
    os.utime(local, (1_700_000_000, 1_700_000_000))
    assert node.cli("push", str(local)) == 0
    local.write_text("version 2\n")
    assert node.cli("push", str(local)) == 0
    (node.folder / "new.conf").write_text("new\n")
    assert node.cli("push", str(node.folder / "new.conf")) == 0
    receiver = tmp_path / "receiver.toml"  # the peer's own sync.toml
    receiver.write_text(f'folders = ["{node.folder}"]\nbackup_dir = "{node.peer_backups}"\n')
    now = time.time()
    monkeypatch.setattr("time.time", lambda: now + 2 * 3600)
    assert main(["-c", str(receiver), "prune"]) == 0
    left = list(node.peer_backups.iterdir())
    assert left and all(any(p.is_file() for p in dated.rglob("*")) for dated in left)
    assert node.backups_of(local) == ["version 1\n"]
    monkeypatch.setattr("time.time", lambda: now + 31 * 86400)
    assert main(["-c", str(receiver), "prune"]) == 0
    assert list(node.peer_backups.iterdir()) == []


# -- one shared ssh connection per peer ---------------------------------------


def _logins(daemon: sshd.PrivateSshd) -> int:
    """Connections the peer's sshd accepted so far (one line each)."""
    return daemon.log.read_text().count("Accepted publickey for root")


def _master_check(node: Node) -> subprocess.CompletedProcess[str]:
    from sync_helper import multiplex

    config = node.config()
    peer = config.peers[0]
    path = multiplex.control_path(config.ssh, peer)
    assert path is not None
    return subprocess.run(multiplex.control_argv(config.ssh, peer, path, "check"),
                          capture_output=True, text=True, timeout=10, check=False)


def arrived(node: Node, path: Path, text: str) -> bool:
    return content(node.on_peer(path)) == text


def _restart(daemon: sshd.PrivateSshd) -> None:
    """The peer's sshd and every connection it holds end, as in a reboot of
    the peer; then it starts again (the same address, port and keys)."""
    import signal

    def inside() -> list[int]:
        found = subprocess.run(["/usr/sbin/ip", "netns", "pids", daemon.netns],
                               capture_output=True, text=True, timeout=10, check=True)
        return [int(pid) for pid in found.stdout.split()]

    for pid in inside():
        with contextlib.suppress(ProcessLookupError):  # ended since the listing
            os.kill(pid, signal.SIGTERM)
    assert eventually(lambda: not inside())
    assert daemon.process is not None
    daemon.process.wait(5)
    daemon._start()  # the harness's own start, without a new network


def test_pushes_share_one_connection_which_a_peer_restart_does_not_wedge(
        node: Node, peer_sshd: sshd.PrivateSshd) -> None:
    """What an operator sees: the peer's sshd logs one login for the
    watcher's reconcile and every push after it; the connection is there
    between pushes (``ssh -O check``); an operator's ``push`` rides on it
    and stops it after; when the peer restarts, the next change
    still arrives, over a new connection; and stopping the watcher ends it."""
    before = _logins(peer_sshd)
    first, second, third = (node.folder / n for n in ("a.conf", "b.conf", "c.conf"))
    with Running(node):
        for path in (first, second):
            path.write_text(f"{path.name}\n")
            assert eventually(partial(arrived, node, path, f"{path.name}\n"))
        assert _logins(peer_sshd) - before == 1
        checked = _master_check(node)
        assert checked.returncode == 0 and "Master running" in checked.stderr
        # An operator's `push` rides on it too, then asks it to stop: it
        # ends (nothing of the watcher's was on it), and leaves none behind.
        assert node.cli("push", str(first)) == 0
        assert _logins(peer_sshd) - before == 1
        assert eventually(lambda: _master_check(node).returncode != 0, within=5)
        _restart(peer_sshd)
        third.write_text("after the restart\n")
        assert eventually(lambda: content(node.on_peer(third)) == "after the restart\n",
                          within=20)
        assert _logins(peer_sshd) - before == 2
    assert eventually(lambda: _master_check(node).returncode != 0, within=5)


def test_a_new_host_key_after_a_restart_is_refused(
        node: Node, peer_sshd: sshd.PrivateSshd, tmp_path: Path) -> None:
    """A shared connection does not carry pushes past a host key change: the
    one made before ends with the old server, the next is checked."""
    from sync_helper.health import FAILING, read

    written = node.folder / "sip.conf"
    key = peer_sshd.folder / "host_ed25519"
    kept = {suffix: Path(f"{key}{suffix}").read_bytes() for suffix in ("", ".pub")}
    with Running(node):
        written.write_text("before\n")
        assert eventually(lambda: content(node.on_peer(written)) == "before\n")
        try:
            for suffix in ("", ".pub"):
                Path(f"{key}{suffix}").unlink()
            subprocess.run([sshd.SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                           check=True, capture_output=True, timeout=30)
            _restart(peer_sshd)
            written.write_text("not to an impostor\n")
            record = node.config().state_dir / "health.json"
            # (a push during the restart may fail first with "Connection refused")
            assert eventually(lambda: "Host key verification failed" in getattr(
                read(record).get("peer-b"), "error", ""))
            assert read(record)["peer-b"].state == FAILING
            assert content(node.on_peer(written)) == "before\n"
        finally:
            for suffix, data in kept.items():
                Path(f"{key}{suffix}").write_bytes(data)
            _restart(peer_sshd)


def test_a_shared_connection_to_a_silent_peer_fails_the_push_in_bounded_time(
        node: Node, peer_sshd: sshd.PrivateSshd) -> None:
    """The peer's link goes down without a word (no reset, no close): the
    connection's pings go unanswered and the push waiting on it fails within
    about connect_timeout (10 s), not rsync's timeout; once the link is back,
    the next change arrives."""
    from sync_helper.health import FAILING, read

    record = node.config().state_dir / "health.json"
    link = ["/usr/sbin/ip", "-n", peer_sshd.netns, "link", "set", "eth0"]
    with Running(node):
        (node.folder / "a.conf").write_text("a\n")
        assert eventually(partial(arrived, node, node.folder / "a.conf", "a\n"))
        subprocess.run([*link, "down"], check=True, timeout=10)
        try:
            (node.folder / "b.conf").write_text("b\n")
            started = time.monotonic()
            assert eventually(lambda: getattr(read(record).get("peer-b"), "state", "")
                              == FAILING, within=40)
            print(f"failed after {time.monotonic() - started:.1f} s: "
                  f"{read(record)['peer-b'].error}")
        finally:
            subprocess.run([*link, "up"], check=True, timeout=10)
        (node.folder / "c.conf").write_text("c\n")
        assert eventually(partial(arrived, node, node.folder / "c.conf", "c\n"), within=30)
    _end_orphans(peer_sshd)


def _naming(path: Path) -> list[int]:
    """Processes whose command line names the control socket: its master
    (``ssh: PATH [mux]``) or a run still on it."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):  # ended since the listing
            if os.fsencode(path) in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
    return found


@pytest.mark.parametrize("before", ["a-stale-socket", "a-push-cut-by-its-deadline"])
def test_closing_leaves_no_ssh_master_behind(node: Node, peer_sshd: sshd.PrivateSshd,
                                             before: str) -> None:
    """What an operator checks after a stop or demote: no ssh master for the
    peer (its socket gone, ``ssh -O check`` refused, no process naming it),
    also when its master was opened over a stale socket (one a killed master
    left), or when the push before the close used up its deadline (the
    demote's final push cut by flush_timeout) on a peer gone silent."""
    import socket

    from sipha_runtime.log import Logger
    from sipha_runtime.run import CommandTimeout, Runner
    from sync_helper import multiplex

    # pings every 20 s: a master to a silent peer lives on a minute by itself
    node.config_file.write_text(node.config_file.read_text().replace(
        "[ssh]\n", "[ssh]\nconnect_timeout = 60\n"))
    config = node.config()
    path = multiplex.control_path(config.ssh, config.peers[0])
    assert path is not None
    log = Logger("sip-ha-sync", "test", {})
    link = ["/usr/sbin/ip", "-n", peer_sshd.netns, "link", "set", "eth0"]
    first, second = node.folder / "a.conf", node.folder / "b.conf"
    first.write_text("a\n")
    second.write_text("b\n")
    opener = Syncer(config, lambda: Runner(time.monotonic() + 60, log), log, lambda: "active")
    if before == "a-stale-socket":
        multiplex.prepare(path.parent)
        with socket.socket(socket.AF_UNIX) as stale:
            stale.bind(str(path))
    opener.push_paths([str(first)])
    assert arrived(node, first, "a\n")
    assert _master_check(node).returncode == 0
    until = time.monotonic() + 3
    closer = Syncer(config, lambda: Runner(until, log), log, lambda: "active")
    try:
        if before == "a-push-cut-by-its-deadline":
            subprocess.run([*link, "down"], check=True, timeout=10)
            with pytest.raises(CommandTimeout):
                closer.push_paths([str(second)])
            assert _master_check(node).returncode == 0  # it outlived the push
        started = time.monotonic()
        closer.close()
        assert time.monotonic() - started < multiplex.EXIT_WITHIN
        assert eventually(lambda: not os.path.lexists(path) and not _naming(path), within=3), \
            _naming(path)
        checked = _master_check(node)
        assert checked.returncode != 0 and "Master running" not in checked.stderr
    finally:
        subprocess.run([*link, "up"], check=True, timeout=10)
        _end_orphans(peer_sshd)


def _end_orphans(daemon: sshd.PrivateSshd) -> None:
    """A server side whose client vanished while the link was down waits for
    a packet that may never come: end it (ours, in the peer's namespace)."""
    import signal

    found = subprocess.run(["/usr/sbin/ip", "netns", "pids", daemon.netns],
                           capture_output=True, text=True, timeout=10, check=True)
    listener = daemon.process.pid if daemon.process is not None else -1
    for pid in (int(p) for p in found.stdout.split()):
        if pid != listener:
            os.kill(pid, signal.SIGTERM)
