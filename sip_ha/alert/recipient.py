"""Which channel a recipient value names and the target its sender takes,
checked with the senders' own parsers by the alert agent and by the
parameter file, so a typo fails at ``sip-ha cib render``, not at the first
outage."""

from __future__ import annotations

from sip_ha.alert import mail
from sip_ha.alert.errors import AlertError

FORMS = ("an e-mail address (or mailto:a@x,b@y), syslog:local, syslog:unix:PATH, "
         "syslog:udp://HOST[:PORT], syslog:tcp://HOST[:PORT] or snmp://HOST[:PORT]")


def route(recipient: str) -> tuple[str, str]:
    """(channel, target): ``("mail", recipient)``, ``("syslog", "udp://host:port")``
    (``unix:/dev/log`` for ``syslog:local``) or ``("snmp", "host:port")``;
    AlertError naming the recipient for anything its sender would refuse."""
    try:
        if recipient.startswith("syslog:"):
            from sip_ha.alert import syslog

            target = recipient.removeprefix("syslog:")
            target = "unix:/dev/log" if target == "local" else target
            syslog.parse_target(target)
            return "syslog", target
        if recipient.startswith("snmp://"):
            from sip_ha.alert import snmp

            target = recipient.removeprefix("snmp://").removesuffix("/")
            snmp.parse_target(target)
            return "snmp", target
    except AlertError as err:
        raise AlertError(f"recipient {recipient!r}: {err}") from None
    if "@" in recipient and not recipient.startswith("snmp:"):
        mail.parse_addresses(recipient)
        return "mail", recipient
    raise AlertError(f"recipient {recipient!r}: expected {FORMS}")


def channel(recipient: str) -> str:
    """``mail``, ``syslog`` or ``snmp``; AlertError for anything else."""
    return route(recipient)[0]
