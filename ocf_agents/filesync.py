"""ocf:sipha:filesync - the file-sync watcher on every node; the promoted one pushes.

A promotable clone: every node runs "sip-ha-sync watch" (supervised by
this agent, in its own session), and the promoted instance - colocated with
the SIP-ACTIVE role - holds the sync role "active", so only it pushes its
changes to the peers.  Promote writes the role (the watcher then reconciles
whole folders and pushes every change after that); demote first pushes
whatever is still pending (one full resync, bounded by flush_timeout; an
unreachable peer is a warning, not a failed demote), then writes "standby".

The monitor checks that the watcher process is alive, not stopped, and still
has an inotify watch on every configured folder (a folder removed or replaced
under it is no longer watched: a failure, a restart places the watches
again).  It reports 8 while the role file says "active" and publishes a
promotion score while healthy, withdrawn on any failure.  On the active node
it also publishes how the pushes to each peer are going (sync_helper.health)
as node attributes; a failing or conflicting sync is never a failed or
degraded monitor result, only those attributes (and the alerts they carry).
"""

from __future__ import annotations

import os
import signal
import sys
import time

from ocf_agents.framework import daemon, metrics, promotion, reminder
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
from sipha_runtime.run import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Mapping

    from sync_helper.config import SyncConfig
    from sync_helper.health import PeerHealth

# Equal on every healthy node: the colocation with the service address decides where.
HEALTHY_SCORE = 10
# sync_helper.role's words, repeated so that a monitor does not import it.
ACTIVE, STANDBY = "active", "standby"
# Inherited by the watcher and everything it runs (rsync, ssh), which live in
# sessions of their own: how a stop finds them after the watcher died.  Its
# value is random, kept in the root-only marker (see tagged_processes).
TAG_VARIABLE = "SIP_HA_FILESYNC_TAG"
LOG_LIMIT = 1 << 20


class FileSyncConfig(Config):
    config: str = param(
        "/etc/sip-ha/sync.toml", unique=True, shortdesc="sync_helper configuration",
        longdesc="Absolute path of the sync configuration (TOML): watched folders, "
                 "excludes, peers, ssh settings and the role file this agent writes. "
                 "Missing on this node: not installed (5); present but invalid: not "
                 "configured (6), with the loader's reason.")
    program: str = param(
        "", shortdesc="sip-ha-sync command",
        longdesc="Command that runs sip-ha-sync, split like a shell would (quotes "
                 "allowed, no variables); the agent appends '-c CONFIG watch'. The first "
                 "word must be an absolute path. Empty: the sip-ha-sync installed next "
                 "to the Python that runs this agent, else that Python with "
                 "'-m sync_helper.cli'.")
    flush_timeout: Duration = param(
        Duration(30), shortdesc="Final push on demote",
        longdesc="On demote, before giving up the active role, push every difference "
                 "to the peers (one full resync) for at most this long; a peer that "
                 "cannot be reached is logged as a warning and does not fail the "
                 "demote. 0: no final push. Keep it below the demote timeout.")
    reminder_interval: Duration = param(
        Duration(3600), shortdesc="Reminder while a sync fails",
        longdesc="While the pushes to a peer fail, conflict or lag behind, the active "
                 "node's monitor updates the node attribute "
                 "sipha-RESOURCE-PEER-reminder once per this interval, so the SIP-HA "
                 "alert sends a reminder (the change of state itself alerts at once). "
                 "0: no reminders.")


# --------------------------------------------------------------------------
# The running watcher, as start recorded it


def marker(ctx: Context) -> str:
    return ctx.state_file("running")


class Watcher:
    """What start recorded in the marker, one item per line: the pid, its
    start time and the tag of its processes, the program, the role file and
    the watched folders (the first line also names the sync's health record).
    The marker exists from start to stop: with it, a missing watcher is a
    crash.  Only root reads it (the tag is in it)."""

    def __init__(self, pid: int, started: int, exe: str, role_file: str,
                 folders: tuple[str, ...], tag: str = "", health: str = "") -> None:
        self.pid = pid
        self.started = started
        self.exe = exe
        self.role_file = role_file
        self.folders = folders
        self.tag = tag
        self.health = health

    @classmethod
    def load(cls, ctx: Context) -> Watcher | None:
        try:
            with open(marker(ctx), encoding="utf-8") as handle:
                lines = handle.read().splitlines()
            pid, started, *rest = lines[0].split()
            tag, health = [*rest, "", ""][:2]
            tag = "" if tag == "-" else tag
            return cls(int(pid), int(started), lines[1], lines[2], tuple(lines[3:]), tag,
                       health)
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def save(self, ctx: Context) -> None:
        path = marker(ctx)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        os.fchmod(fd, 0o600)  # a marker an older version wrote was readable by all
        with open(fd, "w", encoding="utf-8") as handle:
            first = f"{self.pid} {self.started} {self.tag or '-'} {self.health}".rstrip()
            handle.write("\n".join([first, self.exe,
                                    self.role_file, *self.folders]) + "\n")

    def alive(self) -> bool:
        return processes.is_alive(self.pid) and processes.start_time(self.pid) == self.started

    def unwatched(self) -> list[str]:
        """Configured folders without an inotify watch in the watcher.

        Matched by inode only: on btrfs, stat() reports a subvolume's own
        device, not the superblock's that /proc/PID/fdinfo shows."""
        watched: set[int] = set()
        fd_dir = f"/proc/{self.pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            return list(self.folders)
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") != "anon_inode:inotify":
                    continue
                with open(f"/proc/{self.pid}/fdinfo/{fd}", encoding="ascii") as handle:
                    info = handle.read()
            except OSError:
                continue
            for line in info.splitlines():
                if line.startswith("inotify "):
                    words = dict(w.split(":", 1) for w in line.split()[1:] if ":" in w)
                    watched.add(int(words.get("ino", "0"), 16))
        missing = []
        for folder in self.folders:
            try:
                inode = os.stat(folder).st_ino
            except OSError:
                inode = -1
            if inode not in watched:
                missing.append(folder)
        return missing

    def check(self, ctx: Context) -> None:
        """GenericError with the reason unless the watcher is alive and watching."""
        if not self.alive():
            raise GenericError(f"sip-ha-sync watch (pid {self.pid}) died without being "
                               f"stopped{_last_words(ctx)}")
        if processes.is_stopped(self.pid):
            raise GenericError(f"sip-ha-sync watch (pid {self.pid}) is stopped (SIGSTOP?)")
        missing = self.unwatched()
        if missing:
            raise GenericError(f"sip-ha-sync watch (pid {self.pid}) no longer watches "
                               f"{', '.join(missing)} (removed or replaced?)")


def _log_path(ctx: Context) -> str:
    return ctx.state_file("log")


def _last_words(ctx: Context) -> str:
    """': <last line the watcher wrote>' or ''."""
    try:
        with open(_log_path(ctx), "rb") as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - 4096))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return f": {lines[-1][:200]}" if lines else ""


def _trim_log(ctx: Context) -> None:
    """Keep the watcher's own output (opened for appending) bounded."""
    path = _log_path(ctx)
    try:
        if os.stat(path).st_size > LOG_LIMIT:
            os.truncate(path, 0)
    except OSError:
        pass


# --------------------------------------------------------------------------
# The role file, the program and the configuration


def read_role(path: str) -> str:
    """What sync_helper.role.RoleFile reads: anything but "active" is standby."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(64).strip().lower()
    except (OSError, UnicodeDecodeError):
        return STANDBY
    return ACTIVE if text == ACTIVE else STANDBY


def write_role(path: str, role: str) -> None:
    from pathlib import Path

    from sync_helper.role import RoleFile

    try:
        RoleFile(Path(path)).set(role)
    except OSError as err:
        raise GenericError(f"cannot write the sync role to {path}: {err.strerror}") from None


def program_argv(cfg: FileSyncConfig) -> list[str]:
    if cfg.program.strip():
        import shlex

        try:
            argv = shlex.split(cfg.program)
        except ValueError as err:
            raise NotConfiguredError(f"parameter program cannot be split: {err}") from None
        if not os.path.isabs(argv[0]):
            raise NotConfiguredError(f"program {argv[0]!r} must be an absolute path")
        return argv
    beside = os.path.join(os.path.dirname(sys.executable), "sip-ha-sync")
    if os.access(beside, os.X_OK):
        return [beside]
    return [sys.executable, "-I", "-m", "sync_helper.cli"]


def load_sync_config(cfg: FileSyncConfig) -> SyncConfig:
    """The configuration, or the OCF error its problem deserves."""
    from sync_helper.config import load_config
    from sync_helper.errors import SyncError

    if not os.path.isabs(cfg.config):
        raise NotConfiguredError(f"config {cfg.config!r} must be an absolute path")
    if not os.path.isfile(cfg.config):
        raise NotInstalledError(f"configuration {cfg.config} not found on this node")
    if not os.access(cfg.config, os.R_OK):
        raise PermError(f"configuration {cfg.config} is not readable")
    try:
        return load_config(cfg.config)
    except SyncError as err:
        raise NotConfiguredError(err.reason) from None


def health_file(config: SyncConfig) -> str:
    from sync_helper.health import HealthFile

    return str(HealthFile.of(config.state_dir).path)


def _require_program(path: str, what: str) -> None:
    if not os.path.isabs(path):
        raise NotConfiguredError(f"{what} {path!r} must be an absolute path")
    if not os.path.isfile(path):
        raise NotInstalledError(f"{what} {path} is not installed on this node")
    if not os.access(path, os.X_OK):
        raise NotInstalledError(f"{what} {path} is not executable")


def validate(cfg: FileSyncConfig, ctx: Context) -> None:
    from sync_helper.errors import SyncError

    _require_program(program_argv(cfg)[0], "program")
    config = load_sync_config(cfg)
    try:
        config.check_folders()
    except SyncError as err:
        raise NotInstalledError(f"{err.reason} on this node") from None
    _require_program(config.rsync, "rsync")
    _require_program(config.ssh.ssh, "ssh")
    key = config.ssh.identity_file
    if key and not os.access(key, os.R_OK):
        raise NotInstalledError(f"ssh identity file {key} is missing or not readable")


# --------------------------------------------------------------------------
# Promotion score


# --------------------------------------------------------------------------
# Sync health as node attributes (on the node that pushes, one set per peer)

# The attribute names' last words, after sipha-RESOURCE-PEER-.
HEALTH_WORDS = ("sync", "pushed", "reconciled", "pending", "conflicts", "error", "reminder",
                "kept", "kept-names", metrics.SYNC_LAG_WORD)
# how many of the peer's never-synced files kept-names lists
KEPT_LISTED = 10


def health_attribute(resource: str, peer: str, word: str) -> str:
    """E.g. sipha-pbx-filesync-node2-sync: the state of the pushes to node2."""
    return f"sipha-{resource}-{peer}-{word}"


def health_values(resource: str, peers: Mapping[str, PeerHealth],
                  reminders: Mapping[str, reminder.Reminder],
                  now: float) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for peer, health in peers.items():
        def name(word: str, peer: str = peer) -> str:
            return health_attribute(resource, peer, word)
        found = reminders.get(peer)
        values.update({
            name("sync"): health.state,
            name("pushed"): None if health.last_ok is None else reminder.utc(health.last_ok),
            name("reconciled"): (None if health.reconciled is None
                                 else reminder.utc(health.reconciled)),
            name("pending"): str(len(health.pending)),
            name("conflicts"): str(len(health.conflicts)),
            name("error"): health.error[:200] or None,
            name("reminder"): found.value() if found else None,
            name("kept"): str(len(health.kept)),
            name("kept-names"): "; ".join(health.kept[:KEPT_LISTED])[:900] or None,
            name(metrics.SYNC_LAG_WORD): metrics.lag_seconds(health.healthy, health.last_ok, now)})
    return values


def read_health(watcher: Watcher) -> dict[str, PeerHealth]:
    from sync_helper.health import read

    return read(watcher.health) if watcher.health else {}


def publish_health(cfg: FileSyncConfig, ctx: Context, peers: Mapping[str, PeerHealth]) -> None:
    """PEERS' health (from the active node's record; none elsewhere, as this
    node pushes to nobody) as attributes, with a log line per change and the
    reminders; attributes of peers not in PEERS are removed."""
    resource = ctx.resource
    prefix = f"sipha-{resource}-"
    published = promotion.publish(ctx, {})
    reminders_path = ctx.state_file("reminders")
    before = reminder.load(reminders_path)
    now = time.time()
    reminders = {}
    for peer, health in peers.items():
        found = reminder.advance(before.get(peer), health.state, health.healthy, now,
                                 cfg.reminder_interval)
        if found is not None:
            reminders[peer] = found
    if reminders != before:
        reminder.save(reminders_path, reminders)
    values: dict[str, str | None] = {
        name: None for name in published
        if name.startswith(prefix) and name.endswith(tuple(f"-{w}" for w in HEALTH_WORDS))}
    values.update(health_values(resource, peers, reminders, now))
    metrics.publish(ctx, values)
    for peer, health in peers.items():
        state = health.state
        if published.get(health_attribute(resource, peer, "sync")) == state:
            continue
        text = f"sync to {peer}: {state}"
        if health.healthy:
            ctx.log.info(text)
        else:
            detail = health.error or (f"{len(health.conflicts)} conflict(s), e.g. "
                                      f"{health.conflicts[0]}" if health.conflicts else
                                      f"{len(health.pending)} change(s) not delivered, "
                                      "no full comparison since")
            ctx.log.warning(f"{text}: {detail}")


# --------------------------------------------------------------------------
# Leftovers: whatever carries the watcher's tag


def new_tag() -> str:
    return os.urandom(16).hex()


def _ours(pid: int) -> bool:
    """Whether every uid of ``pid`` (real, effective, saved, file system) is
    this agent's (root): a user's setuid program is not ours either."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            uids = next(line for line in handle if line.startswith("Uid:")).split()[1:]
    except (OSError, StopIteration):
        return False
    return bool(uids) and all(uid == str(os.geteuid()) for uid in uids)


def tagged_processes(tag: str) -> list[int]:
    """Live processes started with ``TAG_VARIABLE=tag`` (the watcher, its rsync
    and ssh children, even after they were orphaned).

    A stop that fails gets the node fenced, and stop ends these, so no other
    user may make one count: the tag is random and only root can read it (the
    marker, the watcher's environment), and a process of another user is
    never counted, whatever its environment says."""
    if not tag:
        return []
    wanted = f"{TAG_VARIABLE}={tag}".encode()
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me or not _ours(int(entry)):
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue
        if wanted in environ.split(b"\0") and processes.is_alive(int(entry)):
            found.append(int(entry))
    return found


def stop_tagged(ctx: Context, tag: str, graceful: float | None = None) -> None:
    """SIGTERM (when there is time for it), then SIGKILL, every tagged process."""
    left = tagged_processes(tag)
    if not left:
        return
    if graceful is not None:
        for pid in left:
            processes.signal_pid(pid, signal.SIGTERM)
        limit = min(graceful, time.monotonic() + 2.0)
        while (left := tagged_processes(tag)) and time.monotonic() < limit:
            time.sleep(0.05)
    if left:
        ctx.log.warning(f"killing leftover sync processes {', '.join(map(str, left))}")
        for pid in left:
            processes.signal_pid(pid, signal.SIGKILL)
        while tagged_processes(tag):
            if time.monotonic() >= ctx.deadline:
                raise GenericError(f"leftover sync processes survived SIGKILL: {left}")
            time.sleep(0.05)


def terminate(ctx: Context, watcher: Watcher, until: float) -> bool:
    """SIGTERM the watcher (each second) and, as they appear, the rsync and
    ssh it runs: the watcher leaves its loop only after the push in hand,
    which goes on to the next folder and peer when one transfer is ended.
    (Demote already pushed what the peers needed.)  True once it is gone."""
    tag, next_term = watcher.tag, 0.0
    processes.signal_pid(watcher.pid, signal.SIGCONT)
    while time.monotonic() < until:
        if not watcher.alive():
            return True
        if time.monotonic() >= next_term:
            processes.signal_pid(watcher.pid, signal.SIGTERM)
            next_term = time.monotonic() + 1.0
        for pid in tagged_processes(tag):
            if pid != watcher.pid:
                processes.signal_pid(pid, signal.SIGTERM)
        time.sleep(0.1)
    return not watcher.alive()


def _wait_quiet(ctx: Context, watcher: Watcher, until: float) -> None:
    """Let a push the watcher began before it saw "standby" finish: no rsync
    or ssh of ours for a second (bounded by ``until``)."""
    tag, quiet_since = watcher.tag, time.monotonic()
    while time.monotonic() < until:
        if [pid for pid in tagged_processes(tag) if pid != watcher.pid]:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= 1.0:
            return
        time.sleep(0.1)


# --------------------------------------------------------------------------
# Actions


def monitor(cfg: FileSyncConfig, ctx: Context) -> OCFCode:
    watcher = Watcher.load(ctx)
    if watcher is None:
        return OCFCode.NOT_RUNNING
    active = read_role(watcher.role_file) == ACTIVE
    try:
        watcher.check(ctx)
    except (OCFError, CommandError) as err:
        promotion.set_score(ctx, None)
        raise GenericError(err.reason,
                           OCFCode.FAILED_PROMOTED if active else OCFCode.ERR_GENERIC) from None
    _trim_log(ctx)
    promotion.set_score(ctx, HEALTHY_SCORE)
    # Never 190/191 for a degraded sync: Pacemaker records those as failed
    # operations and, cancelling such a monitor for a promote or demote, waits
    # the operation timeout plus cluster-delay for a confirmation that does
    # not come (seen stalling failovers for 90 s).  The attributes say it.
    publish_health(cfg, ctx, read_health(watcher) if active else {})
    return OCFCode.RUNNING_PROMOTED if active else OCFCode.SUCCESS


def start(cfg: FileSyncConfig, ctx: Context) -> OCFCode:
    watcher = Watcher.load(ctx)
    if watcher is not None and watcher.alive():
        ctx.log.info(f"already running as pid {watcher.pid}")
        return OCFCode.SUCCESS
    if watcher is not None:
        stop_tagged(ctx, watcher.tag)
    config = load_sync_config(cfg)
    role_file = str(config.role_file)
    write_role(role_file, STANDBY)
    argv = [*program_argv(cfg), "-c", cfg.config, "watch"]
    ctx.log.info(f"starting: {' '.join(argv)}")
    tag = new_tag()
    proc = _spawn(argv, ctx, {**ctx.environ, "LC_ALL": "C", TAG_VARIABLE: tag})
    watcher = Watcher(proc.pid, processes.start_time(proc.pid) or 0, _exe(proc.pid), role_file,
                      tuple(str(folder) for folder in config.folders), tag,
                      str(health_file(config)))
    watcher.save(ctx)
    missing = list(watcher.folders)
    while ctx.remaining() > 0:
        status = proc.poll()
        if status is not None:
            daemon.remove(marker(ctx))
            raise GenericError(f"sip-ha-sync watch exited with status {status}"
                               f"{_last_words(ctx)}")
        missing = watcher.unwatched()
        if not missing:
            promotion.set_score(ctx, HEALTHY_SCORE)
            ctx.log.info(f"running as pid {watcher.pid}, watching "
                         f"{len(watcher.folders)} folder(s), role standby")
            return OCFCode.SUCCESS
        time.sleep(0.1)
    raise GenericError(f"the watcher did not watch {', '.join(missing)} before the "
                       "start timeout")


def _spawn(argv: list[str], ctx: Context, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    import subprocess

    path = _log_path(ctx)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # O_APPEND: the monitor may truncate the file under the running watcher.
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=dict(env), start_new_session=True, close_fds=True)
    except FileNotFoundError:
        raise NotInstalledError(f"{argv[0]} not found") from None
    except PermissionError:
        raise PermError(f"{argv[0]} is not executable") from None
    finally:
        os.close(log)


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
    except OSError:
        return ""


def _role_file(cfg: FileSyncConfig, ctx: Context, watcher: Watcher | None) -> str | None:
    if watcher is not None:
        return watcher.role_file
    try:
        return str(load_sync_config(cfg).role_file)
    except (OCFError, CommandError) as err:
        ctx.log.warning(f"role file unknown: {err.reason}")
        return None


def stop(cfg: FileSyncConfig, ctx: Context) -> OCFCode:
    watcher = Watcher.load(ctx)
    role_file = _role_file(cfg, ctx, watcher)
    if role_file is not None:
        try:
            write_role(role_file, STANDBY)
        except (OCFError, CommandError) as err:
            ctx.log.warning(err.reason)
    promotion.set_score(ctx, None)
    publish_health(cfg, ctx, {})
    graceful = daemon.graceful_deadline(ctx)
    if watcher is not None and watcher.alive():
        ctx.log.info(f"stopping pid {watcher.pid}")
        if not terminate(ctx, watcher, graceful):
            daemon.kill(ctx, watcher.pid, watcher.exe)
    if watcher is not None:
        stop_tagged(ctx, watcher.tag, graceful)
    daemon.remove(marker(ctx))
    return OCFCode.SUCCESS


def promote(cfg: FileSyncConfig, ctx: Context) -> OCFCode:
    watcher = Watcher.load(ctx)
    if watcher is None or not watcher.alive():
        raise GenericError("cannot promote: sip-ha-sync watch is not running")
    if read_role(watcher.role_file) != ACTIVE:
        if watcher.health:
            # what it says is from an earlier spell as the active node; the
            # watcher starts a new record when it sees the role
            daemon.remove(watcher.health)
        write_role(watcher.role_file, ACTIVE)
        ctx.log.info("role active: the watcher reconciles, then pushes every change")
    return OCFCode.SUCCESS


def demote(cfg: FileSyncConfig, ctx: Context) -> OCFCode:
    watcher = Watcher.load(ctx)
    running = watcher if watcher is not None and watcher.alive() else None
    role_file = _role_file(cfg, ctx, watcher)
    if role_file is not None and read_role(role_file) == ACTIVE:
        write_role(role_file, STANDBY)
        ctx.log.info("role standby: the watcher stops pushing")
        if cfg.flush_timeout > 0:
            until = min(ctx.deadline, time.monotonic() + cfg.flush_timeout)
            if running is not None:
                _wait_quiet(ctx, running, until)
            flush(cfg, ctx, until)
    # Like a crashed asterisk: nothing pushes from here, but it is not running either.
    return OCFCode.SUCCESS if running is not None else OCFCode.NOT_RUNNING


def flush(cfg: FileSyncConfig, ctx: Context, until: float) -> None:
    """One full push to every peer, in this process, as if still active.

    The role file already says standby, so the watcher cannot push at the
    same time; this push tells the syncer "active" itself.  Nothing here
    fails the demote: what could not be sent is a warning.
    """
    from sipha_runtime.run import Runner
    from sync_helper.errors import SyncError
    from sync_helper.syncer import PUSH, PrintableLog, Syncer

    log = PrintableLog(ctx.log)  # names that are not UTF-8
    started = time.monotonic()
    try:
        config = load_sync_config(cfg)
        config.check_folders()
        # Ending the connections after the push has 2 s of its own, but
        # never past the demote's own deadline.
        syncer = Syncer(config, lambda: Runner(until, ctx.log), log, lambda: ACTIVE,
                        runner_until=lambda end: Runner(min(end, ctx.deadline), ctx.log))
        try:
            report = syncer.resync(PUSH)
        finally:
            syncer.close()  # a standby holds no connection to its peers
    except (OCFError, CommandError, SyncError) as err:
        log.warning(f"final push not completed: {err.reason}{_ran_out(cfg, until)}")
        return
    for peer in report.peers:
        for error in peer.errors:
            log.warning(f"final push to {peer.peer}: {error}{_ran_out(cfg, until)}")
    for name, conflict in report.conflicts:
        log.warning(f"final push to {name}: {conflict.path} left alone: {conflict.reason}")
    changed = sum(len(p.sent) + len(p.replaced) + len(p.removed) for p in report.peers)
    reached = sum(1 for p in report.peers if not p.errors)
    log.info(f"final push: {changed} change(s) to {reached} of {len(report.peers)} "
             f"peer(s) in {time.monotonic() - started:.1f}s")


def _ran_out(cfg: FileSyncConfig, until: float) -> str:
    """Said when the final push was cut short by its bound (the next active
    may then lack what had not been sent; its comparison reports it)."""
    if time.monotonic() < until:
        return ""
    return f" (flush_timeout {cfg.flush_timeout:g}s ran out: not everything was handed over)"


AGENT = Agent(
    "filesync",
    version="1.0",
    shortdesc="File sync (sip-ha-sync) as a promotable clone: the promoted node pushes",
    longdesc=__doc__.split("\n\n", 1)[1].strip().replace("\n", " "),
    config=FileSyncConfig,
    handlers={"start": start, "stop": stop, "monitor": monitor, "promote": promote,
              "demote": demote},
    operations=(
        Operation("start", timeout=30),
        Operation("stop", timeout=30),
        Operation("promote", timeout=20),
        Operation("demote", timeout=60),
        Operation("monitor", timeout=20, interval=10, role="Unpromoted"),
        Operation("monitor", timeout=20, interval=9, role="Promoted"),
    ),
    validate=validate,
)


if __name__ == "__main__":
    AGENT.main()
