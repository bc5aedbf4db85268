"""E-mail notifications: one plain-text message per alert, through an SMTP
relay (the node's own MTA by default)."""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from sip_ha.alert.errors import AlertError
from sip_ha.alert.hostport import split_host_port

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

TLS_MODES = ("none", "starttls")


def parse_addresses(value: str) -> list[str]:
    """``ops@example.org`` or ``mailto:a@x,b@y``: the addresses, each checked."""
    value = value.removeprefix("mailto:")
    addresses = [part.strip() for part in value.split(",") if part.strip()]
    if not addresses:
        raise AlertError(f"mail recipient {value!r} has no address")
    for address in addresses:
        _, parsed = parseaddr(address)
        local, _, domain = parsed.rpartition("@")
        if parsed != address or not local or not domain or any(c.isspace() for c in address):
            raise AlertError(f"mail recipient {address!r} is not an address such as "
                             "ops@example.org")
    return addresses


def parse_server(value: str) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port`` (see split_host_port); port 25 unless given."""
    try:
        return split_host_port(value, 25)
    except ValueError as err:
        raise AlertError(f"SMTP server {value!r}: {err}") from None


def compose(sender: str, to: Sequence[str], subject: str, body: str,
            headers: Mapping[str, str]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    for name, value in headers.items():
        message[name] = value
    message.set_content(body)
    return message


def send(message: EmailMessage, server: str, tls: str = "none", timeout: float = 10.0) -> None:
    host, port = parse_server(server)
    if tls not in TLS_MODES:
        raise AlertError(f"SMTP TLS mode {tls!r}: expected one of {', '.join(TLS_MODES)}")
    try:
        # gethostname, not smtplib's getfqdn: no DNS lookup that can hang
        # on a node cut off from its resolver, the moment alerts matter.
        with smtplib.SMTP(host, port, timeout=timeout,
                          local_hostname=socket.gethostname()) as smtp:
            if tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            refused = smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as err:
        raise AlertError(f"mail to {message['To']} through {server}: {err}") from err
    if refused:
        raise AlertError(f"mail through {server}: refused for {', '.join(sorted(refused))}")
