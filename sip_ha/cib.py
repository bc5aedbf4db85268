"""Install the rendered SIP-HA configuration into a running cluster.

What the parameter file owns is replaced as a whole: the ``sipha-options``
cluster property set, the resource defaults, every resource and every
constraint, and the ``sipha-alert`` alert.  What the cluster owns is kept:
the nodes section (node ids come from Corosync), Pacemaker's and pcs's own
property sets, op defaults, other alerts,
ACLs, tags, fencing topology, and move/ban constraints an operator made
(``cli-*``).  A resource or constraint the parameter file does not describe
is never dropped silently: ``apply`` refuses unless told to prune it.
"""

from __future__ import annotations

import copy
import difflib
import os
import tempfile
from dataclasses import dataclass

from lxml import etree

from cib_templates import validate
from cib_templates.params import ClusterParams
from cib_templates.render import ALERT_ID, render, to_text
from sip_ha import pacemaker_result, tools
from sip_ha.errors import Interrupted, Refused, SipHaError
from sip_ha.interrupt import shielded
from sipha_runtime.errors import Failure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from sipha_runtime.run import Runner

OWN_PROPERTY_SET = "sipha-options"


def query(runner: Runner) -> etree._Element:
    text = pacemaker_result.run(runner, [tools.CIBADMIN, "--query"], "read the CIB",
                                "Try 'pcs status'.")
    try:
        return etree.fromstring(text.encode())
    except etree.XMLSyntaxError as err:
        raise SipHaError(f"cibadmin printed a CIB that is not XML ({err})") from None


def merged(live: etree._Element, rendered: etree._Element) -> etree._Element:
    """LIVE with its configuration replaced by what RENDERED owns."""
    result = copy.deepcopy(live)
    config = result.find("configuration")
    ours = rendered.find("configuration")
    crm_config = config.find("crm_config")
    for nvset in crm_config.findall("cluster_property_set"):
        if nvset.get("id") == OWN_PROPERTY_SET:
            crm_config.remove(nvset)
    for nvset in ours.iterfind("crm_config/cluster_property_set"):
        crm_config.append(copy.deepcopy(nvset))
    resources = {e.get("id") for e in ours.find("resources").iter() if e.get("id")}
    # An operator's move/ban stays, unless its resource is gone.
    kept_cli = [copy.deepcopy(c) for c in config.find("constraints")
                if c.get("id", "").startswith("cli-") and c.get("rsc") in resources]
    for section in ("resources", "constraints", "rsc_defaults"):
        old = config.find(section)
        new = copy.deepcopy(ours.find(section))
        if old is not None:
            config.replace(old, new)
        else:
            config.append(new)
    for constraint in kept_cli:
        config.find("constraints").append(constraint)
    _replace_alert(config, ours.find("alerts"))
    return result


def _replace_alert(config: etree._Element, ours: etree._Element | None) -> None:
    """The SIP-HA alert follows the parameter file; other alerts stay."""
    section = config.find("alerts")
    if section is not None:
        for alert in section.findall("alert"):
            if alert.get("id") == ALERT_ID:
                section.remove(alert)
    if ours is not None:
        if section is None:
            section = etree.SubElement(config, "alerts")
        for alert in ours:
            section.append(copy.deepcopy(alert))
    if section is not None and len(section) == 0:
        config.remove(section)


def foreign(live: etree._Element, rendered: etree._Element) -> list[str]:
    """Resources and constraints in LIVE that RENDERED does not describe."""
    def ids(cib: etree._Element, section: str) -> list[str]:
        return [e.get("id") for e in cib.find(f"configuration/{section}")
                if isinstance(e.tag, str)]

    found = []
    for section, what in (("resources", "resource"), ("constraints", "constraint")):
        wanted = set(ids(rendered, section))
        found += [f"{what} {ident}" for ident in ids(live, section)
                  if ident not in wanted and not ident.startswith("cli-")]
    return found


def diff(live: etree._Element, new: etree._Element) -> str:
    """Unified diff of the live configuration and NEW's."""
    before = to_text(live.find("configuration")).splitlines(keepends=True)
    after = to_text(new.find("configuration")).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, "live configuration",
                                        "SIP-HA configuration"))


# The parts of the configuration apply replaces, each a list of elements with ids.
SECTIONS = ("crm_config", "resources", "constraints", "rsc_defaults", "alerts")


def changes(live: etree._Element, new: etree._Element) -> list[tuple[str, str, str]]:
    """(section, id, "added" | "removed" | "modified") for every top-level
    element of a section that differs between LIVE and NEW."""
    def elements(cib: etree._Element, section: str) -> dict[str, str]:
        return {e.get("id", ""): to_text(e)
                for e in cib.iterfind(f"configuration/{section}/*") if isinstance(e.tag, str)}

    found = []
    for section in SECTIONS:
        before, after = elements(live, section), elements(new, section)
        for ident in sorted(before.keys() | after.keys()):
            if ident not in after:
                found.append((section, ident, "removed"))
            elif ident not in before:
                found.append((section, ident, "added"))
            elif before[ident] != after[ident]:
                found.append((section, ident, "modified"))
    return found


@dataclass(frozen=True)
class Plan:
    live: etree._Element
    new: etree._Element          # the live CIB with the SIP-HA configuration
    warnings: list[str]          # what crm_verify warned about (not errors)


def plan(runner: Runner, params: ClusterParams,
         schema_dir: str = validate.SCHEMA_DIR) -> Plan:
    """What apply would install, validated with the live CIB's own schema
    version and crm_verify."""
    live = query(runner)
    schema = live.get("validate-with", "")
    rendered = render(params, schema).getroot()
    new = merged(live, rendered)
    check = copy.deepcopy(new)
    problems = validate.relaxng_problems(check, schema_dir)
    if problems:
        raise SipHaError(f"the rendered configuration is not valid for this cluster's "
                         f"schema {schema}: {'; '.join(problems)}")
    errors, warnings = validate.crm_verify_report(check, runner, tools.CRM_VERIFY)
    if errors:
        raise SipHaError("crm_verify rejects the rendered configuration: "
                         + "; ".join(errors))
    return Plan(live, new, warnings)


def _quiet(_message: str) -> None:
    pass


def apply(runner: Runner, params: ClusterParams, prune: bool = False,
          progress: Callable[[str], None] = _quiet) -> Plan:
    """Install the configuration; return what was planned (and applied).
    PROGRESS is told each step."""
    progress("reading the CIB and checking the rendered configuration (crm_verify)")
    planned = plan(runner, params)
    live, new = planned.live, planned.new
    extra = foreign(live, new)
    if extra and not prune:
        raise Refused("the cluster has " + ", ".join(extra) + " that the parameter file "
                      "does not describe: add them (e.g. as [[service.extra]]) or pass "
                      "--prune to delete them")
    if not diff(live, new):
        return planned
    with tempfile.NamedTemporaryFile("wb", suffix=".xml", prefix="sip-ha-config-",
                                     delete=False) as handle:
        handle.write(etree.tostring(new.find("configuration")))
    argv = [tools.CIBADMIN, "--replace", "--scope", "configuration", "--xml-file", handle.name]
    progress("installing it: " + " ".join(argv))
    try:
        tools.run(runner, argv, "install the configuration",
                  "Nothing was changed; see the message above.", timeout=60)
    except KeyboardInterrupt:
        with shielded():
            raise _interrupted(new) from None
    finally:
        os.unlink(handle.name)
    progress("installed")
    return planned


def _interrupted(new: etree._Element) -> Interrupted:
    """The CIB takes a replacement whole or not at all: say which it was."""
    try:
        now = query(tools.runner(30))
    except Failure as err:
        return Interrupted(f"interrupted; whether the configuration was installed is not "
                           f"known ({err}): 'sip-ha cib diff' shows it")
    if diff(now, new):
        return Interrupted("interrupted before the configuration was installed: the "
                           "cluster runs its previous one, nothing was changed")
    return Interrupted("interrupted, but the configuration was installed already")
