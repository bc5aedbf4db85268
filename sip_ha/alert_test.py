"""``sip-ha test-alerts``: send a test notification to every recipient of
the parameter file's ``[alerts]``, through the alert agent's own code, and
say for each one whether it went out."""

from __future__ import annotations

import socket

from sip_ha.errors import SipHaError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cib_templates.params import ClusterParams


def send_tests(params: ClusterParams, node: str | None = None) -> list[tuple[str, str]]:
    """(recipient, "sent" or the reason it failed) for each recipient."""
    from sip_ha.alert import agent

    if params.alerts is None:
        raise SipHaError("the parameter file has no [alerts] section: nothing to test "
                         "(sip-ha cib example shows one)")
    node = node or socket.gethostname()
    results = []
    for recipient in params.alerts.recipients:
        env = {**params.alerts.options, "CRM_alert_kind": "test", "CRM_alert_node": node,
               "CRM_alert_recipient": recipient}
        error = agent.send(env)
        results.append((recipient, "sent" if error is None else error.strip() or "exit 1"))
    return results
