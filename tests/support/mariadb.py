"""Two MariaDB servers replicating master/master in a private network namespace.

Everything lives in one temporary folder (``/tmp/siphadb-*``: readable by the
``mysql`` user, which pytest's own tmp folders are not) and one namespace
``siphadb<hex>`` with only loopback up: node ``a`` listens on 127.0.0.1:3306,
node ``b`` on 127.0.0.2:3306, and each replicates from the other.  The data
directories are made by ``mariadb-install-db``; the servers are started by
the agent under test (``ip netns exec``), and ``replicate()`` then does the
one-time setup an operator does (replication user, ``CHANGE MASTER TO``,
``START SLAVE``) plus a CDR table and a CDR-writing account.  The test
process itself talks to the servers through their unix sockets, which are
files and so reachable from outside the namespace.

Pacemaker is not running here: ``agent()`` bind-mounts a stand-in over
``attrd_updater`` and ``crm_attribute`` inside the agent's own mount
namespace (``ip netns exec`` makes one, private to that call and the
processes it leaves), which records each call in the node's folder;
``attributes()`` replays them.  ``down()`` ends the namespace's processes
by PID, then removes the namespace and the folder.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from tests.support.agent_run import AgentRun

IP = "/usr/sbin/ip"
MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = "/usr/bin/mariadb-install-db"
PORT = 3306
REPL_USER, REPL_PASSWORD = "repl", "repl-secret-x1"
CDR_USER, CDR_PASSWORD = "cdr", "cdr-secret-x2"
CDR_TABLE = """
CREATE TABLE IF NOT EXISTS asteriskcdrdb.cdr (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    calldate DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    src VARCHAR(80) NOT NULL DEFAULT '',
    dst VARCHAR(80) NOT NULL DEFAULT '',
    billsec INT NOT NULL DEFAULT 0,
    uniqueid VARCHAR(150) NOT NULL,
    UNIQUE KEY (uniqueid)
) ENGINE=InnoDB
"""
FAKE_TOOL = """#!/bin/sh
# Stand-in for attrd_updater and crm_attribute: records the call, succeeds.
{{ printf '%s' "${{0##*/}}"; for arg in "$@"; do printf '\\t%s' "$arg"; done; echo; }} >> {log}
"""
# Run inside the agent's private mount namespace, before the agent itself.
WITH_FAKE_CLUSTER = ('mount --bind "$1" /usr/sbin/attrd_updater && '
                     'mount --bind "$1" /usr/sbin/crm_attribute && shift && exec "$@"')


def available() -> str | None:
    """Why these tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "network namespaces and mariadbd as user mysql need root"
    return None


def _sh(*argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check,
                          timeout=timeout, stdin=subprocess.DEVNULL)


class DbNode:
    """One server's files, agent parameters and SQL access."""

    def __init__(self, folder: Path, name: str, server_id: int, address: str) -> None:
        self.name = name
        self.server_id = server_id
        self.address = address
        self.folder = folder
        self.datadir = folder / "data"
        self.config = folder / "my.cnf"
        self.socket = folder / "run" / "mysqld.sock"
        self.pidfile = folder / "run" / "mysqld.pid"
        self.error_log = folder / "error.log"
        self.tmpdir = folder / "tmp"
        self.rsctmp = folder / "rsc"
        self.attr_log = folder / "attrd.log"
        self.fake_tool = folder / "fake-attrd"

    def params(self) -> dict[str, str]:
        return {"config": str(self.config), "datadir": str(self.datadir),
                "socket": str(self.socket), "pidfile": str(self.pidfile)}

    def environ(self, meta: Mapping[str, str] | None = None, **params: str) -> dict[str, str]:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C",
               "OCF_ROOT": "/usr/lib/ocf", "OCF_RESOURCE_INSTANCE": "db",
               "HA_RSCTMP": str(self.rsctmp)}
        env.update({f"OCF_RESKEY_{k}": v for k, v in {**self.params(), **params}.items()})
        env.update({f"OCF_RESKEY_CRM_meta_{k}": v for k, v in (meta or {}).items()})
        return env

    def write_config(self, peer_offset: int) -> None:
        self.config.write_text(
            "[mysqld]\n"
            f"server_id = {self.server_id}\n"
            "log_bin = mariadb-bin\n"
            "log_slave_updates = ON\n"
            "relay_log = relay-bin\n"
            "binlog_format = ROW\n"
            "auto_increment_increment = 2\n"
            f"auto_increment_offset = {peer_offset}\n"
            f"bind_address = {self.address}\n"
            f"port = {PORT}\n"
            f"socket = {self.socket}\n"
            f"pid_file = {self.pidfile}\n"
            f"datadir = {self.datadir}\n"
            f"log_error = {self.error_log}\n"
            f"tmpdir = {self.tmpdir}\n"
            "skip_name_resolve = ON\n"
            "innodb_buffer_pool_size = 32M\n"
            "innodb_log_file_size = 16M\n"
            "performance_schema = OFF\n"
            "character_set_server = utf8mb4\n")

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            return None
        return pid if exe.startswith(MARIADBD) else None

    # -- SQL from the test process, through the unix socket ---------------

    def connect(self, user: str = "root", password: str = "", database: str | None = None):
        import pymysql

        return pymysql.connect(unix_socket=str(self.socket), user=user, password=password,
                               database=database, autocommit=True, connect_timeout=5,
                               read_timeout=30, write_timeout=30)

    def sql(self, *statements: str, user: str = "root", password: str = "",
            ) -> list[tuple[object, ...]]:
        """Run STATEMENTS in one session; the rows of the last one."""
        conn = self.connect(user, password)
        try:
            with conn.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
                return list(cursor.fetchall())
        finally:
            conn.close()

    def slave_status(self) -> dict[str, object]:
        import pymysql

        conn = self.connect()
        try:
            with conn.cursor(pymysql.cursors.DictCursor) as cursor:
                cursor.execute("SHOW SLAVE STATUS")
                return dict(cursor.fetchone() or {})
        finally:
            conn.close()

    def read_only(self) -> bool:
        return bool(self.sql("SELECT @@global.read_only")[0][0])

    def cdr_ids(self) -> set[str]:
        return {row[0] for row in self.sql("SELECT uniqueid FROM asteriskcdrdb.cdr")}

    def insert_cdr(self, uniqueid: str, user: str = CDR_USER, password: str = CDR_PASSWORD,
                   log_bin: bool = True) -> None:
        statements = [] if log_bin else ["SET SESSION sql_log_bin = 0"]
        self.sql(*statements, "INSERT INTO asteriskcdrdb.cdr (src, dst, billsec, uniqueid) "
                 f"VALUES ('2001', '2002', 42, '{uniqueid}')", user=user, password=password)

    # -- node attributes as the stand-in recorded them --------------------

    def attributes(self) -> dict[str, str]:
        """Current transient attributes and ``promotion-score``, from the calls."""
        values: dict[str, str] = {}
        try:
            lines = self.attr_log.read_text().splitlines()
        except FileNotFoundError:
            return values
        for line in lines:
            tool, *args = line.split("\t")
            if tool == "crm_attribute":
                if "-v" in args:
                    values["promotion-score"] = args[args.index("-v") + 1]
                elif "-D" in args:
                    values.pop("promotion-score", None)
            elif tool == "attrd_updater" and "-n" in args:
                name = args[args.index("-n") + 1]
                for flag in ("-U", "-B"):
                    if flag in args:
                        values[name] = args[args.index(flag) + 1]
                if "-D" in args:
                    values.pop(name, None)
        return values


class MariaDBPair:
    def __init__(self) -> None:
        self.netns = f"siphadb{secrets.token_hex(4)}"
        self.folder = Path(tempfile.mkdtemp(prefix="siphadb-"))
        self.folder.chmod(0o755)
        self.a = DbNode(self.folder / "a", "a", 1, "127.0.0.1")
        self.b = DbNode(self.folder / "b", "b", 2, "127.0.0.2")
        self.netns_made = False
        # What the tests' module fixture saw when it started both servers.
        self.started: dict[str, AgentRun] = {}
        self.read_only_at_start: dict[str, bool] = {}

    @property
    def nodes(self) -> tuple[DbNode, DbNode]:
        return self.a, self.b

    def peer(self, node: DbNode) -> DbNode:
        return self.b if node is self.a else self.a

    def up(self) -> None:
        _sh(IP, "netns", "add", self.netns)
        self.netns_made = True
        _sh(IP, "-n", self.netns, "link", "set", "lo", "up")
        mysql = pwd.getpwnam("mysql")
        installs = []
        for offset, node in enumerate(self.nodes, start=1):
            for folder in (node.folder, node.datadir, node.socket.parent, node.rsctmp,
                           node.tmpdir):
                folder.mkdir(parents=True, exist_ok=True)
            node.folder.chmod(0o755)
            # Its own tmpdir: bootstraps sharing /tmp lost temporary tables now and then.
            for folder in (node.datadir, node.socket.parent, node.tmpdir):
                os.chown(folder, mysql.pw_uid, mysql.pw_gid)
            # The error log is mariadbd's (as mysql); create it so it can append.
            node.error_log.touch()
            os.chown(node.error_log, mysql.pw_uid, mysql.pw_gid)
            node.write_config(offset)
            node.fake_tool.write_text(FAKE_TOOL.format(log=node.attr_log))
            node.fake_tool.chmod(0o755)
            installs.append(subprocess.Popen(
                [IP, "netns", "exec", self.netns, INSTALL_DB, f"--defaults-file={node.config}",
                 "--user=mysql", "--auth-root-authentication-method=socket", "--skip-test-db"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True))
        for node, proc in zip(self.nodes, installs, strict=True):
            output, _ = proc.communicate(timeout=180)
            if proc.returncode != 0:
                log = node.error_log.read_text(errors="replace")
                raise RuntimeError(f"mariadb-install-db failed for {node.name}: "
                                   f"{output[:300]} ... {log[-2000:]}")

    def agent_argv(self, ocf_root: Path, node: DbNode, action: str,
                   fake_cluster: bool = True) -> list[str]:
        argv = [IP, "netns", "exec", self.netns]
        if fake_cluster:
            argv += ["/bin/sh", "-c", WITH_FAKE_CLUSTER, "sh", str(node.fake_tool)]
        return [*argv, str(ocf_root / "resource.d" / "sipha" / "mysql-mm"), action]

    def agent(self, ocf_root: Path, node: DbNode, action: str, *,
              meta: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None,
              fake_cluster: bool = True, timeout: float = 180, **params: str) -> AgentRun:
        environ = {**node.environ(meta, **params), **(env or {})}
        started = time.monotonic()
        proc = subprocess.run(self.agent_argv(ocf_root, node, action, fake_cluster),
                              env=environ, capture_output=True, text=True, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL)
        return AgentRun(proc, time.monotonic() - started)

    def replicate(self) -> None:
        """The operator's one-time master/master setup, on two running servers."""
        for node in self.nodes:
            # Not binary-logged: each side gets its own copy, nothing replicates twice.
            node.sql("SET SESSION sql_log_bin = 0",
                     f"CREATE USER IF NOT EXISTS '{REPL_USER}'@'127.0.0.%' "
                     f"IDENTIFIED BY '{REPL_PASSWORD}'",
                     f"GRANT REPLICATION SLAVE ON *.* TO '{REPL_USER}'@'127.0.0.%'",
                     "CREATE DATABASE IF NOT EXISTS asteriskcdrdb",
                     CDR_TABLE,
                     f"CREATE USER IF NOT EXISTS '{CDR_USER}'@'localhost' "
                     f"IDENTIFIED BY '{CDR_PASSWORD}'",
                     f"GRANT SELECT, INSERT, UPDATE, DELETE ON asteriskcdrdb.* "
                     f"TO '{CDR_USER}'@'localhost'")
        positions = {node.name: node.sql("SHOW MASTER STATUS")[0][:2] for node in self.nodes}
        for node in self.nodes:
            peer = self.peer(node)
            log_file, log_pos = positions[peer.name]
            node.sql("STOP SLAVE", "RESET SLAVE ALL",
                     f"CHANGE MASTER TO MASTER_HOST='{peer.address}', MASTER_PORT={PORT}, "
                     f"MASTER_USER='{REPL_USER}', MASTER_PASSWORD='{REPL_PASSWORD}', "
                     f"MASTER_LOG_FILE='{log_file}', MASTER_LOG_POS={log_pos}, "
                     "MASTER_USE_GTID=no, MASTER_CONNECT_RETRY=1",
                     "START SLAVE")
        for node in self.nodes:
            wait_for(lambda n=node: self.replicating(n), 30, f"replication on {node.name}")

    @staticmethod
    def replicating(node: DbNode) -> bool:
        status = node.slave_status()
        return status.get("Slave_IO_Running") == "Yes" and \
            status.get("Slave_SQL_Running") == "Yes"

    def caught_up(self, node: DbNode) -> bool:
        """NODE has applied everything its peer has written so far."""
        peer_file, peer_pos = self.peer(node).sql("SHOW MASTER STATUS")[0][:2]
        status = node.slave_status()
        return (status.get("Relay_Master_Log_File"), status.get("Exec_Master_Log_Pos")) == \
            (peer_file, peer_pos) and self.replicating(node)

    # -- teardown ----------------------------------------------------------

    def namespace_pids(self) -> list[int]:
        if not self.netns_made:
            return []
        result = _sh(IP, "netns", "pids", self.netns, check=False)
        return [int(pid) for pid in result.stdout.split()]

    def leftovers(self) -> list[int]:
        """mariadbd processes using this pair's files (after down(): none)."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if str(self.folder).encode() in cmdline and b"mariadbd" in cmdline:
                found.append(int(entry))
        return found

    def kill_servers(self) -> None:
        """SIGTERM (a clean shutdown for mariadbd), then SIGKILL, by PID."""
        pids = sorted(set(self.namespace_pids()) | set(self.leftovers()))
        for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
                time.sleep(0.1)

    def down(self) -> None:
        self.kill_servers()
        if self.netns_made:
            _sh(IP, "netns", "del", self.netns, check=False)
            self.netns_made = False
        shutil.rmtree(self.folder, ignore_errors=True)

    def exists(self) -> bool:
        listed = _sh(IP, "netns", "list", check=False).stdout.split()
        return self.netns in listed or self.folder.exists()


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:][:1] not in ("Z", "X", "")


def wait_for(check: Callable[[], object], timeout: float = 20, what: str = "condition",
             poll: float = 0.2) -> object:
    """The first true value of CHECK; AssertionError naming WHAT after TIMEOUT."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(poll)


def pair_up() -> Iterator[MariaDBPair]:
    """A pair with initialised data directories, torn down afterwards."""
    pair = MariaDBPair()
    try:
        pair.up()
        yield pair
    finally:
        pair.down()
