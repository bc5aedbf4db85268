"""What an alert recipient may be, parsed in one place: the alert agent's
senders take their targets from here and ``sip-ha cib render`` checks the
parameter file with the same functions, so a typo fails at render, not at
the first outage.  Also the words the alert settings take (severities,
syslog facilities, SMTP TLS modes).

A recipient is ``ops@example.org`` or ``mailto:a@x,b@y`` (mail),
``syslog:local``, ``syslog:unix:PATH``, ``syslog:udp://HOST[:PORT]``,
``syslog:tcp://HOST[:PORT]`` (syslog) or ``snmp://HOST[:PORT]`` (SNMP); each
HOST[:PORT] is ``hostport.split_host_port``'s.  Every error is a
RecipientError whose message names the value."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from typing import NamedTuple

from sipha_runtime.hostport import split_host_port

FORMS = ("an e-mail address (or mailto:a@x,b@y), syslog:local, syslog:unix:PATH, "
         "syslog:udp://HOST[:PORT], syslog:tcp://HOST[:PORT] or snmp://HOST[:PORT]")

# The alert event's severities (syslog's names), most severe first; the
# agent's threshold sipha_min_severity uses the same names.
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
# The names of <syslog.h> (glibc's facilitynames, without the ambiguous
# "security" and the internal "mark").
SYSLOG_PORT = 514
SNMP_PORT = 162
# none: plain SMTP; starttls: STARTTLS required (port 25); smtps: TLS from
# the first byte (RFC 8314 implicit TLS, port 465).
TLS_MODES = ("none", "starttls", "smtps")


class RecipientError(ValueError):
    """A recipient or alert setting that its sender would refuse."""


@dataclass(frozen=True)
class SyslogTarget:
    """Where a message goes: ``udp``/``tcp`` with host and port, or ``unix`` with a path."""

    transport: str
    host: str = ""
    port: int = 0
    path: str = ""


class SnmpTarget(NamedTuple):
    host: str
    port: int


@dataclass(frozen=True)
class MailTarget:
    addresses: tuple[str, ...]


class Recipient(NamedTuple):
    """CHANNEL (``mail``, ``syslog`` or ``snmp``), TARGET the part of the
    value its sender takes (``ops@example.org``, ``udp://host:port`` or
    ``unix:/dev/log``, ``host:port``) and ADDRESS that part parsed."""

    channel: str
    target: str
    address: MailTarget | SyslogTarget | SnmpTarget


def parse(recipient: str) -> Recipient:
    """The channel and target RECIPIENT names; RecipientError naming it for
    anything its sender would refuse."""
    try:
        if recipient.startswith("syslog:"):
            target = recipient.removeprefix("syslog:")
            target = "unix:/dev/log" if target == "local" else target
            return Recipient("syslog", target, syslog_target(target))
        if recipient.startswith("snmp://"):
            target = recipient.removeprefix("snmp://").removesuffix("/")
            return Recipient("snmp", target, snmp_target(target))
    except RecipientError as err:
        raise RecipientError(f"recipient {recipient!r}: {err}") from None
    if "@" in recipient and not recipient.startswith("snmp:"):
        return Recipient("mail", recipient, MailTarget(tuple(mail_addresses(recipient))))
    raise RecipientError(f"recipient {recipient!r}: expected {FORMS}")


def mail_addresses(value: str) -> list[str]:
    """``ops@example.org`` or ``mailto:a@x,b@y``: the addresses, each checked."""
    value = value.removeprefix("mailto:")
    addresses = [part.strip() for part in value.split(",") if part.strip()]
    if not addresses:
        raise RecipientError(f"mail recipient {value!r} has no address")
    for address in addresses:
        _, parsed = parseaddr(address)
        local, _, domain = parsed.rpartition("@")
        if parsed != address or not local or not domain or any(c.isspace() for c in address):
            raise RecipientError(f"mail recipient {address!r} is not an address such as "
                                 "ops@example.org")
    return addresses


def syslog_target(target: str) -> SyslogTarget:
    """``udp://host[:port]``, ``tcp://host[:port]`` (port 514 by default) or
    ``unix:/path``."""
    scheme, _, rest = target.partition(":")
    scheme = scheme.lower()
    if scheme == "unix":
        if not rest.startswith("/") or "\0" in rest:
            raise RecipientError(f"syslog target {target!r}: expected unix:/absolute/path")
        return SyslogTarget("unix", path=rest)
    if scheme not in ("udp", "tcp") or not rest.startswith("//"):
        raise RecipientError(f"syslog target {target!r}: expected udp://host[:port], "
                             "tcp://host[:port] or unix:/path")
    try:
        host, port = split_host_port(rest[2:], SYSLOG_PORT)
    except ValueError as err:
        raise RecipientError(f"syslog target {target!r}: {err}") from None
    return SyslogTarget(scheme, host=host, port=port)


def snmp_target(target: str) -> SnmpTarget:
    """``host``, ``host:port``, ``[v6addr]:port``, ``[v6addr]`` or a bare
    ``v6addr``; port 162 unless given."""
    try:
        return SnmpTarget(*split_host_port(target, SNMP_PORT))
    except ValueError as err:
        raise RecipientError(f"SNMP target {target!r}: {err}") from None


def smtp_server(value: str, tls: str = "none") -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port``; port 25 unless given (465
    for smtps)."""
    try:
        return split_host_port(value, 465 if tls == "smtps" else 25)
    except ValueError as err:
        raise RecipientError(f"SMTP server {value!r}: {err}") from None


def check_tls(tls: str, auth_file: str = "") -> None:
    """RecipientError unless TLS is one of TLS_MODES that may carry
    AUTH_FILE's password: never AUTH over an unencrypted connection."""
    if tls not in TLS_MODES:
        raise RecipientError(f"SMTP TLS mode {tls!r}: expected one of {', '.join(TLS_MODES)}")
    if auth_file and tls == "none":
        raise RecipientError("smtp_auth_file needs smtp_tls = starttls or smtps: SMTP AUTH "
                             "over an unencrypted connection would send the password in clear")
