"""``sip-ha status --nagios``: the status as a monitoring plugin (Nagios,
Icinga, anything that runs Nagios plugins) sees it: one line
``SIPHA STATE - summary | perfdata``, the sentences that need attention on
the lines after it, and the plugin exit code.

CRITICAL: a service has no SIP-ACTIVE node, its server is failed on a node,
or the cluster does not run on this node (as check_crm and
check_pacemaker do: this node is out of the cluster and cannot vouch for
any service; UNKNOWN would be read as "the check is broken" and is not
escalated by most setups).  WARNING: anything else ``sip-ha status``
reports (exit 5): file sync behind or failing, a lagging or broken replica,
refused configuration, a node lost, a gateway not reached, fencing off, no
quorum, old failed operations.  UNKNOWN: the check itself could not run
(parameter file, crm_mon missing or past its deadline, output not
understood).  OK exactly when ``sip-ha status`` exits 0.
"""

from __future__ import annotations

from sip_ha.errors import NotRunning
from sipha_runtime.errors import Failure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from sip_ha.cluster import ClusterState

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
PREFIX = "SIPHA"


def check(read: Callable[[], ClusterState]) -> tuple[str, int]:
    """(plugin output, exit code) of the state READ returns."""
    try:
        state = read()
    except NotRunning as err:
        return _line(CRITICAL, str(err)), CRITICAL
    except (Failure, OSError) as err:
        return _line(UNKNOWN, str(err)), UNKNOWN
    return evaluate(state)


def evaluate(state: ClusterState) -> tuple[str, int]:
    critical = []
    for service in state.services:
        if service.active_node is None:
            critical.append(f"{service.name} has no SIP-ACTIVE node")
        critical += [f"{service.server} of {service.name} failed on {node.node}"
                     for node in service.nodes if node.failed]
    notes = state.needs_attention
    code = CRITICAL if critical else WARNING if notes else OK
    active = [f"{s.name} SIP-ACTIVE on {s.active_node}" for s in state.services
              if s.active_node]
    online = sum(1 for n in state.nodes if n.online)
    summary = "; ".join([*critical, *active])
    if notes:
        summary += f"; {len(notes)} need(s) attention: {notes[0]}"
    else:
        summary += f"; {online}/{len(state.nodes)} nodes online"
    text = f"{_line(code, summary)} | {perfdata(state, len(notes))}"
    return "\n".join([text, *notes]), code


def _line(code: int, summary: str) -> str:
    # "|" starts the performance data: none may appear in the text
    return f"{PREFIX} {NAMES[code]} - {summary.replace('|', '/')}"


def perfdata(state: ClusterState, attention: int) -> str:
    """Values a grapher keeps: services with a SIP-ACTIVE node (critical
    below all of them), nodes online, sentences of attention, and per
    service and node the file sync's undelivered changes and lag, the
    replica's lag, the SIP check's round-trip time and the outage of the
    last takeover there (the agents' metrics, README "Metrics")."""
    services = len(state.services)
    active = sum(1 for s in state.services if s.active_node)
    values = [f"'services_active'={active};;{services}:;0;{services}",
              f"'nodes_online'={sum(1 for n in state.nodes if n.online)};;;0;{len(state.nodes)}",
              f"'attention'={attention};0;;0"]
    for service in state.services:
        for node in service.nodes:
            label = f"{service.name}_{node.node}"
            if node.sync is not None and node.sync.pending is not None:
                values.append(f"'{label}_sync_pending'={node.sync.pending};;;0")
            if node.sync is not None and node.sync.lag is not None:
                values.append(f"'{label}_sync_lag'={node.sync.lag}s;;;0")
            if node.replication is not None and node.replication.lag is not None:
                values.append(f"'{label}_db_lag'={node.replication.lag}s;;;0")
            if node.sip_rtt_ms is not None:
                values.append(f"'{label}_sip_rtt'={node.sip_rtt_ms}ms;;;0")
            if node.last_outage_s is not None:
                values.append(f"'{label}_last_outage'={node.last_outage_s:.1f}s;;;0")
    return " ".join(values)
