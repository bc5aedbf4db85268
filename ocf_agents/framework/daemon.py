"""What every agent that runs a daemon needs around its lifecycle.

A marker in the resource's state folder records, from start to stop, the
process group the daemon runs in.  It tells a crash (marker, no process:
failed) from a clean stop (no marker: not running), and it finds workers a
crashed main process left behind, which would keep the ports bound.
"""

from __future__ import annotations

import os
import time

from ocf_agents.framework.ocf import Context, GenericError, NotInstalledError, OCFCode, PermError
from sipha_runtime import processes, secret_file
from sipha_runtime.run import Completed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

# systemd's, where the agent's own environment has none
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of a daemon an agent starts: PATH and TZ (CDR
    and log times are in the server's zone) and LC_ALL=C.  Nothing else of
    the agent's: OCF_RESKEY_* hold the resource's parameters, a secret among
    them, and what a daemon inherits its AGI scripts, System() and children
    can read; HA_*, PCMK_* and the rest are Pacemaker's, not the daemon's."""
    env = {"PATH": environ.get("PATH") or DEFAULT_PATH, "LC_ALL": "C"}
    if "TZ" in environ:
        env["TZ"] = environ["TZ"]
    return env


def launch(ctx: Context, argv: Sequence[str]) -> Completed:
    """Run the start command of a daemon that puts itself in the background,
    with only ``environment()``: the Runner adds to the agent's environment,
    ``env -i`` replaces it."""
    pairs = [f"{name}={value}" for name, value in environment(ctx.environ).items()]
    return ctx.run.run(["/usr/bin/env", "-i", "--", *pairs, *argv])


def marker(ctx: Context) -> str:
    return ctx.state_file("running")


def was_started(ctx: Context) -> bool:
    return os.path.exists(marker(ctx))


def live_pid(ctx: Context, pidfile: str, binary: str, *, died: str,
             failed: int = OCFCode.ERR_GENERIC,
             withdraw: Callable[[], object] | None = None) -> int | None:
    """The opening of every daemon's monitor: the daemon's pid if it runs,
    None if it was stopped (no marker).  A daemon gone while the marker says
    it was started is a failure: WITHDRAW takes back what it published, then
    GenericError(DIED) with the code FAILED."""
    pid = processes.live_pid(pidfile, binary)
    if pid is None and was_started(ctx):
        if withdraw is not None:
            withdraw()
        raise GenericError(died, failed)
    return pid


def record_group(ctx: Context, pgid: int | None) -> None:
    path = marker(ctx)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="ascii") as handle:
        handle.write(f"{pgid or 0}\n")


def recorded_group(ctx: Context) -> int | None:
    try:
        with open(marker(ctx), encoding="ascii") as handle:
            return int(handle.read().split()[0]) or None
    except (FileNotFoundError, ValueError, IndexError):
        return None


def forget(ctx: Context, *paths: str) -> None:
    """Remove the marker (and other state files or a stale pid file)."""
    remove(marker(ctx), *paths)


def remove(*paths: str) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def graceful_deadline(ctx: Context) -> float:
    """Leave a few seconds of the stop timeout for SIGKILL and its reaping."""
    return ctx.deadline - min(5.0, max(1.0, ctx.timeout * 0.25))


def terminate(pid: int, binary: str, deadline: float) -> bool:
    """SIGCONT then SIGTERM, repeated each second: Kamailio can miss a SIGTERM
    that arrives while it handles its workers' SIGCHLD (seen after they were
    stopped and continued).  True once the process is gone."""
    import signal  # with enum: stop's, not the monitor's

    group = processes.group_of(pid)
    if group is not None:
        processes.signal_group(group, signal.SIGCONT, binary)
    processes.signal_pid(pid, signal.SIGCONT)
    while time.monotonic() < deadline:
        processes.signal_pid(pid, signal.SIGTERM)
        if processes.wait_gone(pid, min(deadline, time.monotonic() + 1.0)):
            return True
    return not processes.is_alive(pid)


def kill(ctx: Context, pid: int, binary: str) -> None:
    """SIGKILL ``pid``; GenericError if it survives until the deadline."""
    import signal

    ctx.log.warning(f"pid {pid} did not stop in time; sending SIGKILL")
    processes.signal_pid(pid, signal.SIGKILL)
    if not processes.wait_gone(pid, ctx.deadline):
        raise GenericError(f"pid {pid} survived SIGKILL")


def stop_leftovers(ctx: Context, binary: str, graceful: float | None = None) -> None:
    """End workers left in the daemon's process group (after its main died)."""
    group = recorded_group(ctx)
    if not group or not processes.group_members(group):
        return
    import signal

    if graceful is not None:
        # Orphaned workers wait for a main process that will not come back.
        processes.signal_group(group, signal.SIGTERM, binary)
        if processes.wait_group_gone(group, min(graceful, time.monotonic() + 2.0)):
            return
    if processes.signal_group(group, signal.SIGKILL, binary):
        ctx.log.warning(f"killed leftover processes of group {group}")
        processes.wait_group_gone(group, ctx.deadline)


def prepare_dir(folder: str, user: str, group: str) -> None:
    """Create ``folder`` for a daemon that drops privileges to user/group."""
    if os.path.isdir(folder):
        return
    os.makedirs(folder, mode=0o755, exist_ok=True)
    if user or group:
        import grp
        import pwd

        uid = pwd.getpwnam(user).pw_uid if user else -1
        gid = grp.getgrnam(group).gr_gid if group else -1
        os.chown(folder, uid, gid)


def require_account(user: str, group: str) -> None:
    """NotInstalledError unless the user and group exist on this node."""
    import grp
    import pwd

    try:
        if user:
            pwd.getpwnam(user)
        if group:
            grp.getgrnam(group)
    except KeyError:
        raise NotInstalledError(
            f"user {user!r} or group {group!r} does not exist on this node") from None


def require_secret_file(param: str, path: str) -> None:
    """NotInstalledError if the file parameter PARAM names is missing on this
    node, PermError if it is not fit to hold a secret."""
    try:
        problem = secret_file.problem(path, param)
    except FileNotFoundError:
        raise NotInstalledError(f"{param} {path} not found on this node") from None
    if problem:
        raise PermError(problem)
