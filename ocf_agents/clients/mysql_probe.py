"""MariaDB/MySQL master/master health, usable without OCF.

``Replication.from_row`` turns one ``SHOW SLAVE STATUS`` row into a state
(pure, no server needed); ``Session`` is one pymysql connection over the
server's unix socket with the few statements the ``mysql-mm`` agent and the
operator CLI need.  pymysql is imported by ``Session`` only: a monitor that
finds no server running never loads it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

# Replication states, as published in the node attribute.
OK = "ok"
LAGGING = "lagging"
PEER_UNREACHABLE = "peer-unreachable"
STOPPED = "stopped"
BROKEN = "broken"
UNCONFIGURED = "unconfigured"
STATES = (OK, LAGGING, PEER_UNREACHABLE, STOPPED, BROKEN, UNCONFIGURED)

# Client errors of an IO thread that cannot reach its master: the peer's
# problem (down, network), not this replica's; it keeps retrying.
PEER_ERRNOS = frozenset({
    2002,  # can't connect through socket
    2003,  # can't connect to server (refused, unreachable, timeout)
    2005,  # unknown host
    2006,  # server has gone away
    2013,  # lost connection during query
})
# Server errors that say "this account may not": the agent's credentials.
ACCESS_ERRNOS = frozenset({1044, 1045, 1142, 1227, 1698})
LOCK_WAIT_TIMEOUT = 1205

_STATUS_VARIABLES = ("read_only", "server_id", "log_bin", "log_slave_updates",
                     "auto_increment_increment", "auto_increment_offset")


class ProbeError(Exception):
    """A statement failed; ``errno`` is the server's or client's error number."""

    def __init__(self, message: str, errno: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.errno = errno

    @property
    def access_denied(self) -> bool:
        return self.errno in ACCESS_ERRNOS


class ServerDown(ProbeError):
    """No connection: the server is not there or does not answer in time."""


@dataclass(slots=True, repr=False, eq=False)
class Replication:
    """What one ``SHOW SLAVE STATUS`` row says about this replica."""

    state: str
    lag: int | None = None
    detail: str = ""
    io: str = ""
    sql: str = ""
    read_pos: tuple[str, int] | None = None
    exec_pos: tuple[str, int] | None = None

    def __repr__(self) -> str:
        return f"Replication({self.state!r}, lag={self.lag!r}, detail={self.detail!r})"

    @property
    def applied(self) -> bool | None:
        """Whether the SQL thread applied all the IO thread received (None: unknown)."""
        if self.read_pos is None or self.exec_pos is None:
            return None
        return self.read_pos == self.exec_pos

    def describe(self) -> str:
        text = self.state.replace("-", " ")
        if self.lag is not None and self.state in (OK, LAGGING):
            text += f", {self.lag}s behind"
        return f"{text}: {self.detail}" if self.detail else text

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | None, max_lag: float) -> Replication:
        if not row:
            return cls(UNCONFIGURED, detail="no replication from the peer configured "
                                            "(CHANGE MASTER TO ... on this server)")
        io = str(row.get("Slave_IO_Running") or "No")
        sql = str(row.get("Slave_SQL_Running") or "No")
        lag = _int_or_none(row.get("Seconds_Behind_Master"))
        io_errno = _int_or_none(row.get("Last_IO_Errno")) or 0
        sql_errno = _int_or_none(row.get("Last_SQL_Errno")) or 0
        read_file = str(row.get("Master_Log_File") or "")
        exec_file = str(row.get("Relay_Master_Log_File") or "")
        read_pos = (read_file, _int_or_none(row.get("Read_Master_Log_Pos")) or 0) \
            if read_file else None
        exec_pos = (exec_file, _int_or_none(row.get("Exec_Master_Log_Pos")) or 0) \
            if exec_file else None
        peer = f"{row.get('Master_Host', '?')}:{row.get('Master_Port', '?')}"

        def made(state: str, detail: str = "") -> Replication:
            return cls(state, lag, detail, io=io, sql=sql, read_pos=read_pos,
                       exec_pos=exec_pos)

        if sql != "Yes" and sql_errno:
            return made(BROKEN, f"SQL thread stopped by error {sql_errno}: "
                                f"{_first_line(row.get('Last_SQL_Error'))}")
        if io != "Yes" and io_errno and io_errno not in PEER_ERRNOS:
            return made(BROKEN, f"IO thread error {io_errno}: "
                                f"{_first_line(row.get('Last_IO_Error'))}")
        if sql != "Yes":
            return made(STOPPED, "SQL thread stopped (STOP SLAVE?)")
        if io == "Connecting" or (io != "Yes" and io_errno):
            gave_up = "" if io == "Connecting" else " (IO thread gave up retrying: START SLAVE)"
            return made(PEER_UNREACHABLE, f"peer {peer} unreachable{gave_up}")
        if io != "Yes":
            return made(STOPPED, "IO thread stopped (STOP SLAVE?)")
        if lag is not None and lag > max_lag:
            return made(LAGGING, f"more than {max_lag:g}s behind {peer}")
        return made(OK)


def reached(position: tuple[str, int] | None, target: tuple[str, int]) -> bool:
    """Whether binlog POSITION is at or past TARGET: the same file by offset,
    files by their number (mariadb-bin.000007 before mariadb-bin.000010)."""
    if position is None:
        return False
    if position[0] == target[0]:
        return position[1] >= target[1]
    return _binlog_number(position[0]) > _binlog_number(target[0])


def _binlog_number(name: str) -> int:
    return _int_or_none(name.rpartition(".")[2]) or 0


def layout_problems(variables: Mapping[str, Any]) -> list[str]:
    """What in the server's settings breaks master/master (empty: nothing)."""
    problems = []
    if not truthy(variables.get("log_bin")):
        problems.append("log_bin is OFF: the peer cannot replicate from this server")
    if not truthy(variables.get("log_slave_updates")):
        problems.append("log_slave_updates is OFF")
    step = _int_or_none(variables.get("auto_increment_increment")) or 1
    if step < 2:
        problems.append("auto_increment_increment is 1: both servers hand out the same "
                        "AUTO_INCREMENT ids")
    return problems


def read_password(path: str) -> str:
    """The first line of PATH (without its line end); OSError if unreadable."""
    with open(path, encoding="utf-8") as handle:
        return handle.readline().rstrip("\r\n")


class Session:
    """One connection over the unix socket; every call bounded by the timeouts."""

    def __init__(self, socket: str, user: str, password: str | None, *,
                 connect_timeout: float, read_timeout: float,
                 program: str = "sip-ha") -> None:
        import pymysql

        try:
            self.conn = pymysql.connect(
                unix_socket=socket, user=user, password=password or "",
                connect_timeout=max(0.1, connect_timeout),
                read_timeout=max(0.1, read_timeout), write_timeout=max(0.1, read_timeout),
                autocommit=True, charset="utf8mb4", program_name=program)
        except pymysql.MySQLError as err:
            errno, message = _unpack(err)
            if errno in ACCESS_ERRNOS:
                raise ProbeError(message, errno) from None
            raise ServerDown(message, errno) from None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.conn.open:  # pymysql closes a broken connection itself
            self.conn.close()

    def rows(self, statement: str, args: Sequence[object] | None = None,
             ) -> list[dict[str, Any]]:
        import pymysql

        try:
            with self.conn.cursor(pymysql.cursors.DictCursor) as cursor:
                cursor.execute(statement, args)
                return list(cursor.fetchall())
        except pymysql.MySQLError as err:
            errno, message = _unpack(err)
            if errno in PEER_ERRNOS or isinstance(err, pymysql.err.InterfaceError):
                raise ServerDown(message, errno) from None
            raise ProbeError(message, errno) from None

    def execute(self, statement: str, args: Sequence[object] | None = None) -> None:
        self.rows(statement, args)

    # -- what the agent asks ----------------------------------------------

    def variables(self) -> dict[str, Any]:
        names = ", ".join(f"@@global.{name} AS {name}" for name in _STATUS_VARIABLES)
        return self.rows(f"SELECT {names}")[0]

    def slave_status(self) -> dict[str, Any] | None:
        found = self.rows("SHOW SLAVE STATUS")
        return found[0] if found else None

    def replication(self, max_lag: float) -> Replication:
        return Replication.from_row(self.slave_status(), max_lag)

    def read_only(self) -> bool:
        return truthy(self.rows("SELECT @@global.read_only AS ro")[0]["ro"])

    def set_read_only(self, on: bool, lock_wait: float | None = None) -> None:
        """SET GLOBAL read_only; switching it on waits for running writes, at
        most LOCK_WAIT seconds (ProbeError with errno 1205 after that)."""
        if lock_wait is not None:
            self.execute("SET SESSION lock_wait_timeout = %s", (max(1, int(lock_wait)),))
        self.execute(f"SET GLOBAL read_only = {'ON' if on else 'OFF'}")

    def start_sql_thread(self) -> None:
        self.execute("START SLAVE SQL_THREAD")

    def wait_applied(self, position: tuple[str, int], timeout: float) -> int | None:
        """MASTER_POS_WAIT: events waited for, -1 after TIMEOUT, None when the SQL
        thread is not running (or stopped while waiting).  The session's read
        timeout must be longer than TIMEOUT."""
        found = self.rows("SELECT MASTER_POS_WAIT(%s, %s, %s) AS waited",
                          (position[0], position[1], max(0.0, timeout)))
        value = found[0]["waited"] if found else None
        return None if value is None else int(value)

    def writers(self) -> list[int]:
        """Client connections running a statement that is not a read."""
        return [int(row["ID"]) for row in self.rows(
            "SELECT ID, INFO FROM information_schema.PROCESSLIST "
            "WHERE COMMAND = 'Query' AND ID <> CONNECTION_ID() "
            "AND USER NOT IN ('system user', 'event_scheduler')")
            if not str(row["INFO"] or "").lstrip().upper().startswith(("SELECT", "SHOW"))]

    def kill_query(self, thread_id: int) -> None:
        try:
            self.execute("KILL QUERY %s", (thread_id,))
        except ProbeError as err:
            if err.errno != 1094:  # unknown thread: it ended by itself
                raise

    def open_writes(self) -> int:
        """Transactions holding uncommitted changes (which read_only refuses to commit)."""
        return int(self.rows(
            "SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX t "
            "JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
            "WHERE t.trx_rows_modified > 0 AND p.USER <> 'system user'")[0]["n"])

    def flush_tables(self, lock_wait: float) -> None:
        self.execute("SET SESSION lock_wait_timeout = %s", (max(1, int(lock_wait)),))
        self.execute("FLUSH LOCAL TABLES")

    def binlog_position(self) -> tuple[str, int] | None:
        found = self.rows("SHOW MASTER STATUS")
        if not found:
            return None
        return str(found[0]["File"]), int(found[0]["Position"])


def wait_until(deadline: float, check: Any, poll: float = 0.2) -> Any:
    """The first true value of CHECK() before DEADLINE (monotonic), else None."""
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(poll)


def _unpack(err: Exception) -> tuple[int, str]:
    args: tuple[object, ...] = getattr(err, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        return args[0], _first_line(args[1])
    return 0, _first_line(str(err)) or type(err).__name__


def _first_line(value: object) -> str:
    text = str(value or "").strip()
    return text.splitlines()[0][:300] if text else ""


def _int_or_none(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        number: int = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return number


def truthy(value: object) -> bool:
    """A server variable's ON/1 (pymysql gives 1, the text form gives ON)."""
    return str(value).strip().upper() in ("1", "ON", "YES", "TRUE")
