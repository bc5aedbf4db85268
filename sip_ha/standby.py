"""What Ctrl-C left of ``sip-ha standby|unstandby``: the standby flag is one
node attribute, set or not; the cluster moves the services by itself."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sip_ha import pacemaker_result, tools
from sip_ha.cluster import CRM_MON_ARGV
from sip_ha.errors import Interrupted
from sip_ha.interrupt import shielded
from sipha_runtime.errors import Failure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sipha_runtime.run import Runner


def interrupted(runner: Runner, verb: str, node: str | None) -> Interrupted:
    """Say whether NODE (None: this node) is in standby now, and how to undo."""
    with shielded():
        try:
            name = node or tools.run(runner, [tools.CRM_NODE, "-n"], "name this node",
                                     "", timeout=10).stdout.strip()
            text = pacemaker_result.run(runner, CRM_MON_ARGV, "read the cluster status", "")
        except Failure as err:
            return Interrupted(f"interrupted; whether {node or 'this node'} is in standby is "
                               f"not known ({err}): see 'pcs node status'")
    element = ET.fromstring(text).find(f"nodes/node[@name='{name}']")  # noqa: S314
    if element is None:
        return Interrupted(f"interrupted; crm_mon does not show a node {name}")
    now = element.get("standby") == "true"
    undo = "unstandby" if now else "standby"
    done = (verb == "standby") == now
    return Interrupted(
        f"interrupted: {name} is {'' if now else 'not '}in standby"
        + (f" (the request was made{'; its services move away by themselves' if now else ''})"
           f"; 'sip-ha {undo} {name}' undoes it" if done else "; nothing was changed"))
