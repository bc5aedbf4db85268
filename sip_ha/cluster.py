"""What the cluster looks like now, read from ``crm_mon --output-as xml`` and
interpreted per SIP service of the parameter file: which node is SIP-ACTIVE
and since when, the health of every instance, gateway reachability, and
what needs attention."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from cib_templates.params import ClusterParams, Service
from cib_templates.render import (
    PING_ATTRIBUTE,
    active_resource,
    config_attribute,
    database_resource,
    ip_resource,
    promotion_attribute,
    replication_attributes,
    server_primitive,
    sync_attribute,
    sync_resource,
)
from ocf_agents.framework import metrics
from sip_ha import pacemaker_result, tools
from sip_ha.errors import SipHaError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sipha_runtime.run import Runner

CRM_MON_ARGV = [tools.CRM_MON, "--output-as", "xml", "--include=all"]


@dataclass(frozen=True)
class NodeState:
    name: str
    online: bool
    standby: bool
    unclean: bool
    maintenance: bool

    @property
    def usable(self) -> bool:
        return self.online and not (self.standby or self.unclean or self.maintenance)


@dataclass(frozen=True)
class SyncHealth:
    """How the file sync's pushes from the SIP-ACTIVE node to one node go
    (ocf:sipha:filesync's attributes on the pushing node)."""

    state: str                 # ok, behind, failing, conflicts
    pushed: str | None         # last successful push (UTC)
    reconciled: str | None     # last full reconcile since the last failure (UTC)
    pending: int | None        # changes not delivered
    conflicts: int | None      # files edited there since the last sync
    error: str | None
    kept: int | None = None    # files only there, never synced (the last comparison)
    kept_names: str | None = None  # the first of them, "; "-separated
    lag: int | None = None     # seconds since the last push that reached it (0: in sync)

    def describe(self) -> str:
        if self.state == "ok":
            return f"in sync (compared whole at {self.reconciled})"
        if self.state == "failing":
            return f"FAILING: {self.error or '?'} ({self.pending or 0} change(s) not delivered)"
        if self.state == "conflicts":
            return (f"{self.conflicts} CONFLICT(S): files edited there since the last sync "
                    "are left alone")
        return (f"behind: {self.pending or 0} change(s) not delivered, "
                + ("compared whole since the last failure" if self.reconciled else
                   "no full comparison yet since the last failure or the last failover"))


@dataclass(frozen=True)
class TargetSync:
    """A sync target that is not a node (a mounted export, a NAS):
    [service.sync] targets."""

    name: str
    sync: SyncHealth | None    # None: not published (no push to it yet)


@dataclass(frozen=True)
class Replication:
    """A node's database replica (ocf:sipha:mysql-mm's attributes)."""

    state: str                 # ok, lagging, peer-unreachable, stopped, broken, unconfigured
    lag: int | None            # seconds behind its master

    def describe(self) -> str:
        if self.lag is None or self.state not in ("ok", "lagging"):
            return f"replica {self.state}"
        return f"replica {self.state}, " + (f"{self.lag}s behind" if self.lag else "caught up")


@dataclass(frozen=True)
class NodeHealth:
    """One node's view of one service."""

    node: str
    role: str            # Promoted, Unpromoted, Started or Stopped
    failed: bool
    healthy: bool        # the agent published a promotion score / runs cleanly
    gateways: int | None  # gateways reached (None: not measured)
    # What this node's Asterisk refused of its configuration files (None: nothing).
    config_refused: str | None = None
    # With [service.sync], on nodes the sync pushes to (None: not published).
    sync: SyncHealth | None = None
    # With [service.database] (None: not published, the server is not running).
    replication: Replication | None = None
    # The metrics this node's agents publish (README "Metrics"; None: not published):
    sip_rtt_ms: int | None = None       # the slowest answer of its SIP check
    last_takeover: str | None = None    # when the service address last arrived here (UTC)
    last_outage_s: float | None = None  # how long the service had no address then


@dataclass(frozen=True)
class ServiceState:
    name: str
    server: str
    active_node: str | None
    since: str | None
    address: tuple[str, ...]
    nodes: tuple[NodeHealth, ...]
    gateway_count: int
    attention: tuple[str, ...]
    # With [service.sync]: the node whose file sync pushes (None: nowhere).
    sync_node: str | None = None
    # With [service.database]: the node whose database is writable (None: nowhere).
    database_node: str | None = None
    # With [service.sync] targets: how the pushes to each go.
    targets: tuple[TargetSync, ...] = ()

    def on(self, node: str) -> NodeHealth | None:
        return next((n for n in self.nodes if n.node == node), None)


@dataclass(frozen=True)
class ClusterState:
    nodes: tuple[NodeState, ...]
    quorum: bool
    dc: str | None
    fencing_enabled: bool
    services: tuple[ServiceState, ...]
    attention: tuple[str, ...] = field(default=())

    @property
    def needs_attention(self) -> list[str]:
        """Every sentence of attention: the cluster's, then each service's."""
        return [*self.attention, *(n for s in self.services for n in s.attention)]

    def node(self, name: str) -> NodeState | None:
        return next((n for n in self.nodes if n.name == name), None)

    def service(self, name: str) -> ServiceState:
        for service in self.services:
            if service.name == name:
                return service
        known = ", ".join(s.name for s in self.services)
        raise SipHaError(f"there is no service {name!r} in the parameter file (known: {known})")


def read(runner: Runner, params: ClusterParams) -> ClusterState:
    return parse(pacemaker_result.run(runner, CRM_MON_ARGV, "read the cluster status",
                                      "Try 'pcs status'."), params)


def parse(xml_text: str, params: ClusterParams) -> ClusterState:
    try:
        root = ET.fromstring(xml_text)  # noqa: S314 - our own crm_mon, not untrusted input
    except ET.ParseError as err:
        raise SipHaError(f"crm_mon printed something that is not XML ({err}); "
                         "check that Pacemaker's command line tools match the cluster") from None
    nodes = tuple(NodeState(n.get("name", ""), n.get("online") == "true",
                            n.get("standby") == "true", n.get("unclean") == "true",
                            n.get("maintenance") == "true")
                  for n in root.iterfind("nodes/node"))
    dc = root.find("summary/current_dc")
    options = root.find("summary/cluster_options")
    attributes = {n.get("name", ""): {a.get("name", ""): a.get("value", "")
                                      for a in n.iterfind("attribute")}
                  for n in root.iterfind("node_attributes/node")}
    failures = [(f.get("node"), f.get("op_key", ""),
                 f.get("exitreason") or f.get("status") or "")
                for f in root.iterfind("failures/failure")]
    services = tuple(_service(root, params, service, nodes, attributes, failures)
                     for service in params.services)
    attention = []
    fencing = options is not None and options.get("stonith-enabled", "true") == "true"
    if not fencing:
        attention.append("fencing is disabled: enable it (pcs property set "
                         "stonith-enabled=true) or a split brain can put the service "
                         "address on two nodes")
    quorum = dc is not None and dc.get("with_quorum") == "true"
    if dc is not None and dc.get("present") == "true" and not quorum:
        attention.append("the cluster has no quorum: bring nodes back online")
    for node in nodes:
        if node.unclean:
            attention.append(f"{node.name} is unclean (fencing pending or failed): "
                             "check the fence device with 'stonith_admin --history'")
    return ClusterState(nodes=nodes, quorum=quorum,
                        dc=dc.get("name") if dc is not None else None,
                        fencing_enabled=fencing, services=services,
                        attention=tuple(attention))


def _instances(root: ET.Element, rsc_id: str) -> dict[str, tuple[str, bool]]:
    """{node: (role, failed)} of a clone or primitive, from crm_mon."""
    found: dict[str, tuple[str, bool]] = {}
    for element in root.iterfind("resources/*"):
        if element.get("id") != rsc_id:
            continue
        resources = element.iterfind("resource") if element.tag == "clone" else [element]
        for resource in resources:
            for node in resource.iterfind("node"):
                found[node.get("name", "")] = (resource.get("role", "Stopped"),
                                               resource.get("failed") == "true")
    return found


def _since(root: ET.Element, node: str, rsc_id: str) -> str | None:
    """When the service address last started on NODE (crm_mon's history)."""
    for history in root.iterfind(f"node_history/node[@name='{node}']/resource_history"):
        if history.get("id") == rsc_id:
            starts = [op.get("last-rc-change") for op in history.iterfind("operation_history")
                      if op.get("task") == "start"]
            if starts:
                return starts[-1]
    return None


def _service(root: ET.Element, params: ClusterParams, service: Service,
             nodes: tuple[NodeState, ...], attributes: dict[str, dict[str, str]],
             failures: list[tuple[str | None, str, str]]) -> ServiceState:
    server = _instances(root, active_resource(service))
    address = _instances(root, ip_resource(service))
    score_attr = promotion_attribute(service)
    ping_attr = PING_ATTRIBUTE.format(svc=service.name)
    sync_node = _promoted(root, sync_resource(service)) if service.sync else None
    rtt_name = metrics.rtt_name(server_primitive(service))
    takeover_name, outage_name = metrics.takeover_names(ip_resource(service))
    health = []
    for name in service.nodes:
        role, failed = server.get(name, ("Stopped", False))
        attrs = attributes.get(name, {})
        if service.promotable:
            healthy = not failed and role != "Stopped" and _positive(attrs.get(score_attr))
        else:
            healthy = not failed and role == "Started"
        reached = attrs.get(ping_attr)
        health.append(NodeHealth(name, role, failed, healthy,
                                 _number(reached),
                                 attrs.get(config_attribute(service)) or None,
                                 _sync(service, attributes.get(sync_node or "", {}), name),
                                 _replication(service, attrs),
                                 # the last good answer's; none while not healthy
                                 _number(attrs.get(rtt_name)) if healthy else None,
                                 attrs.get(takeover_name) or None,
                                 _seconds(attrs.get(outage_name))))
    ip_nodes = [n for n, (role, failed) in address.items() if role == "Started" and not failed]
    if service.promotable:
        active = [n for n, (role, _) in server.items() if role == "Promoted"]
    else:
        active = ip_nodes
    active_node = active[0] if len(active) == 1 and active[0] in ip_nodes else None
    attention = _attention(service, health, active_node, ip_nodes, nodes, failures)
    database_node = None
    if service.sync is not None and active_node and sync_node != active_node:
        attention += (f"file sync of {service.name} is not pushing from {active_node}: "
                      "changes made there are not copied to the standbys; see "
                      f"'pcs resource status {sync_resource(service)}'",)
    if service.database is not None:
        database_node = _promoted(root, database_resource(service))
        if active_node and database_node != active_node:
            attention += (f"the database of {service.name} is not writable on {active_node}: "
                          "CDRs written there are lost; see "
                          f"'pcs resource status {database_resource(service)}'",)
    targets = tuple(TargetSync(name, _sync(service, attributes.get(sync_node or "", {}), name))
                    for name in service.sync_targets)
    attention += tuple(f"file sync to {target.name}: {target.sync.describe()}"
                       for target in targets
                       if target.sync is not None and target.sync.state in ("failing",
                                                                             "conflicts"))
    return ServiceState(
        name=service.name, server=service.server, active_node=active_node,
        since=_since(root, active_node, ip_resource(service)) if active_node else None,
        address=service.ip, nodes=tuple(health), gateway_count=len(service.gateways),
        attention=attention, sync_node=sync_node, database_node=database_node,
        targets=targets)


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value or "")
    except ValueError:
        return None
    return seconds if 0 <= seconds < float("inf") else None


def _sync(service: Service, attrs: dict[str, str], node: str) -> SyncHealth | None:
    """The pushing node's view of NODE (ATTRS: the pushing node's attributes)."""
    def get(word: str) -> str | None:
        return attrs.get(sync_attribute(service, node, word)) or None

    state = get("sync")
    if state is None:
        return None
    return SyncHealth(state, get("pushed"), get("reconciled"), _number(get("pending")),
                      _number(get("conflicts")), get("error"), _number(get("kept")),
                      get("kept-names"), _number(get(metrics.SYNC_LAG_WORD)))


def _replication(service: Service, attrs: dict[str, str]) -> Replication | None:
    if service.database is None:
        return None
    state_name, lag_name = replication_attributes(service)
    state = attrs.get(state_name)
    return Replication(state, _number(attrs.get(lag_name))) if state else None


def kept_note(node: str, sync: SyncHealth) -> str:
    """Files only NODE has, never synced (written there before it failed?),
    and the commands that decide about them, run on the SIP-ACTIVE node."""
    more = "" if (sync.kept or 0) <= len((sync.kept_names or "").split("; ")) else ", ..."
    return (f"{sync.kept} file(s) only on {node}, never synced ({sync.kept_names}{more}): "
            f"take them with 'sip-ha-sync resync --direction pull --peer {node}' (try "
            f"--dry-run first), or drop them (into {node}'s backup folder) with "
            f"'sip-ha-sync push --force PATH', on the SIP-ACTIVE node")


def _promoted(root: ET.Element, clone: str) -> str | None:
    """The node where CLONE is promoted and not failed (None: nowhere)."""
    nodes = [n for n, (role, failed) in _instances(root, clone).items()
             if role == "Promoted" and not failed]
    return nodes[0] if nodes else None


def _positive(value: str | None) -> bool:
    if value is None:
        return False
    try:
        return int(value) > 0
    except ValueError:
        return value.upper() == "INFINITY"


def _attention(service: Service, health: list[NodeHealth], active: str | None,
               ip_nodes: list[str], nodes: tuple[NodeState, ...],
               failures: list[tuple[str | None, str, str]]) -> tuple[str, ...]:
    notes = []
    if active is None:
        where = f" (address on {', '.join(ip_nodes)})" if ip_nodes else ""
        notes.append(f"no node is SIP-ACTIVE for {service.name}{where}: see 'pcs status' "
                     "and the failures below")
    online = {n.name for n in nodes if n.usable}
    for item in health:
        if item.node not in online:
            notes.append(f"{item.node} is not available (offline, standby or unclean): "
                         f"{service.name} has no standby there")
        elif not item.healthy:
            # A failure expires after [timings] failure_timeout (seconds):
            # the fail count is gone by then, the journal keeps the reason.
            notes.append(f"{service.server} on {item.node} is not healthy ({item.role}"
                         f"{', failed' if item.failed else ''}): read why with "
                         f"'sip-ha logs --since -1h'; Pacemaker tries it again once "
                         f"the failure expires (failure_timeout)")
        if item.config_refused:
            notes.append(f"Asterisk on {item.node} refused configuration it was given "
                         f"({item.config_refused}) and runs the previous one: fix the file "
                         "on the SIP-ACTIVE node; the sync brings the fix")
        if item.sync is not None and item.sync.state in ("failing", "conflicts"):
            notes.append(f"file sync to {item.node}: {item.sync.describe()}"
                         + (": see 'sip-ha-sync resync --dry-run' on the SIP-ACTIVE node, "
                            "then 'sip-ha-sync push --force PATH' for each file to "
                            "replace there" if item.sync.state == "conflicts" else ""))
        if item.sync is not None and item.sync.kept:
            notes.append(kept_note(item.node, item.sync))
        if item.replication is not None and item.replication.state != "ok":
            notes.append(f"the database on {item.node}: {item.replication.describe()}: "
                         f"see 'SHOW SLAVE STATUS' there")
        if (service.gateways and item.node in online
                and (item.gateways or 0) < len(service.gateways)):
            notes.append(f"{item.node} reaches {item.gateways or 0} of "
                         f"{len(service.gateways)} gateway(s) ({', '.join(service.gateways)})")
    prefixes = (f"{service.name}-",)
    for node, op_key, reason in failures:
        if op_key.startswith(prefixes):
            notes.append(f"failed operation {op_key} on {node}: {reason}")
    return tuple(dict.fromkeys(notes))
