"""ocf:sipha:mysql-mm - MariaDB master/master (CDR and reporting) as a promotable clone.

Each node runs its own MariaDB server (mariadbd, started directly like
ocf:heartbeat:mysql does) that replicates from its peer; the promoted
instance, colocated with the SIP-ACTIVE Asterisk, is the one writable
database and every other instance is read-only.  The operator sets up
master/master once (distinct server_id, log_bin, log_slave_updates,
auto_increment_increment=2 with offsets 1 and 2, a replication account,
CHANGE MASTER TO ... and START SLAVE on both); this agent never changes the
replication setup, it checks it and reports it.

Start runs mariadbd with --read-only, so a server is never writable before
the cluster promotes it.  Note that read_only does not stop the replication
threads, nor accounts holding READ_ONLY ADMIN (root and every GRANT ALL
account; before MariaDB 10.11, and on MySQL, also SUPER): give Asterisk and
the reporting tools an account with only the privileges on their own
databases.  MariaDB 10.11 has no super_read_only.  Stop shuts the server
down cleanly (SIGTERM), and kills it only at the stop deadline.

The monitor connects over the unix socket (query_timeout): not running is
7, not answering is a failure.  SHOW SLAVE STATUS becomes the node
attributes sipha-mysql-RESOURCE-replication (ok, lagging, peer-unreachable,
stopped, broken, unconfigured) and sipha-mysql-RESOURCE-lag (seconds, absent
when unknown), and the promotion score: a caught-up replica gets the most, a
lagging one less, a broken one (SQL thread stopped by an error) very little.
Replication trouble is never a failure of this node, so it never moves the
SIP service: a broken, stopped, unconfigured or lagging replica (and a
server without log_bin or with auto_increment_increment=1) is logged and
published, and the monitor still returns 0 (8 promoted): Pacemaker records
190/191 as a failed operation and would then wait 90 s for the cancellation
of that monitor before promoting or demoting the node.

A lasting bad state (anything but ok) also changes the node attribute
sipha-mysql-RESOURCE-reminder once per reminder_interval, so the SIP-HA
alert reminds of it; the change of state itself alerts at once.

Demote switches read_only on, which waits for running writes
(drain_timeout; those still running after it are ended with KILL QUERY),
flushes the tables, and publishes the binary-log position the old master
stopped at in the node attribute sipha-mysql-RESOURCE-handover.  Promote
first lets the SQL thread apply what the IO thread already received from
the peer (starting it if it was stopped without an error, for at most
catchup_timeout), then, on a planned move or a failback, waits until it has
applied everything up to the position the old master's demote published
(at most handover_timeout), so that no late event of the old master is
applied after the new master's first writes; only then it switches
read_only off.  Every wait ends before the promote timeout; a wait that
runs out is logged as one warning naming both positions, and the promote
goes on: it never refuses because the peer is gone or replication is
broken.  A failover without a clean demote never waits: a node that fails
takes its attributes with it, a promote clears its own, and a position one
promote here already waited for is not waited for again; nor is one the
replica cannot receive any more (its IO thread not connected).

The agent logs in as db_user over the unix socket: root with unix-socket
authentication by default (the agent runs as root), or an account whose
password is the first line of password_file (owned by root, mode 600; the
password is never in the CIB or the logs).  Such an account needs SLAVE
MONITOR, BINLOG MONITOR, REPLICATION SLAVE ADMIN, READ_ONLY ADMIN, RELOAD,
PROCESS and CONNECTION ADMIN.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from ocf_agents.clients.mysql_probe import (
    BROKEN,
    LAGGING,
    LOCK_WAIT_TIMEOUT,
    OK,
    PEER_UNREACHABLE,
    STOPPED,
    UNCONFIGURED,
    ProbeError,
    Replication,
    ServerDown,
    layout_problems,
    reached,
    read_password,
    truthy,
)
from ocf_agents.framework import daemon, promotion, reminder
from ocf_agents.framework.ocf import (
    Agent,
    Config,
    Context,
    Duration,
    GenericError,
    NotConfiguredError,
    NotInstalledError,
    OCFCode,
    OCFError,
    Operation,
    PermError,
    param,
)
from sipha_runtime import processes

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Mapping

    from ocf_agents.clients.mysql_probe import Session
    from sipha_runtime.log import Logger

# Promotion scores by replication state: always positive, so that no state
# of CDR replication can keep the database (and with it SIP) from a node.
SCORES = {OK: 10, PEER_UNREACHABLE: 8, LAGGING: 5, STOPPED: 3, UNCONFIGURED: 2, BROKEN: 1}
LOG_LIMIT = 1 << 20
# What config holds when stop runs without it (never read by stop).
NO_CONFIG = "(not set)"


class MysqlConfig(Config):
    config: str = param(
        shortdesc="my.cnf of this server",
        longdesc="Absolute path of the server's option file, passed as --defaults-file "
                 "(e.g. /etc/mysql/my.cnf): server_id, log_bin, log_slave_updates, "
                 "auto_increment_increment/offset, bind address and port.")
    binary: str = param("/usr/sbin/mariadbd", shortdesc="mariadbd binary",
                        longdesc="Absolute path of the server program.")
    datadir: str = param("/var/lib/mysql", unique=True, shortdesc="Data directory",
                         longdesc="Passed as --datadir; must exist and be initialised "
                                  "(mariadb-install-db) on every node.")
    socket: str = param("/run/mysqld/mysqld.sock", unique=True, shortdesc="Unix socket",
                        longdesc="Passed as --socket; the agent connects through it. Its "
                                 "folder is created (owned by user) when missing.")
    pidfile: str = param("/run/mysqld/mysqld.pid", unique=True, shortdesc="Pid file",
                         longdesc="Passed as --pid-file.")
    user: str = param("mysql", shortdesc="Run the server as",
                      longdesc="System account mariadbd runs as (--user).")
    start_options: str = param(
        "", shortdesc="Extra server options",
        longdesc="Further mariadbd options, split like a shell would (quotes allowed, no "
                 "variables), e.g. '--skip-slave-start'.")
    db_user: str = param(
        "root", shortdesc="Database account of the agent",
        longdesc="Account the agent logs in as through the socket. root: unix-socket "
                 "authentication (the agent runs as root), no password needed.")
    password_file: str = param(
        "", shortdesc="File holding db_user's password",
        longdesc="Absolute path of a file owned by root with mode 600 whose first line is "
                 "db_user's password; empty: no password (unix-socket authentication). "
                 "The password never goes into the CIB or the logs.")
    query_timeout: Duration = param(
        Duration(5), shortdesc="Connection and query deadline",
        longdesc="How long the server may take to accept the agent's connection and "
                 "answer a query before it counts as not answering.")
    max_lag: Duration = param(
        Duration(30), shortdesc="Lag still reported as ok",
        longdesc="A replica more than this far behind its peer (Seconds_Behind_Master) "
                 "is reported lagging: a lower promotion score and degraded.")
    catchup_timeout: Duration = param(
        Duration(30), shortdesc="Relay-log wait on promote",
        longdesc="On promote, wait at most this long for the SQL thread to apply what "
                 "was already received from the peer (and never past the promote "
                 "timeout minus a margin); then promote anyway.")
    handover_timeout: Duration = param(
        Duration(10), shortdesc="Wait for the old master's last write on promote",
        longdesc="On a planned move or a failback, the old master's demote publishes "
                 "the binary-log position its writes stopped at; promote then waits at "
                 "most this long (after the relay-log wait, and never past the promote "
                 "timeout minus a margin) until this replica has applied it, so no late "
                 "event of the old master lands after the new master's first writes. "
                 "When it runs out, one warning names both positions and the promote "
                 "goes on. A failover without a clean demote never waits. 0: no wait.")
    reminder_interval: Duration = param(
        Duration(3600), shortdesc="Reminder while replication is not ok",
        longdesc="While this replica is lagging, broken, stopped, unconfigured or cannot "
                 "reach its peer, the monitor updates the node attribute "
                 "sipha-mysql-RESOURCE-reminder once per this interval, so the SIP-HA "
                 "alert sends a reminder (the change of state itself alerts at once). "
                 "0: no reminders.")
    drain_timeout: Duration = param(
        Duration(10), shortdesc="Running-writes wait on demote",
        longdesc="On demote, switching read_only on waits this long for running writes; "
                 "statements still running then are ended (KILL QUERY) so that the "
                 "demote completes.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, lenient: bool = False,
                 log: Logger | None = None) -> Config:
        """Stop (lenient) without config: stop reads only the pid file, the
        binary and the recorded process group, and a failed stop gets the node
        fenced; the base class refuses a missing required parameter (6)."""
        if lenient and not environ.get("OCF_RESKEY_config"):
            if log:
                log.warning("parameter config is not set; stopping without it")
            environ = {**environ, "OCF_RESKEY_config": NO_CONFIG}
        return super().from_env(environ, lenient=lenient, log=log)


# --------------------------------------------------------------------------
# Paths, state files, credentials


def _log_path(ctx: Context) -> str:
    return ctx.state_file("log")


def attribute_names(ctx: Context) -> tuple[str, str]:
    """The node attributes (replication state, lag) of this resource."""
    return (f"sipha-mysql-{ctx.resource}-replication",
            f"sipha-mysql-{ctx.resource}-lag")


def reminder_attribute(ctx: Context) -> str:
    """Changed once per reminder_interval while the replication state is not ok."""
    return f"sipha-mysql-{ctx.resource}-reminder"


def handover_attribute(ctx: Context) -> str:
    """Where the last demote here left this server's binary log (see Handover)."""
    return f"sipha-mysql-{ctx.resource}-handover"


def password(cfg: MysqlConfig) -> str | None:
    if not cfg.password_file:
        return None
    try:
        return read_password(cfg.password_file)
    except FileNotFoundError:
        raise NotInstalledError(f"password_file {cfg.password_file} not found on this node"
                                ) from None
    except PermissionError:
        raise PermError(f"password_file {cfg.password_file} is not readable") from None
    except (OSError, UnicodeDecodeError) as err:
        raise NotInstalledError(f"password_file {cfg.password_file}: {err}") from None


def session(cfg: MysqlConfig, ctx: Context, read_timeout: float | None = None) -> Session:
    """A connection as db_user; ServerDown/ProbeError when there is none."""
    from ocf_agents.clients.mysql_probe import Session

    limit = max(0.1, min(cfg.query_timeout, ctx.remaining()))
    return Session(cfg.socket, cfg.db_user, password(cfg), connect_timeout=limit,
                   read_timeout=limit if read_timeout is None else read_timeout,
                   program=f"sip-ha {ctx.agent}")


def _denied(err: ProbeError, what: str) -> OCFError:
    """The OCF error for a failed statement: credentials are this node's problem."""
    if err.access_denied:
        return PermError(f"{what}: {err.message} (db_user and password_file)")
    return GenericError(f"{what}: {err.message}")


# --------------------------------------------------------------------------
# Validation


def validate(cfg: MysqlConfig, ctx: Context) -> None:
    paths = {"binary": cfg.binary, "config": cfg.config, "datadir": cfg.datadir,
             "socket": cfg.socket, "pidfile": cfg.pidfile}
    if cfg.password_file:
        paths["password_file"] = cfg.password_file
    for name, path in paths.items():
        if not os.path.isabs(path):
            raise NotConfiguredError(f"{name} {path!r} must be an absolute path")
    if not cfg.db_user.strip():
        raise NotConfiguredError("db_user must not be empty")
    _start_options(cfg)
    if not os.path.isfile(cfg.binary) or not os.access(cfg.binary, os.X_OK):
        raise NotInstalledError(f"{cfg.binary} is not installed on this node")
    if not os.path.isfile(cfg.config):
        raise NotInstalledError(f"config {cfg.config} not found on this node")
    if not os.path.isdir(cfg.datadir):
        raise NotInstalledError(f"datadir {cfg.datadir} does not exist on this node")
    if not os.path.isdir(os.path.join(cfg.datadir, "mysql")):
        raise NotInstalledError(f"datadir {cfg.datadir} is not initialised on this node "
                                "(run mariadb-install-db)")
    daemon.require_account(cfg.user, "")
    if cfg.password_file:
        daemon.require_secret_file("password_file", cfg.password_file)


def _start_options(cfg: MysqlConfig) -> list[str]:
    import shlex

    try:
        return shlex.split(cfg.start_options)
    except ValueError as err:
        raise NotConfiguredError(f"start_options cannot be split: {err}") from None


# --------------------------------------------------------------------------
# Reporting: node attributes and the promotion score


def report(cfg: MysqlConfig, ctx: Context, repl: Replication,
           problems: list[str] | None = None) -> None:
    """Publish the replication state, its reminder and its score; log when the
    state changes."""
    state_name, lag_name = attribute_names(ctx)
    before = promotion.publish(ctx, {state_name: repl.state,
                                     lag_name: None if repl.lag is None else str(repl.lag),
                                     reminder_attribute(ctx): _reminder(cfg, ctx, repl)})
    if before.get(state_name) != repl.state:
        text = f"replication {repl.describe()}"
        if repl.state in (OK, PEER_UNREACHABLE) and not problems:
            ctx.log.info(text)
        else:
            ctx.log.warning("; ".join([text, *(problems or [])]))
    promotion.set_score(ctx, SCORES[repl.state])


def _reminder(cfg: MysqlConfig, ctx: Context, repl: Replication) -> str | None:
    """The reminder attribute's value after seeing REPL (None: nothing to remind of)."""
    path = ctx.state_file("reminders")
    before = reminder.load(path)
    found = reminder.advance(before.get("replication"), repl.state, repl.state == OK,
                             time.time(), cfg.reminder_interval)
    after = {"replication": found} if found else {}
    if after != before:
        reminder.save(path, after)
    return found.value() if found else None


def withdraw(ctx: Context) -> None:
    """No score and no replication attributes: the server is not usable here.
    The handover position stays: a replica may still apply it from its relay log."""
    promotion.set_score(ctx, None)
    promotion.publish(ctx, dict.fromkeys((*attribute_names(ctx), reminder_attribute(ctx))))
    daemon.remove(ctx.state_file("reminders"))


# --------------------------------------------------------------------------
# Actions


def monitor(cfg: MysqlConfig, ctx: Context) -> OCFCode:
    promoted = promotion.is_promoted(ctx)
    failed = OCFCode.FAILED_PROMOTED if promoted else OCFCode.ERR_GENERIC
    pid = daemon.live_pid(ctx, cfg.pidfile, cfg.binary, failed=failed,
                          died="mariadbd died without being stopped",
                          withdraw=lambda: withdraw(ctx))
    if pid is None:
        return OCFCode.NOT_RUNNING
    if processes.is_stopped(pid):
        withdraw(ctx)
        raise GenericError(f"mariadbd (pid {pid}) is stopped (SIGSTOP?)", failed)
    try:
        with session(cfg, ctx) as db:
            variables = db.variables()
            repl = db.replication(cfg.max_lag)
    except ServerDown as err:
        withdraw(ctx)
        raise GenericError(f"mariadbd (pid {pid}) does not answer: {err.message}",
                           failed) from None
    except ProbeError as err:
        withdraw(ctx)
        error = _denied(err, "monitor")
        raise (error if isinstance(error, PermError) else
               GenericError(error.reason, failed)) from None
    _trim_log(ctx)
    problems = layout_problems(variables)
    report(cfg, ctx, repl, problems)
    writable = not truthy(variables["read_only"])
    if promoted and not writable:
        raise GenericError("read_only is ON on the promoted node (set by hand, or mariadbd "
                           "restarted outside the cluster)", OCFCode.FAILED_PROMOTED)
    if writable and not promoted:
        # The cluster sees a promoted instance it did not ask for and demotes it.
        ctx.log.warning("read_only is OFF although the cluster did not promote this "
                        "server: reporting it as promoted")
    # Degraded replication is published (report), never returned as 190/191:
    # Pacemaker records those as failed operations and then waits 90 s for
    # the cancellation of this monitor before a promote or demote.
    return OCFCode.RUNNING_PROMOTED if writable else OCFCode.SUCCESS


def start(cfg: MysqlConfig, ctx: Context) -> OCFCode:
    pid = processes.live_pid(cfg.pidfile, cfg.binary)
    proc = None
    if pid is None:
        proc = _spawn(cfg, ctx)
    else:
        ctx.log.info(f"mariadbd already running as pid {pid}")
        daemon.record_group(ctx, processes.group_of(pid))
    last = "no answer on the socket yet"
    while ctx.remaining() > 0:
        if proc is not None and proc.poll() is not None:
            daemon.forget(ctx)
            raise GenericError(f"mariadbd exited with status {proc.returncode}"
                               f"{_last_words(ctx)}")
        try:
            with session(cfg, ctx) as db:
                db.set_read_only(True)
                problems = layout_problems(db.variables())
                repl = db.replication(cfg.max_lag)
        except ServerDown as err:
            last = err.message
        except ProbeError as err:
            if err.access_denied:
                raise _denied(err, "started, but") from None
            last = err.message
        else:
            pid = processes.live_pid(cfg.pidfile, cfg.binary)
            if pid is not None:
                daemon.remove(promotion.promoted_marker(ctx))
                report(cfg, ctx, repl, problems)
                ctx.log.info(f"running as pid {pid}, read-only, replication {repl.describe()}")
                return OCFCode.SUCCESS
            last = f"pid file {cfg.pidfile} not written"
        time.sleep(0.2)
    raise GenericError(f"mariadbd did not answer before the start timeout: {last}")


def _spawn(cfg: MysqlConfig, ctx: Context) -> subprocess.Popen[bytes]:
    import subprocess

    daemon.stop_leftovers(ctx, cfg.binary)
    for folder in {os.path.dirname(cfg.socket), os.path.dirname(cfg.pidfile)}:
        daemon.prepare_dir(folder, cfg.user, "")
    daemon.remove(cfg.pidfile)
    argv = [cfg.binary, f"--defaults-file={cfg.config}", f"--datadir={cfg.datadir}",
            f"--socket={cfg.socket}", f"--pid-file={cfg.pidfile}", f"--user={cfg.user}",
            "--read-only=ON", *_start_options(cfg)]
    env = daemon.environment(ctx.environ)
    path = _log_path(ctx)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
    ctx.log.info(f"starting: {' '.join(argv)}")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=env, start_new_session=True, close_fds=True)
    except OSError as err:
        raise NotInstalledError(f"cannot run {cfg.binary}: {err.strerror}") from None
    finally:
        os.close(log)
    daemon.record_group(ctx, proc.pid)
    return proc


def _last_words(ctx: Context) -> str:
    """': <last line mariadbd wrote to stderr>' or ''."""
    try:
        with open(_log_path(ctx), "rb") as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - 4096))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    errors = [line for line in lines if "[ERROR]" in line]
    return f": {(errors or lines)[-1][:200]}" if lines else ""


def _trim_log(ctx: Context) -> None:
    """Keep mariadbd's stderr (opened for appending) bounded when log_error is unset."""
    path = _log_path(ctx)
    try:
        if os.stat(path).st_size > LOG_LIMIT:
            os.truncate(path, 0)
    except OSError:
        pass


def stop(cfg: MysqlConfig, ctx: Context) -> OCFCode:
    pid = processes.live_pid(cfg.pidfile, cfg.binary)
    graceful = daemon.graceful_deadline(ctx)
    if pid is not None:
        ctx.log.info(f"stopping pid {pid} (SIGTERM: clean shutdown)")
        if not daemon.terminate(pid, cfg.binary, graceful):
            daemon.kill(ctx, pid, cfg.binary)
    daemon.stop_leftovers(ctx, cfg.binary, graceful)
    withdraw(ctx)
    daemon.forget(ctx, promotion.promoted_marker(ctx))
    return OCFCode.SUCCESS


def promote(cfg: MysqlConfig, ctx: Context) -> OCFCode:
    pid = processes.live_pid(cfg.pidfile, cfg.binary)
    if pid is None:
        raise GenericError("cannot promote: mariadbd is not running")
    # Keep enough of the timeout to connect and switch read_only off afterwards.
    margin = min(float(cfg.query_timeout), 5.0) + 1.0

    def budget(limit: float) -> float:
        return max(0.0, min(float(limit), ctx.remaining() - margin))

    # 0 means no wait: not even a look at what the old master published.
    handover = _handover(ctx) if cfg.handover_timeout > 0 else None
    longest = max(cfg.catchup_timeout, cfg.handover_timeout if handover else 0)
    try:
        with session(cfg, ctx, read_timeout=max(0.1, min(
                longest + cfg.query_timeout, ctx.remaining()))) as db:
            repl = db.replication(cfg.max_lag)
            try:
                _catch_up(db, repl, budget(cfg.catchup_timeout), ctx)
                if handover:
                    _await_handover(db, handover, budget(cfg.handover_timeout), cfg, ctx)
            except ServerDown:
                raise
            except ProbeError as err:  # e.g. no REPLICATION SLAVE ADMIN: promote anyway
                ctx.log.warning(f"relay log not applied: {err.message}; promoting anyway")
            db.set_read_only(False)
            repl = db.replication(cfg.max_lag)
    except ServerDown as err:
        raise GenericError(f"cannot promote: mariadbd does not answer: {err.message}"
                           ) from None
    except ProbeError as err:
        raise _denied(err, "promote") from None
    os.makedirs(ctx.state_dir, exist_ok=True)
    with open(promotion.promoted_marker(ctx), "w", encoding="ascii") as handle:
        handle.write(f"{time.time():.0f}\n")
    # Writable now: where an earlier demote here left the binary log is no
    # longer where this server's writes stop.
    promotion.publish(ctx, {handover_attribute(ctx): None})
    report(cfg, ctx, repl)
    ctx.log.info(f"promoted: read_only is OFF, replication {repl.describe()}")
    return OCFCode.SUCCESS


def _catch_up(db: Session, repl: Replication, budget: float, ctx: Context) -> None:
    """Apply the relay log (what the peer already sent) before taking writes."""
    if repl.state == UNCONFIGURED:
        ctx.log.warning("promoting without replication from the peer configured")
        return
    if repl.state == BROKEN:
        ctx.log.warning(f"promoting although replication is {repl.describe()}; what the "
                        "peer wrote after that is missing here")
        return
    if repl.sql != "Yes":
        ctx.log.info("starting the SQL thread (stopped without an error) to apply the "
                     "relay log")
        db.start_sql_thread()
    if repl.read_pos is None:
        return
    if budget <= 0:
        ctx.log.warning("no time left to wait for the relay log; promoting anyway")
        return
    started = time.monotonic()
    waited = db.wait_applied(repl.read_pos, budget)
    took = time.monotonic() - started
    where = _where(repl.read_pos)
    if waited is None:
        ctx.log.warning(f"the SQL thread stopped before applying the relay log up to {where}"
                        "; promoting anyway")
    elif waited < 0:
        ctx.log.warning(f"relay log not applied up to {where} after {took:.1f}s; "
                        "promoting anyway (the rest is applied later)")
    else:
        ctx.log.info(f"relay log applied up to {where} ({took:.1f}s)")


# --------------------------------------------------------------------------
# The handover: the old master's last write before the new master's first


@dataclass(frozen=True)
class Handover:
    """What a demote published: where the old master's binary log stood once
    it was read-only (VALUE "FILE:POS at TIME", TIME telling one demote from
    the next), on NODE."""

    node: str
    value: str
    position: tuple[str, int]
    at: str

    @classmethod
    def parse(cls, node: str, value: str) -> Handover | None:
        where, sep, at = value.rpartition(" at ")
        name, colon, offset = where.rpartition(":")
        if not (sep and colon and name and offset.isdigit()):
            return None
        return cls(node, value, (name, int(offset)), at)

    def describe(self) -> str:
        return f"{_where(self.position)} (demoted on {self.node} at {self.at})"


def _where(position: tuple[str, int] | None) -> str:
    return f"{position[0]}:{position[1]}" if position else "nothing"


def published_handovers(ctx: Context) -> dict[str, str]:
    """Every node's handover attribute, by node (empty when attrd cannot say)."""
    return ctx.attrs.everywhere(handover_attribute(ctx))


def _handover(ctx: Context) -> Handover | None:
    """The position a peer's demote published for this promote to wait for:
    None when there is none (a failover: a failed node's attributes go with
    it, and a demote that did not run published nothing) or when a promote
    here already waited for it (an earlier handover's)."""
    found = [h for node, value in published_handovers(ctx).items()
             if node != ctx.node and (h := Handover.parse(node, value))]
    if not found:
        return None
    newest = max(found, key=lambda h: h.at)
    try:
        with open(ctx.state_file("handover"), encoding="utf-8") as handle:
            seen = handle.read().strip()
    except FileNotFoundError:
        seen = ""
    if newest.value == seen:
        ctx.log.info(f"not waiting for binlog position {newest.describe()}: an earlier "
                     "promote here already waited for it")
        return None
    return newest


def _await_handover(db: Session, handover: Handover, budget: float, cfg: MysqlConfig,
                    ctx: Context) -> None:
    """Wait (at most BUDGET) until the SQL thread applied HANDOVER's position;
    one log line says how that went, none of it refuses the promote."""
    os.makedirs(ctx.state_dir, exist_ok=True)
    with open(ctx.state_file("handover"), "w", encoding="utf-8") as handle:
        handle.write(f"{handover.value}\n")
    repl = db.replication(cfg.max_lag)
    target, final = handover.position, f"the old master's final binlog position " \
                                       f"{handover.describe()}"
    if repl.state in (BROKEN, UNCONFIGURED):
        ctx.log.warning(f"not waiting for {final}: replication is {repl.state}")
        return
    if reached(repl.exec_pos, target):
        ctx.log.info(f"{final} is applied here")
        return
    if repl.io != "Yes" and not reached(repl.read_pos, target):
        ctx.log.warning(f"not waiting for {final}: the IO thread is not connected "
                        f"({repl.describe()}) and received only up to "
                        f"{_where(repl.read_pos)}; promoting anyway")
        return
    if budget <= 0:
        ctx.log.warning(f"no time left to wait for {final} (applied up to "
                        f"{_where(repl.exec_pos)}); promoting anyway")
        return
    started = time.monotonic()
    waited = db.wait_applied(target, budget)
    took = time.monotonic() - started
    if waited is not None and waited >= 0:
        ctx.log.info(f"{final} applied ({took:.1f}s)")
        return
    now = db.replication(cfg.max_lag)
    why = ("the SQL thread stopped" if waited is None else
           f"handover_timeout: not reached after {took:.1f}s")
    ctx.log.warning(f"{final} not applied here ({why}): applied up to "
                    f"{_where(now.exec_pos)}, received up to {_where(now.read_pos)}; "
                    "promoting anyway, the rest is applied after the new writes")


def demote(cfg: MysqlConfig, ctx: Context) -> OCFCode:
    pid = processes.live_pid(cfg.pidfile, cfg.binary)
    if pid is None:
        # Crashed or stopped: nothing can be written here any more.
        daemon.remove(promotion.promoted_marker(ctx))
        return OCFCode.NOT_RUNNING
    margin = min(float(cfg.query_timeout), 5.0) + 1.0
    wait = max(1.0, min(float(cfg.drain_timeout), ctx.remaining() - margin))
    try:
        with session(cfg, ctx, read_timeout=max(0.1, min(wait + cfg.query_timeout,
                                                          ctx.remaining()))) as db:
            _read_only(db, wait, margin, ctx)
            position, note = _after_read_only(db, margin, ctx)
    except ServerDown as err:
        raise GenericError(f"cannot demote: mariadbd does not answer: {err.message}"
                           ) from None
    except ProbeError as err:
        raise _denied(err, "demote") from None
    daemon.remove(promotion.promoted_marker(ctx))
    where = ""
    if position is not None:
        # For the new master's promote: wait until this is applied there.
        stamp = time.time()
        at = f"{reminder.utc(stamp)[:-1]}.{int(stamp * 1e6) % 1000000:06d}Z"
        promotion.publish(ctx, {handover_attribute(ctx): f"{_where(position)} at {at}"})
        where = f" at binlog {_where(position)}"
    ctx.log.info(f"demoted: read-only{where}{note}")
    return OCFCode.SUCCESS


def _after_read_only(db: Session, margin: float, ctx: Context,
                     ) -> tuple[tuple[str, int] | None, str]:
    """FLUSH TABLES, and where the writes stopped: none of it fails the demote."""
    try:
        db.flush_tables(max(1.0, min(5.0, ctx.remaining() - margin)))
    except ProbeError as err:
        ctx.log.warning(f"FLUSH TABLES: {err.message}")
    try:
        position = db.binlog_position()
        pending = db.open_writes()
    except ProbeError as err:
        ctx.log.warning(f"binlog position not reported: {err.message}")
        return None, ""
    note = ""
    if pending:
        note = (f"; {pending} open transaction(s) with uncommitted writes can no "
                "longer commit")
    return position, note


def _read_only(db: Session, wait: float, margin: float, ctx: Context) -> None:
    try:
        db.set_read_only(True, wait)
        return
    except ProbeError as err:
        if err.errno != LOCK_WAIT_TIMEOUT:
            raise
    writers = db.writers()
    ctx.log.warning(f"writes still running after {wait:.0f}s; ending "
                    f"{len(writers)} statement(s) (KILL QUERY)")
    for thread in writers:
        db.kill_query(thread)
    try:
        db.set_read_only(True, max(1.0, min(5.0, ctx.remaining() - margin)))
    except ProbeError as err:
        raise GenericError(f"cannot demote: read_only not set: {err.message}") from None


AGENT = Agent(
    "mysql-mm",
    version="1.0",
    shortdesc="MariaDB master/master as a promotable clone (writable on the promoted node)",
    longdesc=" ".join(__doc__.split("\n\n", 1)[1].split()),
    config=MysqlConfig,
    handlers={"start": start, "stop": stop, "monitor": monitor, "promote": promote,
              "demote": demote},
    operations=(
        Operation("start", timeout=120),
        Operation("stop", timeout=120),
        Operation("promote", timeout=60),
        Operation("demote", timeout=60),
        Operation("monitor", timeout=30, interval=10, role="Unpromoted"),
        Operation("monitor", timeout=30, interval=9, role="Promoted"),
    ),
    validate=validate,
)


if __name__ == "__main__":
    AGENT.main()
