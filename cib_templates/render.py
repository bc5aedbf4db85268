"""Render the SIP-HA CIB from the parameter file and the XML templates.

The templates in ``templates/`` hold the shape (resources, operations,
constraints) with ``{placeholders}`` in attribute values; this module fills
them and adds what depends on the parameter file (nodes, agent parameters,
preferred nodes, gateway rules, extra services, fencing devices) with the
lxml element API.  Values from the parameter file only ever become attribute
values through lxml, so no quoting can break the XML.

Resource ids, per service NAME: NAME-asterisk-clone (or NAME-sipserver-clone),
NAME-ip, NAME-ping-clone, NAME-filesync-clone, NAME-db-clone, NAME-storage,
and each extra by its own id.
"""

from __future__ import annotations

import copy
import os
import re

from lxml import etree

from cib_templates.params import Alerts, ClusterParams, Extra, Fencing, Service, Storage

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
DEFAULT_SCHEMA = "pacemaker-3.9"
PING_ATTRIBUTE = "sipha-gw-{svc}"
ALERT_ID = "sipha-alert"


def active_resource(service: Service) -> str:
    """The resource whose placement decides where the service is SIP-ACTIVE."""
    kind = "asterisk" if service.promotable else "sipserver"
    return f"{service.name}-{kind}-clone"


def server_primitive(service: Service) -> str:
    """The primitive active_resource() clones: its agent names its node
    attributes (the SIP round-trip time) after it."""
    return active_resource(service).removesuffix("-clone")


def ip_resource(service: Service) -> str:
    return f"{service.name}-ip"


def sync_resource(service: Service) -> str:
    """The promotable file sync clone: promoted where the sync pushes from."""
    return f"{service.name}-filesync-clone"


def database_resource(service: Service) -> str:
    """The promotable CDR database clone: promoted where it is writable."""
    return f"{service.name}-db-clone"


def storage_resource(service: Service) -> str:
    """The shared storage area (ocf:heartbeat:Filesystem): mounted where the
    service is SIP-ACTIVE."""
    return f"{service.name}-storage"


def promotion_attribute(service: Service) -> str:
    """The node attribute holding the Asterisk primitive's promotion score
    (what ``crm_attribute --promotion`` sets for the agent)."""
    return f"master-{service.name}-asterisk"


def config_attribute(service: Service) -> str:
    """Set by ocf:sipha:asterisk while a node's Asterisk refuses some of its
    configuration files: what it refused."""
    return f"sipha-{service.name}-asterisk-config"


def sync_attribute(service: Service, peer: str, word: str) -> str:
    """Set by ocf:sipha:filesync on the node that pushes, about its pushes to
    PEER (word: sync, pushed, reconciled, pending, conflicts, error, reminder;
    see ocf_agents.filesync.HEALTH_WORDS)."""
    return f"sipha-{service.name}-filesync-{peer}-{word}"


def forced_attribute(service: Service) -> str:
    """Set by sip-ha on the node where an operator forced a move of SERVICE."""
    return f"sipha-{service.name}-forced-move"


def replication_attributes(service: Service) -> tuple[str, str]:
    """Set by ocf:sipha:mysql-mm on each node: its replica's state and lag."""
    return (f"sipha-mysql-{service.name}-db-replication",
            f"sipha-mysql-{service.name}-db-lag")


def replication_reminder_attribute(service: Service) -> str:
    """Set by ocf:sipha:mysql-mm while its replica's state is not ok, changed
    once per reminder_interval."""
    return f"sipha-mysql-{service.name}-db-reminder"


def handover_attribute(service: Service) -> str:
    """Set by ocf:sipha:mysql-mm's demote: where the old master's binary log
    stopped, which the new master's promote waits to have applied."""
    return f"sipha-mysql-{service.name}-db-handover"


def gateway_score(params: ClusterParams) -> int:
    """Above stickiness plus preference, so the active role leaves a node
    that lost a gateway for one that has them all; equal on all nodes when
    they all reach it, so stickiness still prevents failback."""
    return 2 * (params.stickiness + params.preferred_score)


def _template(name: str) -> etree._Element:
    parser = etree.XMLParser(remove_comments=True, remove_blank_text=True)
    return etree.parse(os.path.join(TEMPLATES, f"{name}.xml"), parser).getroot()


def _fill(element: etree._Element, values: dict[str, object]) -> etree._Element:
    for node in element.iter():
        for key, value in node.attrib.items():
            if "{" in value:
                node.set(key, value.format_map(values))
    return element


def _xml_id(text: str) -> str:
    """An XML ID (NCName) made from arbitrary text such as a node name."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", text)
    return cleaned if re.match(r"^[A-Za-z_]", cleaned) else f"n-{cleaned}"


def _nvpairs(parent: etree._Element, options: Mapping[str, str]) -> None:
    base = parent.get("id")
    for name, value in options.items():
        etree.SubElement(parent, "nvpair", id=_xml_id(f"{base}-{name}"), name=name,
                         value=value)


def _merge(cib: etree._Element, fragment: etree._Element) -> None:
    configuration = cib.find("configuration")
    for section in ("resources", "constraints"):
        target = configuration.find(section)
        for child in fragment.find(section):
            target.append(child)


def _location(constraints: etree._Element, ident: str, rsc: str, node: str, score: str,
              role: str | None = None) -> None:
    element = etree.SubElement(constraints, "rsc_location", id=_xml_id(ident), rsc=rsc)
    if role:
        element.set("role", role)
    element.set("node", node)
    element.set("score", score)


def render(params: ClusterParams, schema: str = DEFAULT_SCHEMA) -> etree._ElementTree:
    """The whole CIB (configuration and an empty status) for PARAMS."""
    timings = {key: getattr(params.timings, key)
               for key in params.timings.__dataclass_fields__}
    common = {**timings, "schema": schema,
              "stickiness": params.stickiness}
    cib = _fill(_template("cluster"), common)
    nodes = cib.find("configuration/nodes")
    for number, name in enumerate(params.nodes, start=1):
        etree.SubElement(nodes, "node", id=str(number), uname=name)
    for service in params.services:
        _add_service(cib, params, service, common)
    for device in params.fencing:
        _add_fencing(cib, device)
    if params.alerts:
        keys = " ".join(ip_resource(service) for service in params.services)
        cib.find("configuration").append(alerts_element(params.alerts, keys,
                                                        alerted_attributes(params)))
    return etree.ElementTree(cib)


def _add_service(cib: etree._Element, params: ClusterParams, service: Service,
                 common: dict[str, object]) -> None:
    svc = service.name
    values = {**common, "svc": svc, "node_count": len(service.nodes),
              "ping_attr": PING_ATTRIBUTE.format(svc=svc),
              "ip_rsc": ip_resource(service),
              "gateway_count": len(service.gateways),
              "gateway_score": gateway_score(params),
              "config_attr": config_attribute(service),
              "config_penalty": params.stickiness + params.preferred_score,
              # what makes a node SIP-ACTIVE: the old active's final push comes first
              "takeover_rsc": active_resource(service) if service.promotable
              else ip_resource(service),
              "takeover_action": "promote" if service.promotable else "start"}
    server = _fill(_template(service.server), values)
    options = dict(service.options)
    if service.promotable:
        # Asterisk refreshes its phones once one of these is up after a promote.
        options.setdefault("service_ip", " ".join(ip.split("/")[0] for ip in service.ip))
    _nvpairs(server.find(f".//instance_attributes[@id='{svc}-{service.server}-params']"),
             options)
    _merge(cib, server)

    address = _fill(_template("service-ip"), values)
    ip_options = {"ip": " ".join(service.ip)}
    if service.nic:
        ip_options["nic"] = service.nic
    if service.trunk_networks:
        ip_options["outbound_networks"] = " ".join(service.trunk_networks)
    ip_options.update(service.ip_options)
    _nvpairs(address.find(".//instance_attributes"), ip_options)
    _merge(cib, address)

    constraints = cib.find("configuration/constraints")
    role = "Promoted" if service.promotable else None
    preferred_rsc = active_resource(service) if service.promotable else ip_resource(service)
    _location(constraints, f"{svc}-prefers-{service.preferred_node}", preferred_rsc,
              service.preferred_node, str(params.preferred_score), role)

    if service.gateways:
        ping = _fill(_template("ping"), values)
        _nvpairs(ping.find(".//instance_attributes"),
                 {"host_list": " ".join(service.gateways)})
        _merge(cib, ping)

    clones = [active_resource(service)] + ([f"{svc}-ping-clone"] if service.gateways else [])
    for node in params.nodes:
        if node not in service.nodes:
            for clone in clones:
                _location(constraints, f"{clone}-avoids-{node}", clone, node, "-INFINITY")

    followers = (("filesync", "filesync", service.sync),
                 ("database", "db", service.database))
    for template, kind, given in followers:
        if given is None:
            continue
        fragment = _fill(_template(template), values)
        options = dict(given)
        if params.alerts:
            options.setdefault("reminder_interval", params.alerts.reminder_interval)
        _nvpairs(fragment.find(".//instance_attributes"), options)
        _merge(cib, fragment)
        for node in params.nodes:
            if node not in service.nodes:
                _location(constraints, f"{svc}-{kind}-clone-avoids-{node}",
                          f"{svc}-{kind}-clone", node, "-INFINITY")

    if service.storage is not None:
        _add_storage(cib, service, service.storage, values)

    for extra in service.extras:
        _add_extra(cib, extra, values)


def _add_storage(cib: etree._Element, service: Service, storage: Storage,
                 values: dict[str, object]) -> None:
    fragment = _fill(_template("storage"), values)
    if service.promotable:
        fragment.find("constraints/rsc_colocation").set("with-rsc-role", "Promoted")
    options = {"device": storage.device, "directory": storage.directory,
               "fstype": storage.fstype}
    if storage.options:
        options["options"] = storage.options
    _nvpairs(fragment.find(".//instance_attributes"), options)
    _merge(cib, fragment)


def _add_extra(cib: etree._Element, extra: Extra, values: dict[str, object]) -> None:
    fragment = _fill(_template("extra"), {**values, "extra": extra.id})
    primitive = fragment.find("resources/primitive")
    parts = extra.agent.split(":")
    primitive.set("class", parts[0])
    if len(parts) == 3:
        primitive.set("provider", parts[1])
    primitive.set("type", parts[-1])
    attributes = primitive.find("instance_attributes")
    if extra.options:
        _nvpairs(attributes, extra.options)
    else:
        primitive.remove(attributes)
    _merge(cib, fragment)


def _add_fencing(cib: etree._Element, device: Fencing) -> None:
    fragment = _fill(_template("fencing"), {"fence": device.id, "fence_agent": device.agent})
    options = dict(device.options)
    if device.targets:
        options.setdefault("pcmk_host_list", " ".join(device.targets))
    attributes = fragment.find(".//instance_attributes")
    _nvpairs(attributes, options)
    if not options:
        attributes.getparent().remove(attributes)
    _merge(cib, fragment)


def alerted_attributes(params: ClusterParams) -> list[str]:
    """The node attributes whose changes the alert reports (sip_ha.alert.attributes):
    each service's file sync to each of its nodes and sync targets and its reminder, each
    database replica and its reminder, a forced move."""
    names = []
    for service in params.services:
        if service.sync is not None:
            names += [sync_attribute(service, peer, word)
                      for peer in (*service.nodes, *service.sync_targets)
                      for word in ("sync", "reminder")]
        if service.database is not None:
            names += [replication_attributes(service)[0],
                      replication_reminder_attribute(service)]
        names.append(forced_attribute(service))
    return names


def alerts_element(alerts: Alerts, key_resources: str,
                   attributes: list[str] | tuple[str, ...] = ()) -> etree._Element:
    """The <alerts> section holding the one SIP-HA alert; KEY_RESOURCES (the
    service addresses) make their start and stop a notice: the service moved;
    ATTRIBUTES are the node attributes whose changes it reports."""
    section = _fill(_template("alerts"), {"alert_path": alerts.path,
                                          "alert_timeout": alerts.timeout}).find("alerts")
    alert = section.find("alert")
    select = alert.find("select/select_attributes")
    for name in attributes:
        etree.SubElement(select, "attribute", id=f"{ALERT_ID}-attr-{name}", name=name)
    _nvpairs(alert.find("instance_attributes"),
             {**alerts.options, "sipha_key_resources": key_resources,
              "sipha_repeat_interval": alerts.repeat_interval})
    for number, value in enumerate(alerts.recipients, start=1):
        etree.SubElement(alert, "recipient", id=f"{ALERT_ID}-to-{number}", value=value)
    return section


def to_text(tree: etree._ElementTree | etree._Element) -> str:
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    copy_ = copy.deepcopy(root)
    etree.indent(copy_, space="  ")
    text: str = etree.tostring(copy_, encoding="unicode")
    return text + "\n"
