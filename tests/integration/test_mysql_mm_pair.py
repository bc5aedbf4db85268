"""ocf:sipha:mysql-mm against two real MariaDB servers replicating master/master.

Both servers and every agent call run in one private network namespace
(tests/support/mariadb.py); node attributes and promotion scores go to a
stand-in for attrd_updater/crm_attribute, except under ocf-tester, where the
real tools fail without a cluster as they do for the other agents' tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from lxml import etree

from tests.support import mariadb
from tests.support.agent_run import AgentRun
from tests.support.mariadb import DbNode, MariaDBPair, wait_for
from tests.support.missing import missing

pytestmark = pytest.mark.integration

OCF_SUCCESS, OCF_ERR_GENERIC, OCF_ERR_PERM, OCF_ERR_INSTALLED = 0, 1, 4, 5
OCF_ERR_CONFIGURED, OCF_NOT_RUNNING, OCF_RUNNING_PROMOTED, OCF_FAILED_PROMOTED = 6, 7, 8, 9
STATE, LAG, SCORE = "sipha-mysql-db-replication", "sipha-mysql-db-lag", "promotion-score"
HANDOVER, REMINDER = "sipha-mysql-db-handover", "sipha-mysql-db-reminder"
READ_ONLY_REFUSED = 1290
RECURRING = {"interval": "10000"}
AGENT_USER, AGENT_PASSWORD = "sipha", "agent-Secret-7f3a"
AGENT_GRANTS = ("SLAVE MONITOR, BINLOG MONITOR, REPLICATION SLAVE ADMIN, READ_ONLY ADMIN, "
                "RELOAD, PROCESS, CONNECTION ADMIN")


def _system_datadir() -> list[tuple[str, float]]:
    found = []
    for folder, _, files in os.walk("/var/lib/mysql"):
        for name in [".", *files]:
            path = os.path.join(folder, name)
            try:
                found.append((path, os.stat(path).st_mtime))
            except FileNotFoundError:
                pass
    return sorted(found)


class Lab:
    def __init__(self, pair: MariaDBPair, ocf_root: Path) -> None:
        self.pair = pair
        self.ocf_root = ocf_root
        self.a, self.b = pair.nodes

    def agent(self, node: DbNode, action: str, **kwargs: object) -> AgentRun:
        return self.pair.agent(self.ocf_root, node, action, **kwargs)  # type: ignore[arg-type]

    def ok(self, node: DbNode, action: str, **kwargs: object) -> AgentRun:
        result = self.agent(node, action, **kwargs)
        assert result.rc == OCF_SUCCESS, f"{action} on {node.name}: {result.stderr}"
        return result

    def monitor(self, node: DbNode, **kwargs: object) -> AgentRun:
        return self.agent(node, "monitor", meta=RECURRING, **kwargs)

    def probe(self, node: DbNode, **kwargs: object) -> AgentRun:
        return self.agent(node, "monitor", meta={"interval": "0"}, **kwargs)


@pytest.fixture(scope="module")
def pair(ocf_root: Path) -> Iterator[MariaDBPair]:
    why = mariadb.available()
    if why:
        missing(why)
    system_before = _system_datadir(), _system_pid()
    pair = MariaDBPair()
    try:
        pair.up()
        for node in pair.nodes:
            started = pair.agent(ocf_root, node, "start")
            assert started.rc == OCF_SUCCESS, started.stderr
            pair.started[node.name] = started
        pair.read_only_at_start = {node.name: node.read_only() for node in pair.nodes}
        pair.replicate()
        yield pair
        for node in pair.nodes:
            assert pair.agent(ocf_root, node, "stop").rc == OCF_SUCCESS
            assert node.pid() is None
    finally:
        pair.down()
    assert pair.leftovers() == []
    assert not pair.exists()
    # The host's own MariaDB (Debian's package) was neither started nor touched.
    assert (_system_datadir(), _system_pid()) == system_before


def _system_pid() -> str | None:
    try:
        return Path("/run/mysqld/mysqld.pid").read_text()
    except OSError:
        return None


@pytest.fixture
def lab(pair: MariaDBPair, ocf_root: Path) -> Lab:
    """Both servers running through the agent, unpromoted, replicating, caught up."""
    lab = Lab(pair, ocf_root)
    for node in pair.nodes:
        if node.pid() is None:
            lab.ok(node, "start")
        lab.ok(node, "demote")
    for node in pair.nodes:
        if not pair.replicating(node):
            node.sql("START SLAVE")
    for node in pair.nodes:
        wait_for(lambda n=node: pair.caught_up(n), 30, f"{node.name} caught up")
    return lab


def _refused(node: DbNode, uniqueid: str) -> int:
    with pytest.raises(pymysql.MySQLError) as caught:
        node.insert_cdr(uniqueid)
    return caught.value.args[0]


# --------------------------------------------------------------------------


def test_start_leaves_both_read_only_and_replicating(lab: Lab):
    assert lab.pair.read_only_at_start == {"a": True, "b": True}
    assert all("read-only" in run.stderr for run in lab.pair.started.values())
    for node in lab.pair.nodes:
        assert node.read_only()
        assert lab.monitor(node).rc == OCF_SUCCESS
        assert lab.probe(node).rc == OCF_SUCCESS
        attrs = node.attributes()
        assert (attrs[STATE], attrs[LAG], attrs[SCORE]) == ("ok", "0", "10")
    # A normal account cannot write on either before a promote.
    assert _refused(lab.a, "before-promote") == READ_ONLY_REFUSED


def test_read_only_bypass_is_as_documented(lab: Lab):
    """read_only stops every account but those with READ_ONLY ADMIN; on MariaDB
    10.11 SUPER alone no longer bypasses it (the agent's meta-data says so)."""
    a = lab.a
    grants = {"super_only": "SUPER", "ro_admin": "READ_ONLY ADMIN"}
    for user, privilege in grants.items():
        a.sql("SET SESSION sql_log_bin = 0",
              f"CREATE USER IF NOT EXISTS '{user}'@'localhost' IDENTIFIED BY 'pw-{user}'",
              f"GRANT {privilege} ON *.* TO '{user}'@'localhost'",
              f"GRANT INSERT ON asteriskcdrdb.* TO '{user}'@'localhost'")
    with pytest.raises(pymysql.MySQLError) as refused:
        a.insert_cdr("by-super", user="super_only", password="pw-super_only")
    assert refused.value.args[0] == READ_ONLY_REFUSED
    a.insert_cdr("by-ro-admin", user="ro_admin", password="pw-ro_admin")
    assert "by-ro-admin" in a.cdr_ids()
    a.sql("DELETE FROM asteriskcdrdb.cdr WHERE uniqueid = 'by-ro-admin'",
          "SET SESSION sql_log_bin = 0",
          "DROP USER 'super_only'@'localhost', 'ro_admin'@'localhost'")


def test_roles_switch_the_writable_database(lab: Lab):
    a, b = lab.a, lab.b
    lab.ok(a, "promote")
    assert lab.monitor(a).rc == OCF_RUNNING_PROMOTED
    assert lab.probe(a).rc == OCF_RUNNING_PROMOTED
    assert not a.read_only()
    a.insert_cdr("call-on-a")
    wait_for(lambda: "call-on-a" in b.cdr_ids(), 10, "the CDR row on b")
    assert _refused(b, "call-on-b-refused") == READ_ONLY_REFUSED
    assert lab.monitor(b).rc == OCF_SUCCESS

    lab.ok(a, "demote")
    assert a.read_only()
    assert lab.monitor(a).rc == OCF_SUCCESS
    lab.ok(b, "promote")
    assert lab.monitor(b).rc == OCF_RUNNING_PROMOTED
    b.insert_cdr("call-on-b")
    wait_for(lambda: "call-on-b" in a.cdr_ids(), 10, "the CDR row on a")
    assert _refused(a, "call-on-a-refused") == READ_ONLY_REFUSED
    # auto_increment_offset 1 and 2: ids from the two masters never collide.
    ids = dict((u, i) for i, u in a.sql("SELECT id, uniqueid FROM asteriskcdrdb.cdr"))
    assert ids["call-on-a"] % 2 == 1
    assert ids["call-on-b"] % 2 == 0
    lab.ok(b, "demote")
    lab.ok(b, "demote")  # idempotent
    assert lab.monitor(b).rc == OCF_SUCCESS


def test_peer_gone_is_reported_not_a_failure(lab: Lab):
    a, b = lab.a, lab.b
    lab.ok(a, "promote")
    lab.ok(b, "stop")
    assert b.pid() is None
    assert lab.monitor(b).rc == OCF_NOT_RUNNING
    assert lab.agent(b, "stop").rc == OCF_SUCCESS  # stopping what is stopped
    assert STATE not in b.attributes()
    assert SCORE not in b.attributes()

    def peer_unreachable() -> bool:
        result = lab.monitor(a)
        assert result.rc == OCF_RUNNING_PROMOTED, result.stderr  # never 191, never a failure
        return a.attributes()[STATE] == "peer-unreachable"

    wait_for(peer_unreachable, 15, "a to report peer-unreachable")
    assert a.attributes()[SCORE] == "8"
    assert LAG not in a.attributes()
    a.insert_cdr("while-b-was-down")

    lab.ok(b, "start")
    assert b.read_only()
    wait_for(lambda: "while-b-was-down" in b.cdr_ids(), 20, "b to catch up")
    wait_for(lambda: lab.monitor(a).rc == OCF_RUNNING_PROMOTED and
             a.attributes()[STATE] == "ok", 20, "a's replication ok again")
    assert a.attributes()[SCORE] == "10"

    # The same seen from an unpromoted node: 0, not degraded.
    lab.ok(a, "demote")
    lab.ok(a, "stop")

    def standby_sees_peer_gone() -> bool:
        result = lab.monitor(b)
        assert result.rc == OCF_SUCCESS, result.stderr
        return b.attributes()[STATE] == "peer-unreachable"

    wait_for(standby_sees_peer_gone, 15, "b to report peer-unreachable")
    lab.ok(a, "start")


def test_broken_replica_is_degraded_not_failed(lab: Lab):
    a, b = lab.a, lab.b
    lab.ok(a, "promote")
    # A row that exists only on b (root bypasses read_only, not binary-logged) ...
    b.insert_cdr("conflict-1", user="root", password="", log_bin=False)
    # ... and the same unique id written on the active server: b's SQL thread stops.
    a.insert_cdr("conflict-1")
    wait_for(lambda: b.slave_status().get("Last_SQL_Errno") == 1062, 15, "duplicate key on b")

    broken = lab.monitor(b)
    assert broken.rc == OCF_SUCCESS, broken.stderr  # reported, never 190 (see monitor)
    assert "1062" in broken.stderr
    assert lab.probe(b).rc == OCF_SUCCESS
    attrs = b.attributes()
    assert (attrs[STATE], attrs[SCORE]) == ("broken", "1")
    assert lab.monitor(a).rc == OCF_RUNNING_PROMOTED
    assert a.attributes()[STATE] == "ok"

    # A broken replica is still promoted when asked to: never refused.
    lab.ok(a, "demote")
    promoted = lab.ok(b, "promote")
    assert "broken" in promoted.stderr
    assert not b.read_only()
    assert lab.monitor(b).rc == OCF_RUNNING_PROMOTED
    lab.ok(b, "demote")

    # The operator repairs it; the state and score follow.
    b.sql("SET SESSION sql_log_bin = 0",
          "DELETE FROM asteriskcdrdb.cdr WHERE uniqueid = 'conflict-1'", "START SLAVE")
    wait_for(lambda: lab.pair.caught_up(b), 15, "b caught up after the repair")
    assert lab.monitor(b).rc == OCF_SUCCESS
    assert (b.attributes()[STATE], b.attributes()[SCORE]) == ("ok", "10")


def _received_not_applied(lab: Lab, delay: int, rows: list[str]) -> None:
    """A promoted, b's SQL thread stopped (applying DELAY seconds behind once it
    runs again), ROWS written on a and received by b, not applied there."""
    a, b = lab.a, lab.b
    lab.ok(a, "promote")
    b.sql("STOP SLAVE", f"CHANGE MASTER TO MASTER_DELAY = {delay}", "START SLAVE IO_THREAD")
    assert lab.monitor(b).rc == OCF_SUCCESS
    assert b.attributes()[STATE] == "stopped"
    for uniqueid in rows:
        a.insert_cdr(uniqueid)
    a_file, a_pos = a.sql("SHOW MASTER STATUS")[0][:2]
    wait_for(lambda: (b.slave_status()["Master_Log_File"],
                      b.slave_status()["Read_Master_Log_Pos"]) == (a_file, a_pos),
             15, "b's IO thread to receive the rows")
    assert not set(rows) & b.cdr_ids()
    lab.ok(a, "demote")


@pytest.fixture
def no_delay(lab: Lab) -> Iterator[None]:
    yield
    lab.b.sql("STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY = 0", "START SLAVE")


def test_promote_applies_the_relay_log_first(lab: Lab, no_delay: None):
    b = lab.b
    rows = [f"relay-{n}" for n in range(50)]
    _received_not_applied(lab, 4, rows)
    promoted = lab.ok(b, "promote")
    # Right after promote returns every received row is there: promote started the
    # SQL thread and waited for it (it applies 4 s behind the writes).
    assert set(rows) <= b.cdr_ids()
    assert promoted.elapsed > 2
    assert "relay log applied" in promoted.stderr
    assert not b.read_only()
    assert lab.pair.replicating(b)
    lab.ok(b, "demote")


def test_relay_log_wait_is_bounded_by_catchup_timeout(lab: Lab, no_delay: None):
    b = lab.b
    rows = [f"late-{n}" for n in range(5)]
    _received_not_applied(lab, 30, rows)
    promoted = lab.ok(b, "promote", catchup_timeout="2s")
    assert 2 <= promoted.elapsed < 10
    assert "promoting anyway" in promoted.stderr
    assert not b.read_only()  # promoted without the rows: never refused
    assert not set(rows) & b.cdr_ids()
    lab.ok(b, "demote")


def test_demote_ends_running_writes_within_drain_timeout(lab: Lab):
    a = lab.a
    lab.ok(a, "promote")
    outcome: list[object] = []

    def slow_write() -> None:
        try:
            a.sql("INSERT INTO asteriskcdrdb.cdr (uniqueid, billsec) SELECT 'slow', SLEEP(30)",
                  user=mariadb.CDR_USER, password=mariadb.CDR_PASSWORD)
            outcome.append("committed")
        except pymysql.MySQLError as err:
            outcome.append(err.args[0])

    writer = threading.Thread(target=slow_write)
    writer.start()
    time.sleep(1)
    demoted = lab.agent(a, "demote", drain_timeout="2s")
    writer.join(40)
    assert demoted.rc == OCF_SUCCESS, demoted.stderr
    assert demoted.elapsed < 15
    assert "KILL QUERY" in demoted.stderr
    assert "demoted: read-only at binlog" in demoted.stderr
    assert a.read_only()
    assert outcome and outcome[0] != "committed"


def test_crash_is_a_failure_in_either_role(lab: Lab):
    a, b = lab.a, lab.b
    os.kill(b.pid(), signal.SIGKILL)  # type: ignore[arg-type]
    crashed = wait_for(lambda: (r := lab.monitor(b)).rc != OCF_SUCCESS and r, 10, "crash seen")
    assert crashed.rc == OCF_ERR_GENERIC  # type: ignore[union-attr]
    assert "died without being stopped" in crashed.reason  # type: ignore[union-attr]
    assert SCORE not in b.attributes()
    lab.ok(b, "stop")
    assert lab.monitor(b).rc == OCF_NOT_RUNNING
    lab.ok(b, "start")

    lab.ok(a, "promote")
    os.kill(a.pid(), signal.SIGKILL)  # type: ignore[arg-type]
    wait_for(lambda: a.pid() is None, 10, "a gone")
    assert lab.monitor(a).rc == OCF_FAILED_PROMOTED
    assert lab.agent(a, "demote").rc == OCF_NOT_RUNNING
    lab.ok(a, "stop")
    lab.ok(a, "start")
    assert a.read_only()


def test_stopped_server_is_a_failure(lab: Lab):
    b = lab.b
    pid = b.pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        stopped = lab.monitor(b)
        assert stopped.rc == OCF_ERR_GENERIC
        assert "SIGSTOP" in stopped.reason
    finally:
        os.kill(pid, signal.SIGCONT)
    assert lab.monitor(b).rc == OCF_SUCCESS


def test_agent_account_with_a_password_file(lab: Lab):
    for node in lab.pair.nodes:
        node.sql("SET SESSION sql_log_bin = 0",
                 f"CREATE USER IF NOT EXISTS '{AGENT_USER}'@'localhost' "
                 f"IDENTIFIED BY '{AGENT_PASSWORD}'",
                 f"GRANT {AGENT_GRANTS} ON *.* TO '{AGENT_USER}'@'localhost'")
    secret = lab.a.folder / "agent.pw"
    secret.write_text(f"{AGENT_PASSWORD}\n")
    secret.chmod(0o600)
    creds = {"db_user": AGENT_USER, "password_file": str(secret)}
    runs = [lab.ok(lab.a, "validate-all", **creds), lab.ok(lab.a, "monitor", **creds),
            lab.ok(lab.a, "promote", **creds)]
    assert lab.agent(lab.a, "monitor", meta=RECURRING, **creds).rc == OCF_RUNNING_PROMOTED
    runs.append(lab.ok(lab.a, "demote", **creds))
    for run in runs:
        assert AGENT_PASSWORD not in run.stderr + run.stdout

    secret.chmod(0o644)
    loose = lab.agent(lab.a, "validate-all", **creds)
    assert loose.rc == OCF_ERR_PERM
    assert "chmod 600" in loose.reason
    secret.chmod(0o600)
    secret.write_text("not-the-password\n")
    denied = lab.agent(lab.a, "monitor", **creds)
    assert denied.rc == OCF_ERR_PERM
    assert "Access denied" in denied.reason
    missing = lab.agent(lab.a, "validate-all", db_user=AGENT_USER,
                        password_file=str(secret) + ".missing")
    assert missing.rc == OCF_ERR_INSTALLED
    assert "not found" in missing.reason


@pytest.mark.parametrize(("params", "code", "words"), [
    ({"binary": "/usr/sbin/mariadbd-missing"}, OCF_ERR_INSTALLED, "not installed"),
    ({"config": "my.cnf"}, OCF_ERR_CONFIGURED, "absolute path"),
    ({"config": "/nonexistent/my.cnf"}, OCF_ERR_INSTALLED, "not found"),
    ({"datadir": "/nonexistent/mysql"}, OCF_ERR_INSTALLED, "does not exist"),
    ({"user": "no-such-user-x"}, OCF_ERR_INSTALLED, "does not exist"),
    ({"max_lag": "soon"}, OCF_ERR_CONFIGURED, "max_lag='soon'"),
    ({"start_options": "'--skip"}, OCF_ERR_CONFIGURED, "start_options"),
    ({"password_file": "secret.txt"}, OCF_ERR_CONFIGURED, "absolute path"),
])
def test_bad_parameters_get_a_code_and_one_reason(lab: Lab, params: dict[str, str], code: int,
                                                  words: str):
    for action in ("validate-all", "start"):
        result = lab.agent(lab.b, action, **params)
        assert result.rc == code, result.stderr
        assert words in result.reason
        assert sum(line.startswith("ocf-exit-reason:") for line in result.stderr.splitlines()) \
            == 1


def test_probe_without_server_or_binary_is_not_running(lab: Lab):
    lab.ok(lab.b, "stop")
    probe = lab.probe(lab.b, binary="/usr/sbin/mariadbd-missing",
                      config="/nonexistent/my.cnf")
    assert probe.rc == OCF_NOT_RUNNING
    started = lab.agent(lab.b, "start", binary="/usr/sbin/mariadbd-missing")
    assert started.rc == OCF_ERR_INSTALLED
    assert lab.b.pid() is None


def test_meta_data_of_the_installed_agent_is_valid(lab: Lab):
    result = lab.agent(lab.a, "meta-data", fake_cluster=False)
    assert result.rc == OCF_SUCCESS
    dtd = etree.DTD("/usr/share/resource-agents/ra-api-1.dtd")
    root = etree.fromstring(result.stdout.encode())
    assert dtd.validate(root), dtd.error_log.filter_from_errors()
    assert {p.get("name") for p in root.iter("parameter")} >= {
        "config", "binary", "datadir", "socket", "pidfile", "user", "db_user",
        "password_file", "catchup_timeout"}


def test_ocf_tester_passes(lab: Lab):
    node = lab.a
    options = []
    for key, value in node.params().items():
        options += ["-o", f"{key}={value}"]
    env = node.environ()
    env = {k: v for k, v in env.items() if not k.startswith("OCF_RESKEY_")}
    agent = str(lab.ocf_root / "resource.d" / "sipha" / "mysql-mm")
    started = time.monotonic()
    result = subprocess.run(
        [mariadb.IP, "netns", "exec", lab.pair.netns, "/usr/sbin/ocf-tester", "-n", "mysql-mm",
         *options, agent], env=env, capture_output=True, text=True, timeout=600, check=False,
        stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed all tests" in result.stdout
    assert time.monotonic() - started < 300
    assert node.pid() is None  # ocf-tester ends with the resource stopped


# --------------------------------------------------------------------------
# The handover: the old master's last writes before the new master's first

# A TCP relay between b's IO thread and a: stopping it (SIGSTOP) holds back
# what a sends while b's IO thread stays connected ("Yes"), as a slow link
# does with events still in flight when a demotes.
RELAY_ADDRESS = "127.0.0.3"
RELAY = """
import socket, sys, threading
def pipe(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    for end in (src, dst):
        try:
            end.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
server = socket.create_server((sys.argv[1], int(sys.argv[2])))
while True:
    client, _ = server.accept()
    upstream = socket.create_connection((sys.argv[3], int(sys.argv[4])))
    for ends in ((client, upstream), (upstream, client)):
        threading.Thread(target=pipe, args=ends, daemon=True).start()
"""
# The stand-in for attrd_updater, answering -Q from a file as the cluster would.
ANSWERING = 'case " $* " in *" -Q "*) cat {answers} 2>/dev/null;; esac\n'


def _repoint(node: DbNode, host: str, log_file: str | None = None,
             log_pos: int | None = None) -> None:
    """node replicates from HOST, from where it applied (or LOG_FILE:LOG_POS) on."""
    node.sql("STOP SLAVE")
    status = node.slave_status()
    log_file = log_file or str(status["Relay_Master_Log_File"])
    log_pos = log_pos if log_pos is not None else int(status["Exec_Master_Log_Pos"])  # type: ignore[call-overload]
    node.sql(f"CHANGE MASTER TO MASTER_HOST='{host}', MASTER_LOG_FILE='{log_file}', "
             f"MASTER_LOG_POS={log_pos}", "START SLAVE")


class Handover:
    """b replicating from a through the relay; promotes that see what a's
    demote published, as attrd_updater -Q -A would show it."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.relay = subprocess.Popen(
            [mariadb.IP, "netns", "exec", lab.pair.netns, sys.executable, "-c", RELAY,
             RELAY_ADDRESS, str(mariadb.PORT), lab.a.address, str(mariadb.PORT)],
            stdin=subprocess.DEVNULL)
        self.held = False
        for node in lab.pair.nodes:
            node.fake_tool.write_text(mariadb.FAKE_TOOL.format(log=node.attr_log) +
                                      ANSWERING.format(answers=self.answers(node)))
        wait_for(lambda: _listening(lab.pair.netns), 10, "the relay listening")
        _repoint(lab.b, RELAY_ADDRESS)
        wait_for(lambda: lab.pair.caught_up(lab.b), 20, "b caught up through the relay")

    @staticmethod
    def answers(node: DbNode) -> Path:
        return node.folder / "attrd-query"

    def hold(self) -> None:
        self.relay.send_signal(signal.SIGSTOP)
        self.held = True

    def release(self) -> None:
        self.relay.send_signal(signal.SIGCONT)
        self.held = False

    def release_after(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self.release)
        timer.start()
        return timer

    def promote(self, node: DbNode, **params: str) -> AgentRun:
        """promote on NODE as Pacemaker runs it (on_node), the cluster's
        handover attributes (what each node's demote published) answering."""
        lines = [f'name="{HANDOVER}" host="{n.name}" value="{n.attributes()[HANDOVER]}"\n'
                 for n in self.lab.pair.nodes if HANDOVER in n.attributes()]
        self.answers(node).write_text("".join(lines))
        try:
            return self.lab.ok(node, "promote", meta={"on_node": node.name}, **params)
        finally:
            self.answers(node).unlink()

    def close(self) -> None:
        if self.held:
            self.release()
        wait_for(lambda: self.lab.pair.caught_up(self.lab.b), 30, "b caught up")
        _repoint(self.lab.b, self.lab.a.address)
        self.relay.kill()
        self.relay.wait(10)
        for node in self.lab.pair.nodes:
            node.fake_tool.write_text(mariadb.FAKE_TOOL.format(log=node.attr_log))


def _listening(netns: str) -> bool:
    found = subprocess.run([mariadb.IP, "netns", "exec", netns, "ss", "-Htln",
                            f"src {RELAY_ADDRESS}"], capture_output=True, text=True,
                           check=False, stdin=subprocess.DEVNULL)
    return bool(found.stdout.strip())


@pytest.fixture
def handover(lab: Lab) -> Iterator[Handover]:
    lab.ok(lab.a, "promote")
    relayed = Handover(lab)
    try:
        yield relayed
    finally:
        relayed.close()


def _written_then_demoted(lab: Lab, handover: Handover, rows: list[str]) -> tuple[str, int]:
    """ROWS written on a, held back on their way to b, then a demoted: where
    a's binary log stopped (what its demote published)."""
    a, b = lab.a, lab.b
    handover.hold()
    for uniqueid in rows:
        a.insert_cdr(uniqueid)
    demoted = lab.ok(a, "demote")
    a_file, a_pos = a.sql("SHOW MASTER STATUS")[0][:2]
    published = a.attributes()[HANDOVER]
    assert published.startswith(f"{a_file}:{a_pos} at ")
    assert f"demoted: read-only at binlog {a_file}:{a_pos}" in demoted.stderr
    status = b.slave_status()
    assert status["Slave_IO_Running"] == "Yes"  # connected: the rows are in flight
    assert int(status["Read_Master_Log_Pos"]) < a_pos  # type: ignore[call-overload]
    assert not set(rows) & b.cdr_ids()
    return a_file, a_pos


def test_planned_move_applies_the_old_masters_last_writes_first(lab: Lab, handover: Handover):
    b = lab.b
    rows = [f"last-second-{n}" for n in range(20)]
    a_file, a_pos = _written_then_demoted(lab, handover, rows)
    handover.release_after(2)
    promoted = handover.promote(b, handover_timeout="20s")
    # Right when promote returns (b writable), every row a wrote is there: the
    # relay log wait alone would have returned at once, 2 s before they came.
    present = set(rows) & b.cdr_ids()
    assert present == set(rows), f"{len(present)} of {len(rows)} rows applied"
    print(f"planned move: promote returned after {promoted.elapsed:.2f} s, its {len(rows)} "
          "rows held back for 2 s all applied")
    assert 2 <= promoted.elapsed < 10
    assert f"the old master's final binlog position {a_file}:{a_pos} (demoted on a at " \
        in promoted.stderr
    assert ") applied (" in promoted.stderr
    assert not b.read_only()
    assert HANDOVER not in b.attributes()  # a promote clears its own
    lab.ok(b, "demote")


def test_handover_timeout_is_one_line_and_the_promote_goes_on(lab: Lab, handover: Handover):
    b = lab.b
    rows = [f"held-{n}" for n in range(5)]
    a_file, a_pos = _written_then_demoted(lab, handover, rows)
    promoted = handover.promote(b, handover_timeout="2s")
    print(f"handover_timeout=2s: promote returned after {promoted.elapsed:.2f} s")
    assert 2 <= promoted.elapsed < 8
    warnings = [line for line in promoted.stderr.splitlines()
                if "final binlog position" in line]
    assert len(warnings) == 1, promoted.stderr
    assert "WARNING" in warnings[0]
    assert f"{a_file}:{a_pos}" in warnings[0]
    assert "not applied here (handover_timeout: not reached after 2." in warnings[0]
    assert f"applied up to {a_file}:" in warnings[0]
    assert not b.read_only()  # never refused
    assert not set(rows) & b.cdr_ids()
    handover.release()
    wait_for(lambda: set(rows) <= b.cdr_ids(), 30, "the held rows applied later")
    lab.ok(b, "demote")


def test_a_stale_position_is_not_waited_for(lab: Lab, handover: Handover):
    """b already waited for a's published position in an earlier handover; a
    was rebuilt since (its binary log starts again at .000001), so that
    position lies ahead of anything b will ever read from a."""
    a, b = lab.a, lab.b
    _written_then_demoted(lab, handover, ["first-handover"])
    handover.release()
    handover.promote(b)
    lab.ok(b, "demote")
    stale = a.attributes()[HANDOVER]
    a.sql("RESET MASTER")
    new_file, new_pos = a.sql("SHOW MASTER STATUS")[0][:2]
    _repoint(b, RELAY_ADDRESS, new_file, new_pos)
    wait_for(lambda: lab.pair.replicating(b), 10, "b replicating a's new binary log")
    promoted = handover.promote(b, handover_timeout="10s")
    print(f"stale position: promote returned after {promoted.elapsed:.2f} s")
    assert "an earlier promote here already waited for it" in promoted.stderr
    assert "not applied here" not in promoted.stderr
    assert a.attributes()[HANDOVER] == stale
    lab.ok(b, "demote")


def test_failover_without_a_demote_does_not_wait(lab: Lab, handover: Handover):
    """a's demote never ran (a failed): nothing published, nothing waited for."""
    a, b = lab.a, lab.b
    handover.hold()
    a.insert_cdr("lost-with-a")
    os.kill(a.pid(), signal.SIGKILL)  # type: ignore[arg-type]
    wait_for(lambda: a.pid() is None, 10, "a gone")
    assert lab.agent(a, "demote").rc == OCF_NOT_RUNNING
    a.attr_log.write_text("")  # a's node left the cluster: its attributes went with it
    promoted = handover.promote(b, handover_timeout="20s")
    print(f"failover without a demote: promote returned after {promoted.elapsed:.2f} s")
    assert "final binlog position" not in promoted.stderr
    assert not b.read_only()
    lab.ok(a, "stop")
    lab.ok(a, "start")
    handover.release()
    lab.ok(b, "demote")


def test_reminder_while_the_replica_stays_stopped(lab: Lab):
    b = lab.b
    b.sql("STOP SLAVE")
    try:
        assert lab.monitor(b, reminder_interval="1s").rc == OCF_SUCCESS
        assert b.attributes()[STATE] == "stopped"
        assert REMINDER not in b.attributes()  # the change of state alerts by itself
        time.sleep(1.1)
        assert lab.monitor(b, reminder_interval="1s").rc == OCF_SUCCESS
        first = b.attributes()[REMINDER]
        assert first.startswith("stopped since 20") and first.endswith(", reminder 1")
        time.sleep(1.1)
        lab.monitor(b, reminder_interval="1s")
        assert b.attributes()[REMINDER].endswith(", reminder 2")
    finally:
        b.sql("START SLAVE")
    wait_for(lambda: lab.pair.caught_up(b), 15, "b caught up")
    assert lab.monitor(b, reminder_interval="1s").rc == OCF_SUCCESS
    assert b.attributes()[STATE] == "ok"
    assert REMINDER not in b.attributes()
