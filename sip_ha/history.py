"""Failover history from every node's journal: Pacemaker's promote/demote
and start/stop results for the SIP-HA resources, fencing, and the operator
actions ``sip-ha`` itself recorded, merged in time order."""

from __future__ import annotations

import socket
import syslog

from cib_templates.params import ClusterParams
from sip_ha import tools

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sipha_runtime.run import Runner

MARK = "SIP-HA:"
# Pacemaker's controller logs one line per operation result; the fencer one
# per fencing action; sip-ha logs its own actions with MARK.
PATTERN = (r"Result of (promote|demote|start|stop) operation for|"
           r"Operation '?(reboot|off|on)'? .*targeting|" + MARK)


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
            stamp, _, rest = line.partition(" ")
            message = rest.split(": ", 1)[-1].strip()
            if MARK in line or "targeting" in line or any(r in message for r in ours):
                lines.append((stamp, node, message))
    return sorted(lines), missing
