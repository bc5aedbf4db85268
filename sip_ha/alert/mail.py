"""E-mail notifications: one plain-text message per alert, through an SMTP
relay (the node's own MTA by default), in clear, over STARTTLS or SMTPS, with
SMTP AUTH over TLS only."""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sip_ha.alert import credentials
from sip_ha.alert.errors import AlertError, alert_errors
from sipha_runtime import recipients

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

TLS_MODES = recipients.TLS_MODES
# What an SMTP AUTH file (sipha_smtp_auth_file) holds.
AUTH_KEYS = ("user", "password")

# ``ops@example.org`` or ``mailto:a@x,b@y``: the addresses, each checked.
parse_addresses = alert_errors(recipients.mail_addresses)
# ``host[:port]``: port 25 unless given (465 for smtps).
parse_server = alert_errors(recipients.smtp_server)
# Never SMTP AUTH over an unencrypted connection.
check_tls = alert_errors(recipients.check_tls)


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


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """AUTH PLAIN, or LOGIN where PLAIN is not offered: one attempt. smtplib's
    login() would try every mechanism after the server refused the password."""
    smtp.ehlo_or_helo_if_needed()
    offered = smtp.esmtp_features.get("auth", "").upper().split()
    for mechanism in ("PLAIN", "LOGIN"):
        if mechanism in offered:
            smtp.user, smtp.password = user, password
            smtp.auth(mechanism, getattr(smtp, f"auth_{mechanism.lower()}"))
            return
    raise smtplib.SMTPNotSupportedError(
        "the server offers no SMTP AUTH PLAIN or LOGIN" + (f" (only {' '.join(offered)})"
                                                           if offered else ""))


def send(message: EmailMessage, server: str, tls: str = "none", timeout: float = 10.0,
         auth_file: str = "") -> None:
    """MESSAGE through SERVER; with AUTH_FILE, logged in as its user (only
    over TLS: see check_tls). AlertError naming the recipients and server."""
    check_tls(tls, auth_file)
    host, port = parse_server(server, tls)
    login = credentials.read(auth_file, "smtp_auth_file", AUTH_KEYS) if auth_file else None
    if login and not (login["user"] + login["password"]).isascii():
        # smtplib encodes AUTH's user and password as ASCII
        raise AlertError(f"smtp_auth_file {auth_file}: user and password must be ASCII")
    try:
        # gethostname, not smtplib's getfqdn: no DNS lookup that can hang
        # on a node cut off from its resolver, the moment alerts matter.
        smtp: smtplib.SMTP
        if tls == "smtps":
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                    local_hostname=socket.gethostname(),
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout, local_hostname=socket.gethostname())
        with smtp:
            if tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if login:
                _login(smtp, login["user"], login["password"])
            refused = smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as err:
        raise AlertError(f"mail to {message['To']} through {server}: {err}") from err
    if refused:
        raise AlertError(f"mail through {server}: refused for {', '.join(sorted(refused))}")
