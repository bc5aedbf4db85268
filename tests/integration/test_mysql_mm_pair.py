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
