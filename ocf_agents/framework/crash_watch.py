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

Nor does an exit while Pacemaker does not manage the resource here
(maintenance: an operator restarts the server by hand): a report would be
a fail-count that moves the service once maintenance ends.  The watcher
reads the CIB once before it reports and only logs then.
"""

from __future__ import annotations

import os
import time

from sipha_runtime import processes
from sipha_runtime.log import Logger
from sipha_runtime.run import CommandError, Runner

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocf_agents.framework.ocf import Context

REPORT_TIMEOUT = 30.0
CIB_TIMEOUT = 10.0
_TRUE = frozenset({"1", "yes", "true", "on", "y"})   # Pacemaker's crm_is_true


def watch_file(ctx: Context) -> str:
    return ctx.state_file("watch")


def report_argv(ctx: Context) -> list[str]:
    return [ctx.pacemaker_tool("crm_resource"),
            "--fail", "--resource", ctx.resource, "--node", ctx.node]


def unmanaged(ctx: Context) -> str | None:
    """Why Pacemaker does not manage the resource on this node now, or None
    when it does or the CIB cannot be read (a crash is then reported as
    ever: a lost report costs the service, a wrong one a cleanup)."""
    argv = [ctx.pacemaker_tool("cibadmin"), "--query"]
    try:
        result = Runner(time.monotonic() + CIB_TIMEOUT + 5).run(argv, timeout=CIB_TIMEOUT)
    except CommandError:
        return None
    if not result.ok:
        return None
    return unmanaged_in(result.stdout, ctx.resource, ctx.node)


def unmanaged_in(cib_xml: str, resource: str, node: str) -> str | None:
    """UNMANAGED's reading of a CIB (rules in attribute sets are ignored)."""
    from xml.etree import ElementTree

    try:
        cib = ElementTree.fromstring(cib_xml)  # noqa: S314 - the local CIB, root's
    except ElementTree.ParseError:
        return None

    def meta(element: ElementTree.Element, name: str) -> str | None:
        for pair in element.iterfind(f"meta_attributes/nvpair[@name='{name}']"):
            return pair.get("value", "")
        return None

    def true(value: str | None) -> bool:
        return (value or "").lower() in _TRUE

    for pair in cib.iterfind("configuration/crm_config/cluster_property_set/"
                             "nvpair[@name='maintenance-mode']"):
        if true(pair.get("value")):
            return "the cluster is in maintenance-mode"
    for where, inside in (("configuration/nodes/node", "instance_attributes"),
                          ("status/node_state", "transient_attributes/instance_attributes")):
        for entry in cib.iterfind(where):
            if entry.get("uname") != node:
                continue
            for pair in entry.iterfind(f"{inside}/nvpair[@name='maintenance']"):
                if true(pair.get("value")):
                    return f"node {node} is in maintenance"
    parents = {child: parent for parent in cib.iter() for child in parent}
    chain = [element for element in cib.iter("primitive") if element.get("id") == resource]
    while chain and chain[-1] in parents and chain[-1].tag != "resources":
        chain.append(parents[chain[-1]])
    chain = [element for element in chain if element.tag != "resources"]
    chain.extend(cib.iterfind("configuration/rsc_defaults"))
    # A meta attribute the resource has itself wins over its parents'
    # (a clone's, a group's), theirs over rsc_defaults (Pacemaker's order).
    for name, unmanaged_if in (("maintenance", True), ("is-managed", False)):
        for element in chain:
            value = meta(element, name)
            if value is not None:
                if true(value) == unmanaged_if:
                    owner = element.get("id") or element.tag
                    return f"{owner} has {name}={value}"
                break
    return None


# The watcher's process name (ps, pkill).
WATCHER_NAME = "sipha-watch"


def arm(ctx: Context, pid: int, what: str) -> None:
    """Watch PID (WHAT names it in the log) until it exits or stop disarms."""
    import secrets

    disarm(ctx)
    path, token = watch_file(ctx), secrets.token_hex(8)
    _write(path, f"{token} {pid}\n")
    argv = report_argv(ctx)
    watcher = processes.in_background(lambda: _watch(ctx, path, token, pid, what, argv))
    started = processes.start_time(watcher)
    _write(_identity_file(path), f"{watcher} {started or 0}\n")
    _write(path, f"{token} {pid} {watcher} {started or 0}\n")
    ctx.log.debug(f"watching {what} (pid {pid}) for an exit: pid {watcher}")


def ensure(ctx: Context, pid: int, what: str) -> None:
    """A monitor's: arm a watcher for a server the agent started (its
    marker) when none watches it."""
    from ocf_agents.framework import daemon

    if daemon.was_started(ctx) and not watching(ctx, pid):
        why = unmanaged(ctx)
        if why is not None:
            ctx.log.debug(f"not watching {what} (pid {pid}) while unmanaged: {why}")
            return
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
        with open(path, "rb") as handle:   # no text file: no codec to load
            return handle.read().decode("ascii").split()
    except (FileNotFoundError, UnicodeDecodeError):
        return []


def disarm(ctx: Context) -> None:
    """End the watcher; from now on an exit of the daemon is not reported."""
    path = watch_file(ctx)
    found = []
    for name, where in ((path, slice(2, 4)), (_identity_file(path), slice(0, 2))):
        fields = _fields(name)[where]
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass
        if len(fields) == 2 and fields[0].isdigit():
            found.append((int(fields[0]), fields[1]))
    # The identity file outlives a watch file removed from outside, so such
    # a watcher (silent: it reports only while its token is there) goes too.
    import signal  # with enum: a monitor never disarms

    for watcher, started in set(found):
        if str(processes.start_time(watcher) or 0) == started:
            processes.signal_pid(watcher, signal.SIGKILL)


def _identity_file(path: str) -> str:
    return f"{path}.watcher"


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
    import select

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
    import signal

    # An administrator's "killall -9 asterisk" (a crash test) must not end
    # the watcher with the server it watches.
    processes.set_name(WATCHER_NAME)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    wait_exit(pid)
    if not _armed(path, token):
        return
    log = Logger(ctx.agent, ctx.instance, ctx.environ,
                 stderr=open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 - to _exit
    why = unmanaged(ctx)
    if why is not None:
        log.warning(f"{what} (pid {pid}) exited without a stop while Pacemaker does not "
                    f"manage {ctx.resource} here ({why}): not reported")
        return
    log.error(f"{what} (pid {pid}) exited without a stop: reporting the failure to "
                f"Pacemaker now ({' '.join(argv)})")
    try:
        result = Runner(time.monotonic() + REPORT_TIMEOUT + 5).run(argv, timeout=REPORT_TIMEOUT)
    except CommandError as err:
        log.error(f"could not report {what}'s exit: {err.reason}; the next monitor will")
        return
    if not result.ok:
        log.error(f"could not report {what}'s exit: {result.summary()}; the next monitor will")
