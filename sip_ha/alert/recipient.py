"""Which channel a recipient value names and the target its sender takes:
sipha_runtime.recipients' grammar, which the parameter file is checked with
too, raising the alert agent's AlertError."""

from __future__ import annotations

from sip_ha.alert.errors import alert_errors
from sipha_runtime import recipients

# (channel, target, address): ("mail", "ops@example.org", (...)),
# ("syslog", "udp://host:port", SyslogTarget) ("unix:/dev/log" for
# syslog:local) or ("snmp", "host:port", SnmpTarget).
route = alert_errors(recipients.parse)


def channel(recipient: str) -> str:
    """``mail``, ``syslog`` or ``snmp``; AlertError for anything else."""
    return route(recipient).channel
