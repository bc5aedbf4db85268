"""Syslog notifications: one message per alert. Over UDP and TCP (RFC 6587
octet counting) an RFC 5424 message; to a local socket such as /dev/log the
form syslog(3) writes there, ``<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG``, the only
one journald and rsyslog's imuxsock parse (they take RFC 5424's version
digit for the tag).

Standard library only; nothing happens at import.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from sip_ha.alert.errors import AlertError, alert_errors
from sipha_runtime import recipients
from sipha_runtime.log import SYSLOG_FACILITIES
from sipha_runtime.recipients import SyslogTarget
from sipha_runtime.resolve import resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


FACILITIES = SYSLOG_FACILITIES
# RFC 5424 table 2, plus the aliases syslog(3) and logger(1) accept.
SEVERITIES = MappingProxyType({
    "emerg": 0, "alert": 1, "crit": 2, "err": 3, "warning": 4, "notice": 5, "info": 6,
    "debug": 7, "panic": 0, "error": 3, "warn": 4,
})
NILVALUE = "-"
BOM = b"\xef\xbb\xbf"
# RFC 5424 section 6: the longest HOSTNAME, APP-NAME, PROCID, MSGID and SD-NAME.
HOSTNAME_MAX, APP_MAX, PROCID_MAX, MSGID_MAX, SD_NAME_MAX = 255, 48, 128, 32, 32


def format_rfc5424(facility: str, severity: str, hostname: str, app: str, msgid: str,
                   message: str, data: Mapping[str, str], sd_id: str = "sipha@32473",
                   when: datetime | None = None, procid: str | None = None) -> bytes:
    """``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID PARAM="VALUE"...] BOM MSG``.

    Header fields are reduced to printable US-ASCII (anything else becomes
    ``_``), cut to the RFC's lengths, and ``-`` when empty. ``when`` defaults
    to now; a naive ``when`` is local time. No DATA gives ``-`` for the
    structured data, no MESSAGE leaves MSG out. Bad facility or severity
    names, SD-ID or parameter names raise ValueError.
    """
    pri = _code(FACILITIES, facility, "facility") * 8 + _code(SEVERITIES, severity, "severity")
    header = " ".join((f"<{pri}>1", _timestamp(when), _field(hostname, HOSTNAME_MAX),
                       _field(app, APP_MAX), _field(procid or "", PROCID_MAX),
                       _field(msgid, MSGID_MAX)))
    out = f"{header} {_structured_data(sd_id, data)}".encode("utf-8", errors="replace")
    if message:
        out += b" " + BOM + message.encode("utf-8", errors="replace")
    return out


# RFC 3164's month names, whatever the locale.
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# What journald and imuxsock take as a tag: up to 32 characters, none of ":[ ".
TAG_MAX = 32


def format_local(facility: str, severity: str, tag: str, message: str,
                 when: datetime | None = None, pid: int | None = None) -> bytes:
    """``<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG`` as syslog(3) sends it to /dev/log.

    The time is local (``when`` converted to it, now by default), the tag
    reduced to printable US-ASCII other than ``:[]`` and cut to 32 characters,
    PID this process's unless given; control characters in MSG become spaces
    (a line break would start another entry). MSG is UTF-8 without a BOM.
    Bad facility or severity names raise ValueError.
    """
    pri = _code(FACILITIES, facility, "facility") * 8 + _code(SEVERITIES, severity, "severity")
    stamp = (datetime.now() if when is None else when).astimezone()
    clock = f"{MONTHS[stamp.month - 1]} {stamp.day:2d} {stamp:%H:%M:%S}"
    name = "".join(c if _printable(c) and c not in ":[]" else "_" for c in tag)[:TAG_MAX]
    text = "".join(" " if not c.isprintable() else c for c in message)
    head = f"<{pri}>{clock} {name or NILVALUE}[{os.getpid() if pid is None else pid}]: "
    return (head + text).encode("utf-8", errors="replace")


def _code(table: Mapping[str, int], name: str, what: str) -> int:
    code = table.get(name.strip().lower())
    if code is None:
        raise ValueError(f"unknown syslog {what} {name!r}: expected one of "
                         + ", ".join(table))
    return code


def _timestamp(when: datetime | None) -> str:
    """RFC 3339 with microseconds: ``2024-05-01T12:00:00.000000+02:00``, ``Z`` for UTC."""
    stamp = datetime.now().astimezone() if when is None else when
    offset = stamp.utcoffset()
    if offset is None:
        stamp = stamp.astimezone()
    elif offset % timedelta(minutes=1):  # RFC 3339 offsets are whole minutes
        stamp = stamp.astimezone(UTC)
    text = stamp.isoformat(timespec="microseconds")
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def _printable(char: str) -> bool:
    return 33 <= ord(char) <= 126


def _field(value: str, limit: int) -> str:
    cleaned = "".join(c if _printable(c) else "_" for c in value)[:limit]
    return cleaned or NILVALUE


def _sd_name(name: str, what: str) -> str:
    if (not name or len(name) > SD_NAME_MAX
            or any(not _printable(c) or c in '= ]"' for c in name)):
        raise ValueError(f"syslog structured data {what} {name!r}: 1 to {SD_NAME_MAX} printable "
                         'US-ASCII characters other than = ] " and space')
    return name


def _sd_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _structured_data(sd_id: str, data: Mapping[str, str]) -> str:
    name = _sd_name(sd_id, "SD-ID")
    if not data:
        return NILVALUE
    params = "".join(f' {_sd_name(key, "PARAM-NAME")}="{_sd_value(value)}"'
                     for key, value in data.items())
    return f"[{name}{params}]"


# ``udp://host[:port]``, ``tcp://host[:port]`` (port 514 by default) or
# ``unix:/path``: a SyslogTarget.
parse_target = alert_errors(recipients.syslog_target)


def send_syslog(target: str, payload: bytes, timeout: float = 5.0) -> None:
    """Send one message (format_rfc5424's for udp/tcp, format_local's for
    unix) to TARGET within TIMEOUT seconds.

    UDP: one datagram. TCP: ``LEN SP MSG`` (RFC 6587 octet counting). unix: one
    datagram, or for a stream socket the message and a NUL, as syslog(3) does.
    Every failure raises AlertError naming the target.
    """
    spec = parse_target(target)
    deadline = time.monotonic() + timeout
    try:
        if spec.transport == "unix":
            _send_unix(spec.path, payload, target, deadline)
        else:
            _send_inet(spec, payload, target, deadline)
    except TimeoutError as err:
        raise AlertError(f"syslog to {target}: timed out after {timeout:g} s") from err
    except OSError as err:
        raise AlertError(f"syslog to {target}: {err.strerror or err}") from err


def _remaining(deadline: float, target: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError(errno.ETIMEDOUT, f"no time left for {target}")
    return left


def _send_inet(spec: SyslogTarget, payload: bytes, target: str, deadline: float) -> None:
    kind = socket.SOCK_DGRAM if spec.transport == "udp" else socket.SOCK_STREAM
    failure: OSError = OSError(f"no address for {spec.host}")
    for family, _, proto, _, address in resolve(spec.host, spec.port, kind,
                                                _remaining(deadline, target)):
        sock = socket.socket(family, kind, proto)
        with sock:
            sock.settimeout(_remaining(deadline, target))
            try:
                sock.connect(address)
            except TimeoutError:
                raise
            except OSError as err:  # refused or unreachable: the next address may do
                failure = err
                continue
            sock.settimeout(_remaining(deadline, target))
            if kind == socket.SOCK_DGRAM:
                sock.send(payload)
            else:
                sock.sendall(b"%d " % len(payload) + payload)
            return
    raise failure


def _send_unix(path: str, payload: bytes, target: str, deadline: float) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.settimeout(_remaining(deadline, target))
        try:
            sock.connect(path)
        except OSError as err:
            if err.errno != errno.EPROTOTYPE:  # a stream socket answers EPROTOTYPE
                raise
        else:
            sock.send(payload)
            return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(_remaining(deadline, target))
        sock.connect(path)
        sock.settimeout(_remaining(deadline, target))
        sock.sendall(payload + b"\0")
