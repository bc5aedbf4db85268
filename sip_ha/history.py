"""Failover history from every node's journal: nodes lost, failed monitors
(and crashes the agents reported at once), fencing, Pacemaker's
promote/demote and start/stop results for the SIP-HA resources, the service
address announced, and the operator actions ``sip-ha`` itself recorded,
merged in time order."""

from __future__ import annotations

import socket
import syslog

from cib_templates.params import ClusterParams
from sip_ha import tools

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sipha_runtime.run import Runner

MARK = "SIP-HA:"
# Pacemaker's controller logs one line per operation result (a recurring
# monitor only when its result changes), per node it loses and per fencing
# it asks for; the fencer when it delays a fencing (priority-fencing-delay)
# and its outcome; ocf:sipha:service-ip one per announcement of the
# address; sip-ha logs its own actions with MARK.
# (journalctl --grep sees the message alone, without "ident[pid]: ".)
PATTERN = (r"Result of (promote|demote|start|stop|monitor|asyncmon) operation for|"
           r"Requesting fencing|Delaying '?(reboot|off)'? action targeting|"
           r"Operation '?(reboot|off|on)'? .*targeting|state is now lost|"
           r"^INFO: announced |" + MARK)
# A monitor that found the resource as it should be is not history
# (Pacemaker 2 says "ok", 3 "OK" and "Promoted").
_HEALTHY = (": ok", ": promoted")


def record(message: str) -> None:
    """Write an operator action to syslog, where 'sip-ha logs' finds it."""
    syslog.openlog("sip-ha", syslog.LOG_PID, syslog.LOG_DAEMON)
    syslog.syslog(syslog.LOG_NOTICE, f"{MARK} {message}")


def journal_argv(since: str) -> list[str]:
    return [tools.JOURNALCTL, "--no-pager", "--quiet", "-o", "short-iso-precise",
            "--since", since, "--grep", PATTERN]


def collect(runner: Runner, params: ClusterParams, since: str = "-7d",
            local: str | None = None) -> tuple[list[str], list[str]]:
    """(history lines "TIMESTAMP NODE MESSAGE" in time order, unreachable nodes)."""
    found, missing = entries(runner, params, since, local)
    return [f"{stamp} {node} {message}" for stamp, node, message in found], missing


def entries(runner: Runner, params: ClusterParams, since: str = "-7d",
            local: str | None = None) -> tuple[list[tuple[str, str, str]], list[str]]:
    """((timestamp, node, message) in time order, unreachable nodes)."""
    local = local or socket.gethostname()
    ours = tuple(f"{s.name}-" for s in params.services) + tuple(f.id for f in params.fencing)
    lines: list[tuple[str, str, str]] = []
    missing = []
    for node in params.nodes:
        argv = journal_argv(since)
        if node != local:
            argv = tools.on_node(node, argv)
        result = runner.run(argv, timeout=30)
        # journalctl exits 1 when nothing matched.
        if result.returncode not in (0, 1):
            missing.append(f"{node} ({result.summary()})")
            continue
        for line in result.stdout.splitlines():
            entry = parse_line(line, ours)
            if entry is not None:
                lines.append((entry[0], node, entry[1]))
    return sorted(lines), missing


def parse_line(line: str, ours: tuple[str, ...]) -> tuple[str, str] | None:
    """(timestamp, message) of a journal line (short-iso-precise) that is
    failover history of the resources and fence devices OURS names, else None."""
    stamp, _, rest = line.partition(" ")
    source, _, message = rest.partition(": ")
    message = message.strip()
    if MARK in line or "targeting" in line:
        return stamp, message
    if "state is now lost" in message:
        # Every Pacemaker daemon says so; the controller's line is the one that counts.
        return (stamp, message) if "pacemaker-controld[" in source else None
    if not any(r in rest for r in ours):
        return None
    if " monitor operation for " in message and \
            message.split(" | ")[0].lower().endswith(_HEALTHY):
        return None
    return stamp, message
