"""A daemon's exit known at once, not at the next monitor.

``arm`` (at the end of a successful start) leaves a small child, outside
the agent (``processes.in_background``), that holds a pidfd of the daemon's
main process and sleeps in poll(2) until that process exits: no interval,
no CPU while it runs.  If the exit was not asked for, it tells Pacemaker at
once, ``crm_resource --fail --resource R --node N`` (Pacemaker 2.1 and 3.0:
the controller records a failed operation of R on N and recovers it as it
would a failed monitor; with ``migration-threshold=1`` the standby takes
over), and logs why.

A monitor of a server the agent started re-arms a watcher that is missing
(an agent updated under a running server, a watcher killed).  A planned
stop, and so a restart, never counts: ``disarm`` (the first thing
stop does) removes the watch file and ends the watcher before the daemon
is told to stop, and the watcher reports only while the watch file still
holds the token it was armed with.
"""

from __future__ import annotations

import os
import select
import signal
import time

from sipha_runtime import processes
from sipha_runtime.log import Logger
from sipha_runtime.run import CommandError, Runner

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocf_agents.ocf import Context

CRM_RESOURCE = "/usr/sbin/crm_resource"
REPORT_TIMEOUT = 30.0


def watch_file(ctx: Context) -> str:
    return ctx.state_file("watch")


def report_argv(ctx: Context) -> list[str]:
    """crm_resource as the agent's PATH finds it (Pacemaker's own first)."""
    import shutil

    binary = shutil.which("crm_resource", path=ctx.environ.get("PATH")) or CRM_RESOURCE
    return [binary, "--fail", "--resource", ctx.resource, "--node", ctx.node]


def arm(ctx: Context, pid: int, what: str) -> None:
    """Watch PID (WHAT names it in the log) until it exits or stop disarms."""
    import secrets

    disarm(ctx)
    path, token = watch_file(ctx), secrets.token_hex(8)
    _write(path, f"{token} {pid}\n")
    argv = report_argv(ctx)
    watcher = processes.in_background(lambda: _watch(ctx, path, token, pid, what, argv))
    started = processes.start_time(watcher)
    _write(path, f"{token} {pid} {watcher} {started or 0}\n")
    ctx.log.debug(f"watching {what} (pid {pid}) for an exit: pid {watcher}")


def ensure(ctx: Context, pid: int, what: str) -> None:
    """A monitor's: arm a watcher for a server the agent started (its
    marker) when none watches it."""
    from ocf_agents import daemon

    if daemon.was_started(ctx) and not watching(ctx, pid):
        arm(ctx, pid, what)


def watching(ctx: Context, pid: int) -> bool:
    """Whether a live watcher is armed for PID (a monitor re-arms one that
    is missing: an agent updated under a running server, a watcher killed)."""
    fields = _fields(watch_file(ctx))
    return (len(fields) == 4 and fields[1] == str(pid) and fields[2].isdigit()
            and str(processes.start_time(int(fields[2])) or 0) == fields[3]
            and processes.is_alive(int(fields[2])))


def _fields(path: str) -> list[str]:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().split()
    except (FileNotFoundError, UnicodeDecodeError):
        return []


def disarm(ctx: Context) -> None:
    """End the watcher; from now on an exit of the daemon is not reported."""
    path = watch_file(ctx)
    fields = _fields(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    if len(fields) == 4 and fields[2].isdigit():
        watcher = int(fields[2])
        if str(processes.start_time(watcher) or 0) == fields[3]:
            processes.signal_pid(watcher, signal.SIGKILL)


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.{os.getpid()}"
    with open(temporary, "w", encoding="ascii") as handle:
        handle.write(text)
    os.replace(temporary, path)


def _armed(path: str, token: str) -> bool:
    return _fields(path)[:1] == [token]


def wait_exit(pid: int) -> None:
    """Return once PID has exited (at once if it is gone already)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not poller.poll():
            pass
    finally:
        os.close(fd)


def _watch(ctx: Context, path: str, token: str, pid: int, what: str,
           argv: list[str]) -> None:
    """The watcher's whole life (in the child: its descriptors are /dev/null)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    wait_exit(pid)
    if not _armed(path, token):
        return
    log = Logger(ctx.agent, ctx.instance, ctx.environ,
                 stderr=open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 - to _exit
    log.error(f"{what} (pid {pid}) exited without a stop: reporting the failure to "
                f"Pacemaker now ({' '.join(argv)})")
    try:
        result = Runner(time.monotonic() + REPORT_TIMEOUT + 5).run(argv, timeout=REPORT_TIMEOUT)
    except CommandError as err:
        log.error(f"could not report {what}'s exit: {err.reason}; the next monitor will")
        return
    if not result.ok:
        log.error(f"could not report {what}'s exit: {result.summary()}; the next monitor will")
