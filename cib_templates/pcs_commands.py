"""The ``pcs`` commands (pcs 0.11 and later) that build the same cluster as
a rendered CIB, for administrators who prefer to type them.  They are read
from the rendered XML, so they cannot drift from what ``cib apply`` installs;
the last one sets Corosync's timing, which no CIB holds."""

from __future__ import annotations

import shlex

from lxml import etree

from cib_templates import totem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cib_templates.params import Timings


def _pairs(element: etree._Element | None) -> list[str]:
    if element is None:
        return []
    return [f"{nv.get('name')}={nv.get('value')}" for nv in element.iterfind("nvpair")]


def _agent(primitive: etree._Element) -> str:
    parts = [primitive.get("class"), primitive.get("provider"), primitive.get("type")]
    return ":".join(part for part in parts if part)


def _operations(primitive: etree._Element) -> list[str]:
    words: list[str] = []
    for op in primitive.iterfind("operations/op"):
        words += ["op", op.get("name")]
        words += [f"{key}={op.get(key)}" for key in ("interval", "timeout", "role")
                  if op.get(key)]
        words += _pairs(op.find("instance_attributes"))
    return words


def _primitive(primitive: etree._Element) -> list[str]:
    verb = ["stonith", "create"] if primitive.get("class") == "stonith" else [
        "resource", "create"]
    agent = primitive.get("type") if primitive.get("class") == "stonith" else _agent(primitive)
    words = ["pcs", *verb, primitive.get("id"), agent,
             *_pairs(primitive.find("instance_attributes")), *_operations(primitive)]
    meta = _pairs(primitive.find("meta_attributes"))
    return words + (["meta", *meta] if meta else [])


def _clone(clone: etree._Element) -> list[str]:
    meta = _pairs(clone.find("meta_attributes"))
    kind = "promotable" if "promotable=true" in meta else "clone"
    meta = [pair for pair in meta if pair != "promotable=true"]
    return [*_primitive(clone.find("primitive")), kind, clone.get("id"), *meta]


def _expression(expr: etree._Element) -> list[str]:
    operation = expr.get("operation")
    if operation in ("defined", "not_defined"):
        return [operation, expr.get("attribute")]
    kind = [expr.get("type")] if expr.get("type") else []
    return [expr.get("attribute"), operation, *kind, expr.get("value")]


def _location(loc: etree._Element) -> list[str]:
    rsc, ident = loc.get("rsc"), loc.get("id")
    role = [f"role={loc.get('role')}"] if loc.get("role") else []
    if loc.get("node") and not role:
        return ["pcs", "constraint", "location", "add", ident, rsc, loc.get("node"),
                f"score={loc.get('score')}"]
    if loc.get("node"):
        return ["pcs", "constraint", "location", rsc, "rule", f"constraint-id={ident}",
                *role, f"score={loc.get('score')}", "#uname", "eq", loc.get("node")]
    rule = loc.find("rule")
    words = ["pcs", "constraint", "location", rsc, "rule", f"id={rule.get('id')}",
             f"constraint-id={ident}", *role, f"score={rule.get('score')}"]
    joiner = rule.get("boolean-op", "and")
    for number, expr in enumerate(rule.iterfind("expression")):
        words += ([joiner] if number else []) + _expression(expr)
    return words


def _colocation(col: etree._Element) -> list[str]:
    role = [col.get("rsc-role")] if col.get("rsc-role") else []
    with_role = [col.get("with-rsc-role")] if col.get("with-rsc-role") else []
    return ["pcs", "constraint", "colocation", "add", *role, col.get("rsc"), "with",
            *with_role, col.get("with-rsc"), f"score={col.get('score')}",
            f"id={col.get('id')}"]


def _order(order: etree._Element) -> list[str]:
    return ["pcs", "constraint", "order", order.get("first-action", "start"),
            order.get("first"), "then", order.get("then-action", "start"), order.get("then"),
            f"kind={order.get('kind', 'Mandatory')}",
            *([f"symmetrical={order.get('symmetrical')}"] if order.get("symmetrical") else []),
            f"id={order.get('id')}"]


def commands(cib: etree._Element) -> list[list[str]]:
    config = cib.find("configuration")
    out: list[list[str]] = []
    properties = [pair for nvset in config.iterfind("crm_config/cluster_property_set")
                  for pair in _pairs(nvset)]
    if properties:
        out.append(["pcs", "property", "set", *properties])
    defaults = _pairs(config.find("rsc_defaults/meta_attributes"))
    if defaults:
        out.append(["pcs", "resource", "defaults", "update", *defaults])
    for resource in config.find("resources"):
        out.append(_clone(resource) if resource.tag == "clone" else _primitive(resource))
    builders = {"rsc_location": _location, "rsc_colocation": _colocation,
                "rsc_order": _order}
    out += [builders[c.tag](c) for c in config.find("constraints") if c.tag in builders]
    for alert in config.iterfind("alerts/alert"):
        out += _alert(alert)
    return out


def _alert(alert: etree._Element) -> list[list[str]]:
    """pcs cannot write an alert's <select>: made this way, the alert also
    runs for node attribute changes (sip-ha-alert drops them as info)."""
    words = ["pcs", "alert", "create", f"path={alert.get('path')}", f"id={alert.get('id')}"]
    if alert.get("description"):
        words.append(f"description={alert.get('description')}")
    options = _pairs(alert.find("instance_attributes"))
    meta = _pairs(alert.find("meta_attributes"))
    words += (["options", *options] if options else []) + (["meta", *meta] if meta else [])
    return [words] + [["pcs", "alert", "recipient", "add", alert.get("id"),
                       f"value={recipient.get('value')}", f"id={recipient.get('id')}"]
                      for recipient in alert.iterfind("recipient")]


def script(cib: etree._Element, cib_file: str = "sip-ha-cib.xml",
           timings: Timings | None = None) -> str:
    """Shell lines that edit a copy of the live CIB (``pcs -f``) and push it
    once, so nothing starts before its constraints exist; with TIMINGS, then
    Corosync's token and consensus on every node (not in the CIB)."""
    lines = [["pcs", "cluster", "cib", cib_file]]
    lines += [[words[0], "-f", cib_file, *words[1:]] for words in commands(cib)]
    lines.append(["pcs", "cluster", "cib-push", cib_file, "--config"])
    if timings is not None:
        lines.append(totem.update_argv(timings.corosync_token, timings.corosync_consensus,
                                       pcs="pcs"))
    return "".join(shlex.join(words) + "\n" for words in lines)
