"""ocf:sipha:mysql-mm without a server: a fake pymysql connection that plays a
MariaDB (and records every statement), a runner that records the node
attribute commands, and real state files in a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pymysql
import pytest

from ocf_agents import mysql_mm
from ocf_agents.clients.mysql_probe import (
    BROKEN,
    LAGGING,
    OK,
    PEER_UNREACHABLE,
    STOPPED,
    UNCONFIGURED,
    ProbeError,
    Replication,
    ServerDown,
    Session,
    layout_problems,
)
from ocf_agents.framework import promotion
from ocf_agents.framework.ocf import Context, OCFCode, OCFError
from sipha_runtime import processes
from sipha_runtime.log import Logger
from sipha_runtime.run import Completed

STATE, LAG = "sipha-mysql-db-replication", "sipha-mysql-db-lag"


def row(io: str = "Yes", sql: str = "Yes", lag: int | None = 0, io_errno: int = 0,
        sql_errno: int = 0, read: int = 900, executed: int = 900, **more: object,
        ) -> dict[str, object]:
    return {"Slave_IO_Running": io, "Slave_SQL_Running": sql, "Seconds_Behind_Master": lag,
            "Last_IO_Errno": io_errno, "Last_IO_Error": f"io error {io_errno}" if io_errno else "",
            "Last_SQL_Errno": sql_errno,
            "Last_SQL_Error": f"Could not execute Write_rows_v1 event: Duplicate entry 'x' "
                              f"for key 'uniqueid', Error_code: {sql_errno}" if sql_errno else "",
            "Master_Host": "127.0.0.2", "Master_Port": 3306,
            "Master_Log_File": "mariadb-bin.000007", "Read_Master_Log_Pos": read,
            "Relay_Master_Log_File": "mariadb-bin.000007", "Exec_Master_Log_Pos": executed,
            **more}


# --------------------------------------------------------------------------
# Replication state from SHOW SLAVE STATUS (pure)


@pytest.mark.parametrize(("status", "state", "score"), [
    (row(), OK, 10),
    (row(lag=30), OK, 10),
    (row(lag=31), LAGGING, 5),
    (row(io="Connecting", lag=None, io_errno=2003), PEER_UNREACHABLE, 8),
    (row(io="Connecting", lag=None), PEER_UNREACHABLE, 8),  # just started, no error yet
    (row(io="No", lag=None, io_errno=2003), PEER_UNREACHABLE, 8),  # gave up retrying
    (row(sql="No", lag=None, sql_errno=1062), BROKEN, 1),
    (row(io="Connecting", sql="No", lag=None, io_errno=2003, sql_errno=1062), BROKEN, 1),
    (row(io="No", lag=None, io_errno=1236), BROKEN, 1),  # binlog gone on the peer
    (row(io="Connecting", lag=None, io_errno=1045), BROKEN, 1),  # wrong replication password
    (row(sql="No", lag=None), STOPPED, 3),
    (row(io="No", lag=None), STOPPED, 3),
    (None, UNCONFIGURED, 2),
])
def test_state_and_score_from_the_status_row(status, state: str, score: int):
    repl = Replication.from_row(status, max_lag=30)
    assert repl.state == state
    assert mysql_mm.SCORES[repl.state] == score


def test_details_name_the_cause():
    broken = Replication.from_row(row(sql="No", lag=None, sql_errno=1062), 30)
    assert broken.describe().startswith("broken: SQL thread stopped by error 1062: ")
    assert "Duplicate entry" in broken.detail
    gone = Replication.from_row(row(io="Connecting", lag=None, io_errno=2003), 30)
    assert gone.describe() == "peer unreachable: peer 127.0.0.2:3306 unreachable"
    lagging = Replication.from_row(row(lag=120), 30)
    assert lagging.describe() == "lagging, 120s behind: more than 30s behind 127.0.0.2:3306"
    assert Replication.from_row(row(read=950, executed=900), 30).applied is False
    assert Replication.from_row(row(), 30).applied is True


def test_layout_problems():
    good = {"log_bin": 1, "log_slave_updates": 1, "auto_increment_increment": 2}
    assert layout_problems(good) == []
    bad = layout_problems({"log_bin": 0, "log_slave_updates": "OFF",
                           "auto_increment_increment": 1})
    assert [p.split(" ")[0] for p in bad] == ["log_bin", "log_slave_updates",
                                              "auto_increment_increment"]


# --------------------------------------------------------------------------
# A fake MariaDB behind pymysql.connect


class FakeServer:
    """Plays the statements the agent sends; records them with their arguments."""

    def __init__(self) -> None:
        self.variables = {"read_only": 1, "server_id": 2, "log_bin": 1,
                          "log_slave_updates": 1, "auto_increment_increment": 2,
                          "auto_increment_offset": 2}
        self.status: dict[str, object] | None = row()
        self.statements: list[str] = []
        self.connects: list[dict[str, object]] = []
        self.refuse_connect: Exception | None = None
        self.errors: dict[str, list[Exception]] = {}
        self.pos_wait: int | None = 0
        self.writers = [{"ID": 17, "INFO": "INSERT INTO cdr SELECT SLEEP(30)"},
                        {"ID": 18, "INFO": "SELECT * FROM cdr"}]

    def connect(self, **kwargs: object) -> FakeConnection:
        self.connects.append(kwargs)
        if self.refuse_connect is not None:
            raise self.refuse_connect
        return FakeConnection(self)

    def answer(self, statement: str) -> list[dict[str, object]]:
        self.statements.append(statement)
        for prefix, errors in self.errors.items():
            if statement.startswith(prefix) and errors:
                raise errors.pop(0)
        if statement.startswith("SELECT @@global.read_only AS read_only"):
            return [dict(self.variables)]
        if statement == "SHOW SLAVE STATUS":
            return [dict(self.status)] if self.status else []
        if statement.startswith("SET GLOBAL read_only = "):
            self.variables["read_only"] = int(statement.endswith("ON"))
            return []
        if statement.startswith(("SET SESSION lock_wait_timeout", "KILL QUERY")) or \
                statement == "FLUSH LOCAL TABLES":
            return []
        if statement == "START SLAVE SQL_THREAD":
            assert self.status is not None
            self.status["Slave_SQL_Running"] = "Yes"
            return []
        if statement.startswith("SELECT MASTER_POS_WAIT"):
            if self.pos_wait is not None and self.pos_wait >= 0 and self.status:
                # Received and applied up to what was waited for.
                target = int(statement.split(", ")[1])
                read = max(target, int(self.status["Read_Master_Log_Pos"]))  # type: ignore[call-overload]
                self.status["Read_Master_Log_Pos"] = self.status["Exec_Master_Log_Pos"] = read
            return [{"waited": self.pos_wait}]
        if statement == "SHOW MASTER STATUS":
            return [{"File": "mariadb-bin.000003", "Position": 4321}]
        if "information_schema.PROCESSLIST" in statement and statement.startswith("SELECT ID"):
            return list(self.writers)
        if "INNODB_TRX" in statement:
            return [{"n": 1}]
        raise AssertionError(f"unexpected statement {statement!r}")

    def sent(self, *prefixes: str) -> list[str]:
        """The statements sent, reduced to those starting with one of PREFIXES."""
        return [s for s in self.statements if s.startswith(prefixes)]


class FakeConnection:
    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.open = True

    def cursor(self, _cls: object = None) -> FakeCursor:
        return FakeCursor(self.server)

    def close(self) -> None:
        assert self.open
        self.open = False


class FakeCursor:
    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.result: list[dict[str, object]] = []

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute(self, statement: str, args: Sequence[object] | None = None) -> None:
        if args:
            statement = statement % tuple(repr(a) if isinstance(a, str) else a for a in args)
        self.result = self.server.answer(statement)

    def fetchall(self) -> list[dict[str, object]]:
        return self.result


class Recorder:
    """Stands in for the Runner behind NodeAttributes: records each command."""

    def __init__(self, returncode: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.returncode = returncode
        # What attrd_updater -Q -A answers: node -> value of the queried attribute.
        self.cluster: dict[str, str] = {}

    def run(self, argv: Sequence[str], timeout: float | None = None,
            env: object = None) -> Completed:
        self.calls.append([os.path.basename(argv[0]), *argv[1:]])
        stderr = "" if self.returncode == 0 else "Could not connect to the CIB"
        stdout = ""
        if "-Q" in argv and "-A" in argv:
            name = argv[argv.index("-n") + 1]
            stdout = "".join(f'name="{name}" host="{node}" value="{value}"\n'
                             for node, value in self.cluster.items())
        return Completed(argv, self.returncode, stdout, stderr, 0.0)

    def take(self) -> list[list[str]]:
        calls, self.calls = self.calls, []
        return calls


class Node:
    """One node's state folder, parameters and call context."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp = tmp_path
        self.server = FakeServer()
        self.recorder = Recorder()
        self.pid: int | None = 4242
        self.stopped = False
        self.log = _Sink()
        self.env = {"OCF_RESOURCE_INSTANCE": "db:1", "HA_RSCTMP": str(tmp_path / "rsc"),
                    "OCF_RESKEY_config": str(tmp_path / "my.cnf"),
                    "OCF_RESKEY_socket": str(tmp_path / "mysqld.sock"),
                    "OCF_RESKEY_pidfile": str(tmp_path / "mysqld.pid")}
        monkeypatch.setattr(pymysql, "connect", self.server.connect)
        monkeypatch.setattr(processes, "live_pid", lambda pidfile, binary: self.pid)
        monkeypatch.setattr(processes, "is_stopped", lambda pid: self.stopped)

    def ctx(self, action: str = "monitor", interval: int = 10000, **env: str) -> Context:
        environ = {**self.env, "OCF_RESKEY_CRM_meta_interval": str(interval), **env}
        log = Logger("mysql-mm", "db:1", {}, stderr=self.log)
        return Context(mysql_mm.AGENT, action, environ, log, 30.0,
                       runner=self.recorder)  # type: ignore[arg-type]

    def cfg(self, **params: str) -> mysql_mm.MysqlConfig:
        env = {**self.env, **{f"OCF_RESKEY_{k}": v for k, v in params.items()}}
        return mysql_mm.MysqlConfig.from_env(env)  # type: ignore[return-value]

    def call(self, action: str, interval: int = 10000, **params: str) -> OCFCode:
        handler = mysql_mm.AGENT.handlers[action]
        return handler(self.cfg(**params), self.ctx(action, interval))

    def mark_started(self) -> None:
        (self.tmp / "rsc").mkdir(exist_ok=True)
        (self.tmp / "rsc" / "sipha-mysql-mm-db.running").write_text("0\n")

    def mark_promoted(self) -> None:
        (self.tmp / "rsc").mkdir(exist_ok=True)
        (self.tmp / "rsc" / "sipha-mysql-mm-db.promoted").write_text("1\n")

    @property
    def promoted_marker(self) -> Path:
        return self.tmp / "rsc" / "sipha-mysql-mm-db.promoted"


class _Sink:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> None:
        self.lines.append(text)


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Node:
    return Node(tmp_path, monkeypatch)


def attrd(name: str, value: str) -> list[str]:
    return ["attrd_updater", "-n", name, "-U", value]


def score(value: int | None) -> list[str]:
    if value is None:
        return ["crm_attribute", "--promotion=db", "-D"]
    return ["crm_attribute", "--promotion=db", "-v", str(value)]


# --------------------------------------------------------------------------
# monitor


def test_monitor_of_a_healthy_standby_publishes_once(node: Node):
    assert node.call("monitor") == OCFCode.SUCCESS
    assert node.recorder.take() == [attrd(STATE, "ok"), attrd(LAG, "0"), score(10)]
    assert node.call("monitor") == OCFCode.SUCCESS
    assert node.recorder.take() == []  # nothing changed: no command at all
    node.server.status = row(lag=3)
    assert node.call("monitor") == OCFCode.SUCCESS
    assert node.recorder.take() == [attrd(LAG, "3")]
    conn = node.server.connects[-1]
    assert conn["unix_socket"] == str(node.tmp / "mysqld.sock")
    assert (conn["user"], conn["password"]) == ("root", "")
    assert conn["connect_timeout"] == conn["read_timeout"] == 5.0


@pytest.mark.parametrize(("status", "state", "value"), [
    (row(lag=120), "lagging", 5),
    (row(sql="No", lag=None, sql_errno=1062), "broken", 1),
    (row(sql="No", lag=None), "stopped", 3),
    (None, "unconfigured", 2),
    (row(io="Connecting", lag=None, io_errno=2003), "peer-unreachable", 8),
])
def test_replication_trouble_is_reported_never_a_failure(node: Node, status, state: str,
                                                         value: int):
    """Published and scored, but the monitor says healthy: a 190/191 result
    makes Pacemaker wait 90 s before it can cancel this monitor (README)."""
    node.server.status = status
    assert node.call("monitor") == OCFCode.SUCCESS
    calls = node.recorder.take()
    assert calls[0] == attrd(STATE, state)
    assert calls[-1] == score(value)
    assert node.call("monitor", interval=0) == OCFCode.SUCCESS
    node.mark_promoted()
    node.server.variables["read_only"] = 0
    assert node.call("monitor") == OCFCode.RUNNING_PROMOTED
    assert node.call("monitor", interval=0) == OCFCode.RUNNING_PROMOTED


def test_lag_attribute_disappears_when_unknown(node: Node):
    assert node.call("monitor") == OCFCode.SUCCESS
    node.recorder.take()
    node.server.status = row(io="Connecting", lag=None, io_errno=2003)
    node.call("monitor")
    assert node.recorder.take() == [attrd(STATE, "peer-unreachable"),
                                    ["attrd_updater", "-D", "-n", LAG], score(8)]


def test_layout_problems_are_reported_never_a_failure(node: Node):
    node.server.variables["auto_increment_increment"] = 1
    assert node.call("monitor") == OCFCode.SUCCESS


def test_monitor_exit_codes_of_the_process(node: Node):
    node.pid = None
    assert node.call("monitor") == OCFCode.NOT_RUNNING  # never started: cleanly stopped
    assert node.recorder.take() == []
    assert node.server.connects == []
    node.mark_started()
    with pytest.raises(OCFError) as died:
        node.call("monitor")
    assert (died.value.exit_code, died.value.reason) == (OCFCode.ERR_GENERIC,
                                                   "mariadbd died without being stopped")
    node.mark_promoted()
    with pytest.raises(OCFError) as died:
        node.call("monitor")
    assert died.value.exit_code == OCFCode.FAILED_PROMOTED
    node.pid = 4242
    node.stopped = True
    with pytest.raises(OCFError) as stopped:
        node.call("monitor")
    assert stopped.value.exit_code == OCFCode.FAILED_PROMOTED
    assert "SIGSTOP" in stopped.value.reason


def test_a_server_that_does_not_answer_fails(node: Node):
    assert node.call("monitor") == OCFCode.SUCCESS
    node.recorder.take()
    node.server.refuse_connect = pymysql.err.OperationalError(
        2013, "Lost connection to MySQL server during query (timed out)")
    with pytest.raises(OCFError) as failed:
        node.call("monitor")
    assert failed.value.exit_code == OCFCode.ERR_GENERIC
    assert failed.value.reason == ("mariadbd (pid 4242) does not answer: Lost connection to "
                                   "MySQL server during query (timed out)")
    # The score and the replication attributes go.
    assert node.recorder.take() == [score(None), ["attrd_updater", "-D", "-n", STATE],
                                    ["attrd_updater", "-D", "-n", LAG]]


def test_wrong_credentials_are_this_nodes_permission_error(node: Node, tmp_path: Path):
    node.server.refuse_connect = pymysql.err.OperationalError(
        1045, "Access denied for user 'sipha'@'localhost' (using password: YES)")
    secret = tmp_path / "pw"
    secret.write_text("s3cret-value\n")
    secret.chmod(0o600)
    with pytest.raises(OCFError) as denied:
        node.call("monitor", db_user="sipha", password_file=str(secret))
    assert denied.value.exit_code == OCFCode.ERR_PERM
    assert "s3cret" not in denied.value.reason
    assert node.server.connects[-1]["password"] == "s3cret-value"


def test_read_only_and_the_promoted_marker_disagree(node: Node):
    node.mark_promoted()  # promoted, but the server is read-only again
    with pytest.raises(OCFError) as failed:
        node.call("monitor")
    assert failed.value.exit_code == OCFCode.FAILED_PROMOTED
    assert "read_only is ON on the promoted node" in failed.value.reason
    node.promoted_marker.unlink()
    node.server.variables["read_only"] = 0  # writable behind the cluster's back
    assert node.call("monitor") == OCFCode.RUNNING_PROMOTED


def test_failed_attribute_updates_are_retried_a_minute_later(node: Node,
                                                             monkeypatch: pytest.MonkeyPatch):
    node.recorder.returncode = 102  # no cluster
    assert node.call("monitor") == OCFCode.SUCCESS
    assert len(node.recorder.take()) == 3
    assert node.call("monitor") == OCFCode.SUCCESS
    assert node.recorder.take() == []
    later = promotion.time.time() + promotion.RETRY_AFTER + 1
    monkeypatch.setattr(promotion.time, "time", lambda: later)
    node.recorder.returncode = 0
    assert node.call("monitor") == OCFCode.SUCCESS
    assert node.recorder.take()[:2] == [attrd(STATE, "ok"), attrd(LAG, "0")]


def test_names_and_state_ignore_the_clone_number(node: Node):
    for instance in ("db", "db:0", "db:1"):
        ctx = node.ctx(OCF_RESOURCE_INSTANCE=instance)
        assert mysql_mm.attribute_names(ctx) == (STATE, LAG)
    # Promoted as crm_resource names it, monitored as Pacemaker does.
    cfg = node.cfg()
    assert mysql_mm.AGENT.handlers["promote"](cfg, node.ctx(
        "promote", OCF_RESOURCE_INSTANCE="db:0")) == OCFCode.SUCCESS
    assert mysql_mm.AGENT.handlers["monitor"](cfg, node.ctx(
        OCF_RESOURCE_INSTANCE="db")) == OCFCode.RUNNING_PROMOTED


# --------------------------------------------------------------------------
# promote and demote


def test_promote_applies_the_relay_log_then_takes_writes(node: Node):
    node.server.status = row(sql="No", read=1500, executed=900)
    assert node.call("promote", catchup_timeout="5s") == OCFCode.SUCCESS
    assert node.server.sent("START", "SELECT MASTER", "SET GLOBAL") == [
        "START SLAVE SQL_THREAD",
        "SELECT MASTER_POS_WAIT('mariadb-bin.000007', 1500, 5.0) AS waited",
        "SET GLOBAL read_only = OFF"]
    assert node.promoted_marker.exists()
    assert node.server.variables["read_only"] == 0
    # The wait fits in the read timeout and the operation's own timeout (30 s here).
    assert node.server.connects[-1]["read_timeout"] <= 30


def test_promote_wait_is_bounded_by_the_operation_timeout(node: Node):
    node.server.pos_wait = -1  # the SQL thread did not get there in time
    assert node.call("promote", catchup_timeout="10min") == OCFCode.SUCCESS
    (wait,) = node.server.sent("SELECT MASTER_POS_WAIT")
    seconds = float(wait.split(", ")[-1].split(")")[0])
    # 30 s operation: 3 s framework margin, 6 s kept for connecting and read_only.
    assert 19 < seconds <= 21
    assert node.server.variables["read_only"] == 0


@pytest.mark.parametrize("status", [
    row(sql="No", lag=None, sql_errno=1062, read=1500),  # broken: no wait, no START
    row(io="Connecting", lag=None, io_errno=2003),  # peer gone: apply what came, promote
    None,  # unconfigured
])
def test_promote_is_never_refused_for_replication(node: Node, status):
    node.server.status = status
    assert node.call("promote") == OCFCode.SUCCESS
    assert node.server.variables["read_only"] == 0
    assert "START SLAVE SQL_THREAD" not in node.server.statements
    if status is None or status["Last_SQL_Errno"]:
        assert node.server.sent("SELECT MASTER_POS_WAIT") == []


def test_promote_goes_on_when_the_catch_up_is_not_allowed(node: Node):
    node.server.status = row(sql="No", read=1500, executed=900)
    node.server.errors["START SLAVE"] = [pymysql.err.OperationalError(
        1227, "Access denied; you need (at least one of) the REPLICATION SLAVE ADMIN "
              "privilege(s) for this operation")]
    assert node.call("promote") == OCFCode.SUCCESS
    assert node.server.variables["read_only"] == 0


def test_promote_needs_a_running_server(node: Node):
    node.pid = None
    with pytest.raises(OCFError, match="not running"):
        node.call("promote")
    node.pid = 4242
    node.server.refuse_connect = pymysql.err.OperationalError(2002, "Can't connect")
    with pytest.raises(OCFError, match="does not answer") as failed:
        node.call("promote")
    assert failed.value.exit_code == OCFCode.ERR_GENERIC
    assert not node.promoted_marker.exists()


def test_demote_sets_read_only_and_reports(node: Node):
    node.mark_promoted()
    node.server.variables["read_only"] = 0
    assert node.call("demote") == OCFCode.SUCCESS
    assert node.server.statements[:3] == ["SET SESSION lock_wait_timeout = 10",
                                          "SET GLOBAL read_only = ON",
                                          "SET SESSION lock_wait_timeout = 5"]
    assert "FLUSH LOCAL TABLES" in node.server.statements
    assert not node.promoted_marker.exists()
    assert node.server.variables["read_only"] == 1


def test_demote_ends_running_writes_after_drain_timeout(node: Node):
    node.server.errors["SET GLOBAL read_only = ON"] = [
        pymysql.err.OperationalError(1205, "Lock wait timeout exceeded")]
    assert node.call("demote", drain_timeout="3s") == OCFCode.SUCCESS
    assert node.server.sent("SET", "KILL") == [
        "SET SESSION lock_wait_timeout = 3", "SET GLOBAL read_only = ON",
        "KILL QUERY 17",  # the INSERT; the SELECT holds nothing read_only waits for
        "SET SESSION lock_wait_timeout = 5", "SET GLOBAL read_only = ON",
        "SET SESSION lock_wait_timeout = 5"]


def test_demote_reporting_never_fails_the_demote(node: Node):
    node.server.errors["FLUSH"] = [pymysql.err.OperationalError(1227, "RELOAD needed")]
    node.server.errors["SHOW MASTER STATUS"] = [pymysql.err.OperationalError(
        1227, "BINLOG MONITOR needed")]
    assert node.call("demote") == OCFCode.SUCCESS
    assert node.server.variables["read_only"] == 1


def test_demote_fails_when_writes_cannot_be_stopped(node: Node):
    lock = pymysql.err.OperationalError(1205, "Lock wait timeout exceeded")
    node.server.errors["SET GLOBAL read_only = ON"] = [lock, lock]
    with pytest.raises(OCFError, match="read_only not set"):
        node.call("demote")


def test_demote_of_a_stopped_server(node: Node):
    node.mark_promoted()
    node.pid = None
    assert node.call("demote") == OCFCode.NOT_RUNNING
    assert not node.promoted_marker.exists()


def test_stop_of_a_stopped_server_withdraws_everything(node: Node):
    assert node.call("monitor") == OCFCode.SUCCESS
    node.recorder.take()
    node.pid = None
    node.mark_started()
    node.mark_promoted()
    assert node.call("stop") == OCFCode.SUCCESS
    assert node.recorder.take() == [score(None), ["attrd_updater", "-D", "-n", STATE],
                                    ["attrd_updater", "-D", "-n", LAG]]
    assert not node.promoted_marker.exists()
    assert node.call("monitor") == OCFCode.NOT_RUNNING


# --------------------------------------------------------------------------
# Parameters and validation


@pytest.fixture
def installed(tmp_path: Path) -> dict[str, str]:
    """A node where everything validate-all looks for exists."""
    binary = tmp_path / "mariadbd"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    (tmp_path / "data" / "mysql").mkdir(parents=True)
    (tmp_path / "my.cnf").write_text("[mysqld]\n")
    return {"OCF_RESOURCE_INSTANCE": "db", "HA_RSCTMP": str(tmp_path / "rsc"),
            "OCF_RESKEY_binary": str(binary), "OCF_RESKEY_config": str(tmp_path / "my.cnf"),
            "OCF_RESKEY_datadir": str(tmp_path / "data"), "OCF_RESKEY_user": "root"}


def _secret(tmp_path: Path, mode: int) -> str:
    path = tmp_path / "secret"
    path.write_text("pw\n")
    path.chmod(mode)
    return str(path)


@pytest.mark.parametrize(("params", "code", "words"), [
    ({}, OCFCode.SUCCESS, ""),
    ({"binary": "mariadbd"}, OCFCode.ERR_CONFIGURED, "binary 'mariadbd' must be an absolute"),
    ({"binary": "/nonexistent/mariadbd"}, OCFCode.ERR_INSTALLED, "is not installed"),
    ({"config": ""}, OCFCode.ERR_CONFIGURED, "parameter config is required"),
    ({"config": "/nonexistent/my.cnf"}, OCFCode.ERR_INSTALLED, "not found on this node"),
    ({"datadir": "/nonexistent"}, OCFCode.ERR_INSTALLED, "does not exist on this node"),
    ({"datadir": "/"}, OCFCode.ERR_INSTALLED, "not initialised"),
    ({"socket": "mysqld.sock"}, OCFCode.ERR_CONFIGURED, "absolute path"),
    ({"user": "no-such-user-x"}, OCFCode.ERR_INSTALLED, "does not exist on this node"),
    ({"db_user": " "}, OCFCode.ERR_CONFIGURED, "db_user must not be empty"),
    ({"max_lag": "soon"}, OCFCode.ERR_CONFIGURED, "max_lag='soon'"),
    ({"catchup_timeout": "-1"}, OCFCode.ERR_CONFIGURED, "catchup_timeout"),
    ({"start_options": "'--skip"}, OCFCode.ERR_CONFIGURED, "start_options cannot be split"),
    ({"password_file": "pw.txt"}, OCFCode.ERR_CONFIGURED, "absolute path"),
    ({"password_file": "/nonexistent/pw"}, OCFCode.ERR_INSTALLED, "not found on this node"),
    ({"password_file": 0o644}, OCFCode.ERR_PERM, "accessible by group or others"),
    ({"password_file": 0o600}, OCFCode.SUCCESS, ""),
])
def test_validate_all(installed: dict[str, str], tmp_path: Path,
                      capsys: pytest.CaptureFixture[str], params, code: OCFCode, words: str):
    env = dict(installed)
    for key, value in params.items():
        env[f"OCF_RESKEY_{key}"] = _secret(tmp_path, value) if isinstance(value, int) else value
    if params.get("config") == "":
        del env["OCF_RESKEY_config"]
    assert mysql_mm.AGENT.dispatch("validate-all", env) == code
    reasons = [line for line in capsys.readouterr().err.splitlines()
               if line.startswith("ocf-exit-reason:")]
    assert len(reasons) == (0 if code == OCFCode.SUCCESS else 1)
    if words:
        assert words in reasons[0]


def test_stop_tolerates_bad_values(installed: dict[str, str], tmp_path: Path):
    env = {**installed, "OCF_RESKEY_max_lag": "soon", "OCF_RESKEY_pidfile": str(tmp_path / "p"),
           "OCF_RESKEY_binary": "/nonexistent/mariadbd"}
    # No server, no cluster: still 0 (the failed attribute calls are only warnings).
    assert mysql_mm.AGENT.dispatch("stop", env) == OCFCode.SUCCESS


def test_unknown_action(installed: dict[str, str]):
    assert mysql_mm.AGENT.dispatch("migrate_to", installed) == OCFCode.ERR_UNIMPLEMENTED


def test_password_file_first_line_only(node: Node, tmp_path: Path):
    secret = tmp_path / "pw"
    secret.write_text("with spaces and # signs\r\nsecond line\n")
    assert mysql_mm.password(node.cfg(password_file=str(secret))) == "with spaces and # signs"
    assert mysql_mm.password(node.cfg()) is None


# --------------------------------------------------------------------------
# Session errors


def test_session_maps_errors(node: Node):
    node.server.refuse_connect = pymysql.err.OperationalError(
        2003, "Can't connect to server on 'localhost' ([Errno 2] No such file or directory)")
    with pytest.raises(ServerDown) as down:
        Session("/x.sock", "root", None, connect_timeout=1, read_timeout=1)
    assert down.value.errno == 2003
    node.server.refuse_connect = None
    db = Session("/x.sock", "root", None, connect_timeout=1, read_timeout=1)
    node.server.errors["SHOW SLAVE STATUS"] = [pymysql.err.OperationalError(
        1227, "Access denied; you need (at least one of) the SLAVE MONITOR privilege(s)")]
    with pytest.raises(ProbeError) as denied:
        db.slave_status()
    assert denied.value.access_denied
    node.server.errors["SHOW SLAVE STATUS"] = [pymysql.err.OperationalError(
        2013, "Lost connection to server during query")]
    with pytest.raises(ServerDown):
        db.slave_status()
    db.close()
    db.close()  # closing twice is harmless


# --------------------------------------------------------------------------
# Pacemaker's cheap calls stay cheap


PROBE = """
import os, sys
from ocf_agents.mysql_mm import AGENT
code = AGENT.run([sys.argv[1]], dict(os.environ))
heavy = sorted(m for m in ("lxml", "click", "pymysql", "ssl", "subprocess")
               if m in sys.modules)
print(code, ",".join(heavy) or "-", file=sys.stderr)
"""


def test_a_probe_of_a_stopped_server_imports_nothing_heavy(tmp_path: Path):
    """The probe on every node that does not run the server costs no pymysql
    (a monitor of a running server needs it: the checks are SQL)."""
    env = {**os.environ, "OCF_RESOURCE_INSTANCE": "db", "HA_RSCTMP": str(tmp_path),
           "OCF_RESKEY_config": str(tmp_path / "my.cnf"),
           "OCF_RESKEY_pidfile": str(tmp_path / "none.pid"),
           "OCF_RESKEY_CRM_meta_interval": "0"}
    for name in list(env):
        if name.startswith(("HA_LOG", "HA_DEBUG")):
            del env[name]
    out = subprocess.run([sys.executable, "-I", "-c", PROBE, "monitor"], env=env,
                         capture_output=True, text=True, check=True)
    code, heavy = out.stderr.splitlines()[-1].split()
    assert (int(code), heavy) == (OCFCode.NOT_RUNNING, "-")
