"""ocf:sipha:filesync with the real "sip-ha-sync watch" and no peer (or a fake ssh).

The agent runs in a child process as Pacemaker would run it; the watcher it
starts is the real one, so start, monitor and stop see real inotify watches.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocf_agents import filesync
from ocf_agents.framework import daemon, promotion
from ocf_agents.framework.ocf import Context, NodeAttributes, OCFCode
from sipha_runtime.log import Logger
from tests.support.agent_run import AgentRun

CALL = "from ocf_agents.filesync import AGENT; AGENT.main()"


class Node:
    """One node's folders, sync configuration and agent environment."""

    def __init__(self, tmp_path: Path, peers: str = "", ssh: str = "") -> None:
        self.root = tmp_path
        self.folders = [tmp_path / "etc" / "asterisk", tmp_path / "sounds"]
        for folder in self.folders:
            folder.mkdir(parents=True)
        self.role_file = tmp_path / "run" / "sync-role"
        self.config = tmp_path / "sync.toml"
        # no shared connections: a fake ssh makes no control socket
        ssh_table = '[ssh]\ncontrol_dir = ""\n' + (f'ssh = "{ssh}"\n' if ssh else "")
        self.config.write_text(
            f"folders = [{', '.join(f'{str(f)!r}' for f in self.folders)}]\n"
            f'role_file = "{self.role_file}"\n'
            f'state_dir = "{tmp_path / "state"}"\n'
            "debounce = 0.1\nmax_delay = 1\ntimeout = 30\n"
            f"{ssh_table}{peers}")
        self.rsctmp = tmp_path / "rsc"
        self.tags: set[str] = set()
        self.env = {**os.environ, "OCF_RESOURCE_INSTANCE": "filesync:0",
                    "HA_RSCTMP": str(self.rsctmp), "OCF_RESKEY_config": str(self.config)}
        for name in list(self.env):
            if name.startswith(("HA_LOG", "HA_DEBUG")):
                del self.env[name]

    def agent(self, action: str, **params: str) -> AgentRun:
        env = {**self.env, **{f"OCF_RESKEY_{k}": v for k, v in params.items()}}
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-I", "-c", CALL, action], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        found = filesync.Watcher.load(self.ctx())
        if found is not None:  # remembered: leftovers are looked for after stop too
            self.tags.add(found.tag)
        return AgentRun(proc, time.monotonic() - started)

    @property
    def tag(self) -> str:
        """The random tag of the running watcher."""
        return self.watcher().tag

    def watcher(self) -> filesync.Watcher:
        found = filesync.Watcher.load(self.ctx())
        assert found is not None, "no watcher recorded"
        return found

    def ctx(self, action: str = "monitor") -> Context:
        return Context(filesync.AGENT, action, self.env,
                       Logger("filesync", "filesync:0", {}), 20.0)

    def kill_watcher(self) -> None:
        watcher = self.watcher()
        os.kill(watcher.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while watcher.alive() and time.monotonic() < deadline:
            time.sleep(0.01)

    def role(self) -> str:
        return self.role_file.read_text().strip()

    def leftovers(self) -> list[int]:
        """What carries the tag of any watcher this test started."""
        return sorted(pid for tag in self.tags for pid in filesync.tagged_processes(tag))


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    node = Node(tmp_path)
    yield node
    node.agent("stop")
    for pid in node.leftovers():  # only what carries this test's tag
        os.kill(pid, signal.SIGKILL)


def test_lifecycle_roles_and_nothing_left(node: Node) -> None:
    assert node.agent("monitor").rc == OCFCode.NOT_RUNNING
    assert node.agent("stop").rc == OCFCode.SUCCESS
    started = node.agent("start")
    assert started.rc == OCFCode.SUCCESS, started.stderr
    assert node.role() == "standby"
    pid = node.watcher().pid
    assert node.agent("start").rc == OCFCode.SUCCESS  # idempotent
    assert node.watcher().pid == pid
    assert node.agent("monitor").rc == OCFCode.SUCCESS
    assert node.agent("promote").rc == OCFCode.SUCCESS
    assert node.role() == "active"
    assert node.agent("monitor").rc == OCFCode.RUNNING_PROMOTED
    assert node.agent("promote").rc == OCFCode.SUCCESS
    demoted = node.agent("demote")
    assert demoted.rc == OCFCode.SUCCESS, demoted.stderr
    assert "final push: 0 change(s) to 0 of 0 peer(s)" in demoted.stderr
    assert node.role() == "standby"
    assert node.agent("monitor").rc == OCFCode.SUCCESS
    assert node.agent("demote").rc == OCFCode.SUCCESS
    assert node.agent("stop").rc == OCFCode.SUCCESS
    assert not filesync.Watcher(pid, 0, "", "", ()).alive()
    assert node.leftovers() == []
    assert node.agent("monitor").rc == OCFCode.NOT_RUNNING
    assert node.agent("stop").rc == OCFCode.SUCCESS


def test_stop_of_a_promoted_instance_leaves_the_role_standby(node: Node) -> None:
    assert node.agent("start").rc == OCFCode.SUCCESS
    assert node.agent("promote").rc == OCFCode.SUCCESS
    assert node.agent("stop").rc == OCFCode.SUCCESS
    assert node.role() == "standby"
    assert node.leftovers() == []


@pytest.mark.parametrize(("promote", "code"), [(False, OCFCode.ERR_GENERIC),
                                               (True, OCFCode.FAILED_PROMOTED)])
def test_a_crashed_watcher_is_a_failure(node: Node, promote: bool, code: OCFCode) -> None:
    assert node.agent("start").rc == OCFCode.SUCCESS
    if promote:
        assert node.agent("promote").rc == OCFCode.SUCCESS
    node.kill_watcher()
    crashed = node.agent("monitor")
    assert crashed.rc == code
    assert "died without being stopped" in crashed.reason
    probe = node.agent("monitor", CRM_meta_interval="0")
    assert probe.rc == code
    assert node.agent("promote").rc == OCFCode.ERR_GENERIC
    assert node.agent("stop").rc == OCFCode.SUCCESS
    assert node.role() == "standby"
    assert node.agent("monitor").rc == OCFCode.NOT_RUNNING
    assert node.agent("start").rc == OCFCode.SUCCESS


def test_a_stopped_watcher_is_a_failure_and_still_stops(node: Node) -> None:
    assert node.agent("start").rc == OCFCode.SUCCESS
    os.kill(node.watcher().pid, signal.SIGSTOP)
    stuck = node.agent("monitor")
    assert stuck.rc == OCFCode.ERR_GENERIC
    assert "is stopped (SIGSTOP?)" in stuck.reason
    stopped = node.agent("stop")
    assert stopped.rc == OCFCode.SUCCESS
    assert stopped.elapsed < 10
    assert node.leftovers() == []


def test_a_replaced_folder_is_no_longer_watched(node: Node) -> None:
    assert node.agent("start").rc == OCFCode.SUCCESS
    sounds = node.folders[1]
    sounds.rename(sounds.with_name("sounds.old"))
    sounds.mkdir()
    result = node.agent("monitor")
    assert result.rc == OCFCode.ERR_GENERIC
    assert f"no longer watches {sounds}" in result.reason
    # A restart places the watches again.
    assert node.agent("stop").rc == OCFCode.SUCCESS
    assert node.agent("start").rc == OCFCode.SUCCESS
    assert node.agent("monitor").rc == OCFCode.SUCCESS


def test_stop_ends_what_the_dead_watcher_left_running(node: Node) -> None:
    assert node.agent("start").rc == OCFCode.SUCCESS
    # An rsync in its own session, orphaned when the watcher was killed.
    orphan = subprocess.Popen(["/bin/sleep", "300"], start_new_session=True,
                              env={**os.environ, filesync.TAG_VARIABLE: node.tag})
    node.kill_watcher()
    assert node.agent("stop").rc == OCFCode.SUCCESS
    assert orphan.wait(timeout=5) == -signal.SIGTERM
    assert node.leftovers() == []


def test_start_reports_why_the_watcher_exited(node: Node, tmp_path: Path) -> None:
    fake = tmp_path / "fake-sync"
    fake.write_text("#!/bin/sh\necho 'error: watched folder /x does not exist' >&2\nexit 2\n")
    fake.chmod(0o755)
    result = node.agent("start", program=str(fake))
    assert result.rc == OCFCode.ERR_GENERIC
    assert result.reason == ("sip-ha-sync watch exited with status 2: "
                             "error: watched folder /x does not exist")
    assert node.agent("monitor").rc == OCFCode.NOT_RUNNING


@pytest.mark.parametrize(("params", "config_text", "code", "words"), [
    ({}, "folders = [", OCFCode.ERR_CONFIGURED, "is not valid TOML"),
    ({}, 'folders = ["/etc"]\nrolefile = "ROLE"\n', OCFCode.ERR_CONFIGURED,
     "unknown setting(s) rolefile"),
    ({}, "folders = []\n", OCFCode.ERR_CONFIGURED, "at least one folder"),
    ({}, 'folders = ["/etc"]\n# caf\udce9 latin-1\n', OCFCode.ERR_CONFIGURED,
     "is not UTF-8 text (byte 0xe9 on line 2)"),
    ({}, 'folders = ["/etc"]\nrole_file = "/run/\\u0000"\n', OCFCode.ERR_CONFIGURED,
     "role_file '/run/\\x00' contains white space or a control character"),
    ({"config": "/nonexistent/sync.toml"}, None, OCFCode.ERR_INSTALLED,
     "/nonexistent/sync.toml not found on this node"),
    ({"config": "sync.toml"}, None, OCFCode.ERR_CONFIGURED, "must be an absolute path"),
    ({"program": "/nonexistent/sip-ha-sync"}, None, OCFCode.ERR_INSTALLED, "not installed"),
    ({"program": "sip-ha-sync"}, None, OCFCode.ERR_CONFIGURED, "must be an absolute path"),
    ({"program": "'/usr/bin/x"}, None, OCFCode.ERR_CONFIGURED, "cannot be split"),
    ({"flush_timeout": "soon"}, None, OCFCode.ERR_CONFIGURED, "flush_timeout='soon'"),
    ({}, 'folders = ["/nonexistent/asterisk"]\nrole_file = "ROLE"\n', OCFCode.ERR_INSTALLED,
     "/nonexistent/asterisk does not exist"),
    ({}, 'folders = ["/etc"]\nrsync = "/nonexistent/rsync"\nrole_file = "ROLE"\n',
     OCFCode.ERR_INSTALLED, "rsync /nonexistent/rsync is not installed"),
])
def test_validation_codes_and_reasons(node: Node, params: dict[str, str],
                                      config_text: str | None, code: OCFCode,
                                      words: str) -> None:
    if config_text is not None:  # a surrogate stands for a byte that is not UTF-8
        node.config.write_bytes(config_text.replace("ROLE", str(node.role_file))
                                .encode("utf-8", "surrogateescape"))
    for action in ("validate-all", "start"):
        result = node.agent(action, **params)
        assert result.rc == code, result.stderr
        assert words in result.reason
        assert result.stderr.count("ocf-exit-reason:") == 1 and "Traceback" not in result.stderr
    assert node.leftovers() == []
    # A resource must always be stoppable, and a probe says "not running"
    # (a value that does not parse is 6 for every action but stop, as in ocf.py).
    assert node.agent("stop", **params).rc == OCFCode.SUCCESS
    if "flush_timeout" not in params:
        probe = node.agent("monitor", CRM_meta_interval="0", **params)
        assert probe.rc == OCFCode.NOT_RUNNING


# --------------------------------------------------------------------------
# Demote's final push, against a fake ssh


def fake_ssh(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "fake-ssh"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


PEER = '[[peers]]\nname = "peer-b"\nhost = "peer-b.example"\n'


@pytest.fixture
def unreachable(tmp_path: Path) -> Iterator[Node]:
    ssh = fake_ssh(tmp_path, f"touch {tmp_path}/ssh-called\n"
                             "echo 'ssh: connect to host peer-b.example port 22: "
                             "Connection refused' >&2\nexit 255")
    node = Node(tmp_path / "node", peers=PEER, ssh=str(ssh))
    yield node
    node.agent("stop")
    for pid in node.leftovers():
        os.kill(pid, signal.SIGKILL)


def test_demote_warns_when_a_peer_is_unreachable(unreachable: Node) -> None:
    node = unreachable
    assert node.agent("start").rc == OCFCode.SUCCESS
    assert node.agent("promote").rc == OCFCode.SUCCESS
    (node.folders[0] / "sip.conf").write_text("[general]\n")
    demoted = node.agent("demote")
    assert demoted.rc == OCFCode.SUCCESS, demoted.stderr
    assert "WARNING: final push to peer-b" in demoted.stderr
    assert "Connection refused" in demoted.stderr
    assert node.role() == "standby"
    assert node.agent("monitor").rc == OCFCode.SUCCESS


def test_demote_push_is_bounded_by_flush_timeout(tmp_path: Path) -> None:
    ssh = fake_ssh(tmp_path, "exec /bin/sleep 60")
    node = Node(tmp_path / "node", peers=PEER, ssh=str(ssh))
    try:
        assert node.agent("start").rc == OCFCode.SUCCESS
        assert node.agent("promote").rc == OCFCode.SUCCESS
        time.sleep(1.5)  # the watcher's own reconcile hangs on the fake ssh as well
        demoted = node.agent("demote", flush_timeout="2s")
        assert demoted.rc == OCFCode.SUCCESS, demoted.stderr
        assert demoted.elapsed < 8
        assert "final push" in demoted.stderr and "WARNING" in demoted.stderr
        assert "flush_timeout 2s ran out: not everything was handed over" in demoted.stderr
        assert node.role() == "standby"
        stopped = node.agent("stop")
        assert stopped.rc == OCFCode.SUCCESS
        assert node.leftovers() == []
    finally:
        for pid in node.leftovers():
            os.kill(pid, signal.SIGKILL)


def test_flush_timeout_zero_skips_the_final_push(unreachable: Node) -> None:
    node = unreachable
    assert node.agent("start").rc == OCFCode.SUCCESS
    os.kill(node.watcher().pid, signal.SIGSTOP)
    node.role_file.write_text("active\n")  # active without the watcher's reconcile
    try:
        demoted = node.agent("demote", flush_timeout="0")
    finally:
        os.kill(node.watcher().pid, signal.SIGCONT)
    assert demoted.rc == OCFCode.SUCCESS
    assert "final push" not in demoted.stderr
    assert not (node.root.parent / "ssh-called").exists()
    assert node.role() == "standby"


# --------------------------------------------------------------------------
# Promotion score, the marker, fast monitors


class Scores:
    def __init__(self) -> None:
        self.calls: list[int | None] = []


@pytest.fixture
def scores(monkeypatch: pytest.MonkeyPatch) -> Scores:
    seen = Scores()
    monkeypatch.setattr(NodeAttributes, "set_promotion_score",
                        lambda self, score: seen.calls.append(score))
    monkeypatch.setattr(NodeAttributes, "clear_promotion_score",
                        lambda self: seen.calls.append(None))
    return seen


def test_the_score_follows_health_and_is_published_once(node: Node, scores: Scores) -> None:
    assert node.agent("start").rc == OCFCode.SUCCESS
    (node.rsctmp / "sipha-filesync-filesync.score").unlink()
    for _ in range(3):
        assert filesync.AGENT.dispatch("monitor", node.env) == OCFCode.SUCCESS
    assert scores.calls == [filesync.HEALTHY_SCORE]
    node.kill_watcher()
    assert filesync.AGENT.dispatch("monitor", node.env) == OCFCode.ERR_GENERIC
    assert scores.calls == [filesync.HEALTHY_SCORE, None]


def test_a_failed_score_update_is_retried_later(node: Node,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from ocf_agents.framework.ocf import GenericError

    calls: list[int] = []

    def refuse(self: NodeAttributes, score: int) -> None:
        calls.append(score)
        raise GenericError("could not set the promotion score: no CIB")

    monkeypatch.setattr(NodeAttributes, "set_promotion_score", refuse)
    ctx = node.ctx()
    promotion.set_score(ctx, 10)
    promotion.set_score(ctx, 10)
    assert calls == [10]


def test_the_marker_round_trips_and_ignores_the_clone_number(node: Node) -> None:
    watcher = filesync.Watcher(4242, 77, "/usr/bin/python3", "/run/role", ("/a", "/b"),
                               "0123abcd")
    Path(filesync.marker(node.ctx())).parent.mkdir(exist_ok=True)
    Path(filesync.marker(node.ctx())).write_text("an older version's, readable by all\n")
    watcher.save(node.ctx())
    assert os.stat(filesync.marker(node.ctx())).st_mode & 0o777 == 0o600  # the tag is in it
    # crm_resource --force-* names the instance "filesync:0", Pacemaker "filesync".
    for instance in ("filesync", "filesync:0", "filesync:1"):
        env = {**node.env, "OCF_RESOURCE_INSTANCE": instance}
        ctx = Context(filesync.AGENT, "monitor", env, Logger("filesync", instance, {}), 20.0)
        loaded = filesync.Watcher.load(ctx)
        assert loaded is not None
        assert (loaded.pid, loaded.started, loaded.exe, loaded.role_file, loaded.folders,
                loaded.tag) == (4242, 77, "/usr/bin/python3", "/run/role", ("/a", "/b"),
                                "0123abcd")
    daemon.remove(filesync.marker(node.ctx()))
    assert filesync.Watcher.load(node.ctx()) is None


def test_role_reading_matches_sync_helper(tmp_path: Path) -> None:
    from sync_helper.role import RoleFile

    path = tmp_path / "role"
    for text in ("active\n", " ACTIVE ", "standby", "", "activ", "\xff"):
        path.write_text(text)
        assert filesync.read_role(str(path)) == RoleFile(path)()
    assert filesync.read_role(str(tmp_path / "missing")) == "standby"


PROBE = """
import os, sys
from ocf_agents.filesync import AGENT
code = AGENT.run([sys.argv[1]], dict(os.environ))
# the active node reads its sync health record: that small module, nothing else
light = {"sync_helper", "sync_helper.health", "sync_helper.filelock"}
heavy = sorted(m for m in ("lxml", "click", "pymysql", "watchdog", "pexpect", "ssl",
                           "tomllib") if m in sys.modules)
heavy += sorted(m for m in sys.modules if m.startswith("sync_helper") and m not in light)
print(code, ",".join(heavy) or "-", file=sys.stderr)
"""


def test_monitor_imports_nothing_heavy(node: Node) -> None:
    assert node.agent("start").rc == OCFCode.SUCCESS
    for role, expected in (("standby", 0), ("active", 8)):
        node.role_file.write_text(role)
        out = subprocess.run([sys.executable, "-I", "-c", PROBE, "monitor"], env=node.env,
                             capture_output=True, text=True, check=True)
        code, heavy = out.stderr.splitlines()[-1].split()
        assert (int(code), heavy) == (expected, "-")


def test_the_module_fallback_runs_the_same_watcher(node: Node,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python3"))
    cfg = filesync.FileSyncConfig()
    assert filesync.program_argv(cfg) == [str(tmp_path / "bin" / "python3"), "-I", "-m",
                                          "sync_helper.cli"]
    monkeypatch.undo()
    program = f"{sys.executable} -I -m sync_helper.cli"
    assert node.agent("start", program=program).rc == OCFCode.SUCCESS
    assert node.agent("monitor", program=program).rc == OCFCode.SUCCESS
    assert node.agent("stop", program=program).rc == OCFCode.SUCCESS
    assert node.leftovers() == []


class Attributes:
    """What the agent set (value) and deleted (None), in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    def now(self) -> dict[str, str]:
        values: dict[str, str | None] = {}
        for name, value in self.calls:
            values[name] = value
        return {name: value for name, value in values.items() if value is not None}


@pytest.fixture
def attributes(monkeypatch: pytest.MonkeyPatch, scores: Scores) -> Attributes:
    seen = Attributes()
    monkeypatch.setattr(NodeAttributes, "set",
                        lambda self, name, value, delay=None, private=False:
                        seen.calls.append((name, value)))
    monkeypatch.setattr(NodeAttributes, "delete",
                        lambda self, name: seen.calls.append((name, None)))
    return seen


def become_active(node: Node) -> None:
    """Role active, once the watcher has started its new (here empty) record,
    which the tests then replace."""
    node.role_file.write_text("active")
    health = Path(node.watcher().health)
    deadline = time.monotonic() + 10
    while not health.exists():
        assert time.monotonic() < deadline, "the watcher did not start a health record"
        time.sleep(0.05)


def write_health(node: Node, peers: dict[str, dict[str, object]]) -> None:
    import json

    Path(node.watcher().health).write_text(json.dumps({"peers": peers}))


def test_the_active_node_publishes_sync_health_and_the_monitor_stays_ok(
        node: Node, attributes: Attributes) -> None:
    assert node.agent("start").rc == OCFCode.SUCCESS
    assert node.watcher().health == str(node.root / "state" / "health.json")
    become_active(node)
    write_health(node, {"node2": {"last_ok": 1700000000, "reconciled": None,
                                  "pending": ["/etc/asterisk/a.conf"], "conflicts": [],
                                  "error": "cannot list node2: Host key verification failed"}})
    # failing: still 8, never 191 (see the monitor)
    assert filesync.AGENT.dispatch("monitor", node.env) == OCFCode.RUNNING_PROMOTED
    prefix = "sipha-filesync-node2-"
    published = attributes.now()
    # behind since the last push that reached node2 (test_metrics.py: when it changes)
    assert abs(int(published.pop(f"{prefix}sync-lag-s")) - (time.time() - 1700000000)) < 5
    assert published == {
        f"{prefix}sync": "failing", f"{prefix}pushed": "2023-11-14T22:13:20Z",
        f"{prefix}pending": "1", f"{prefix}conflicts": "0", f"{prefix}kept": "0",
        f"{prefix}error": "cannot list node2: Host key verification failed"}
    calls = len(attributes.calls)
    assert filesync.AGENT.dispatch("monitor", node.env) == OCFCode.RUNNING_PROMOTED
    assert len(attributes.calls) == calls          # unchanged: nothing sent again
    write_health(node, {"node2": {"last_ok": 1700000100, "reconciled": 1700000100,
                                  "pending": [], "conflicts": [], "error": "",
                                  "kept": ["/etc/asterisk/only-there.conf",
                                           "/etc/asterisk/sip.conf.orig"]}})
    assert filesync.AGENT.dispatch("monitor", node.env) == OCFCode.RUNNING_PROMOTED
    assert attributes.now() == {
        f"{prefix}sync": "ok", f"{prefix}pushed": "2023-11-14T22:15:00Z",
        f"{prefix}reconciled": "2023-11-14T22:15:00Z", f"{prefix}pending": "0",
        f"{prefix}conflicts": "0", f"{prefix}kept": "2", f"{prefix}sync-lag-s": "0",
        f"{prefix}kept-names": "/etc/asterisk/only-there.conf; /etc/asterisk/sip.conf.orig"}
    # a standby pushes to nobody: everything goes
    node.role_file.write_text("standby")
    assert filesync.AGENT.dispatch("monitor", node.env) == OCFCode.SUCCESS
    assert attributes.now() == {}


def test_a_lasting_failure_changes_the_reminder_once_per_interval(
        node: Node, attributes: Attributes) -> None:
    assert node.agent("start").rc == OCFCode.SUCCESS
    become_active(node)
    write_health(node, {"node2": {"error": "cannot list node2: Connection refused"}})
    env = {**node.env, "OCF_RESKEY_reminder_interval": "1"}
    reminder = "sipha-filesync-node2-reminder"
    assert filesync.AGENT.dispatch("monitor", env) == OCFCode.RUNNING_PROMOTED
    assert reminder not in attributes.now()
    time.sleep(1.1)
    filesync.AGENT.dispatch("monitor", env)
    filesync.AGENT.dispatch("monitor", env)
    first = attributes.now()[reminder]
    assert first.startswith("failing since ") and first.endswith(", reminder 1")
    assert [name for name, _ in attributes.calls].count(reminder) == 1
    time.sleep(1.1)
    filesync.AGENT.dispatch("monitor", env)
    assert attributes.now()[reminder].endswith(", reminder 2")
    write_health(node, {"node2": {"reconciled": 1, "last_ok": 1}})
    filesync.AGENT.dispatch("monitor", env)
    assert reminder not in attributes.now()
    assert attributes.now()["sipha-filesync-node2-sync"] == "ok"


def test_promote_forgets_the_record_of_an_earlier_active_spell(node: Node) -> None:
    assert node.agent("start").rc == OCFCode.SUCCESS
    Path(node.watcher().health).parent.mkdir(parents=True, exist_ok=True)
    write_health(node, {"node2": {"reconciled": 1, "last_ok": 1}})
    assert node.agent("promote").rc == OCFCode.SUCCESS
    from sync_helper.health import read

    # gone, or already the watcher's fresh record (this node has no peers)
    assert read(node.watcher().health) == {}
