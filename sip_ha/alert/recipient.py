"""Which channel a recipient value names; checked by the alert agent and by
the parameter file, so a typo fails at ``sip-ha cib render``, not at the
first outage."""

from __future__ import annotations

import re

from sip_ha.alert import mail
from sip_ha.alert.errors import AlertError

_SYSLOG = re.compile(r"^syslog:(local|unix:/\S+|(udp|tcp)://(\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+)"
                     r"(:\d{1,5})?)$")
_SNMP = re.compile(r"^snmp://(\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+)(:\d{1,5})?/?$")
FORMS = ("an e-mail address (or mailto:a@x,b@y), syslog:local, syslog:unix:PATH, "
         "syslog:udp://HOST[:PORT], syslog:tcp://HOST[:PORT] or snmp://HOST[:PORT]")


def channel(recipient: str) -> str:
    """``mail``, ``syslog`` or ``snmp``; AlertError for anything else."""
    if recipient.startswith("syslog:"):
        if not _SYSLOG.match(recipient):
            raise AlertError(f"recipient {recipient!r}: expected {FORMS}")
        return "syslog"
    if recipient.startswith("snmp:"):
        if not _SNMP.match(recipient):
            raise AlertError(f"recipient {recipient!r}: expected {FORMS}")
        return "snmp"
    if "@" in recipient:
        mail.parse_addresses(recipient)
        return "mail"
    raise AlertError(f"recipient {recipient!r}: expected {FORMS}")
