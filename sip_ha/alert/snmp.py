"""SNMP notifications: one SNMPv2c trap (SNMPv2-Trap-PDU, RFC 3416) per alert,
BER-encoded here with the standard library only, sent as one UDP datagram.

The trap and its objects are those of PACEMAKER-MIB (enterprise 32723, the
``PCMK-MIB.txt`` that Pacemaker ships, in Debian's pacemaker-common under
/usr/share/snmp/mibs), the same ones Pacemaker's own
``alert_snmp.sh.sample`` sends.
"""

from __future__ import annotations

import math
import secrets
import socket
import time
from types import MappingProxyType
from typing import Final, TypeAlias

from sip_ha.alert.errors import AlertError, alert_errors
from sipha_runtime import recipients
from sipha_runtime.resolve import resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from sipha_runtime.resolve import AddrInfo

Value: TypeAlias = str | int
Varbind: TypeAlias = tuple[str, Value]

UPTIME_FILE: Final = "/proc/uptime"

# SNMPv2-MIB: the first two varbinds of every SNMPv2-Trap-PDU (RFC 3416 4.2.6).
SYS_UPTIME_OID: Final = "1.3.6.1.2.1.1.3.0"
SNMP_TRAP_OID_OID: Final = "1.3.6.1.6.3.1.1.4.1.0"

# PACEMAKER-MIB (PCMK-MIB.txt): pacemaker ::= { enterprises 32723 },
# pacemakerNotification ::= { pacemaker 1 }, pacemakerTrap ::= { pacemaker 2 }.
PACEMAKER_OID: Final = "1.3.6.1.4.1.32723"
PACEMAKER_NOTIFICATION_OID: Final = PACEMAKER_OID + ".1"
PACEMAKER_TRAP_OID: Final = PACEMAKER_OID + ".2.1"  # pacemakerNotificationTrap
PCMK_NODE_OID: Final = PACEMAKER_NOTIFICATION_OID + ".1"  # OCTET STRING (SIZE(1..64))
PCMK_RESOURCE_OID: Final = PACEMAKER_NOTIFICATION_OID + ".2"  # OCTET STRING (SIZE(1..256))
PCMK_OPERATION_OID: Final = PACEMAKER_NOTIFICATION_OID + ".3"  # OCTET STRING (SIZE(1..64))
PCMK_DESCRIPTION_OID: Final = PACEMAKER_NOTIFICATION_OID + ".4"  # OCTET STRING (SIZE(1..256))
PCMK_STATUS_OID: Final = PACEMAKER_NOTIFICATION_OID + ".5"  # Integer32
PCMK_RETURN_CODE_OID: Final = PACEMAKER_NOTIFICATION_OID + ".6"  # Integer32
PCMK_TARGET_RETURN_CODE_OID: Final = PACEMAKER_NOTIFICATION_OID + ".7"  # Integer32
PCMK_ATTRIBUTE_NAME_OID: Final = PACEMAKER_NOTIFICATION_OID + ".8"  # OCTET STRING (SIZE(1..256))
PCMK_ATTRIBUTE_VALUE_OID: Final = PACEMAKER_NOTIFICATION_OID + ".9"  # OCTET STRING (SIZE(1..256))
# The most octets of each string object, as above.
PCMK_SIZES: Final = MappingProxyType({
    PCMK_NODE_OID: 64, PCMK_RESOURCE_OID: 256, PCMK_OPERATION_OID: 64,
    PCMK_DESCRIPTION_OID: 256, PCMK_ATTRIBUTE_NAME_OID: 256, PCMK_ATTRIBUTE_VALUE_OID: 256})

# BER tags (X.690; SNMPv2-SMI application types; RFC 3416 PDU tags).
_INTEGER: Final = 0x02
_OCTET_STRING: Final = 0x04
_OID: Final = 0x06
_SEQUENCE: Final = 0x30
_TIMETICKS: Final = 0x43
_SNMPV2_TRAP: Final = 0xA7
_VERSION_2C: Final = 1

_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1


def pacemaker_varbinds(kind: str, node: str, node_id: str, rsc: str, task: str, desc: str,
                       status: int | None, rc: int | None, target_rc: int | None,
                       attribute_name: str, attribute_value: str) -> list[Varbind]:
    """The PACEMAKER-MIB objects of one alert, in the MIB's order; empty strings
    and ``None`` are left out (0 is a value and is sent), longer strings than
    the MIB's sizes cut there (in UTF-8 octets, at a whole character).

    ``kind`` and ``node_id`` are accepted so that a caller can hand over every
    ``CRM_alert_*`` field, but PACEMAKER-MIB defines no object for them (nor
    does Pacemaker's alert_snmp.sh.sample send them), so they are not encoded.
    """
    del kind, node_id  # no PACEMAKER-MIB object; see the docstring
    fields: tuple[tuple[str, Value | None], ...] = (
        (PCMK_NODE_OID, node),
        (PCMK_RESOURCE_OID, rsc),
        (PCMK_OPERATION_OID, task),
        (PCMK_DESCRIPTION_OID, desc),
        (PCMK_STATUS_OID, status),
        (PCMK_RETURN_CODE_OID, rc),
        (PCMK_TARGET_RETURN_CODE_OID, target_rc),
        (PCMK_ATTRIBUTE_NAME_OID, attribute_name),
        (PCMK_ATTRIBUTE_VALUE_OID, attribute_value),
    )
    return [(oid, _cut(value, PCMK_SIZES[oid]) if isinstance(value, str) else value)
            for oid, value in fields if value is not None and value != ""]


def description(text: str, note: str) -> str:
    """TEXT and, after it, NOTE (what was held back), TEXT cut so that the
    note fits PACEMAKER-MIB's description."""
    if not note:
        return text
    tail = f"; {note}"
    return _cut(text, PCMK_SIZES[PCMK_DESCRIPTION_OID] - len(tail.encode())) + tail


def _cut(text: str, octets: int) -> str:
    # "replace": undecodable bytes of the environment (surrogates) become "?".
    return text.encode("utf-8", errors="replace")[:octets].decode("utf-8", errors="ignore")


def _length(n: int) -> bytes:
    """BER definite length: short form below 128, else 0x80|count then big-endian."""
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def _integer(n: int, tag: int = _INTEGER) -> bytes:
    """Minimal two's complement (X.690 8.3)."""
    size = (n + (n < 0)).bit_length() // 8 + 1
    return _tlv(tag, n.to_bytes(size, "big", signed=True))


def _integer32(n: int) -> bytes:
    if isinstance(n, bool) or not _INT32_MIN <= n <= _INT32_MAX:
        raise ValueError(f"{n!r} is not an Integer32")
    return _integer(n)


def _timeticks(n: int) -> bytes:
    if not 0 <= n < 2**32:
        raise ValueError(f"TimeTicks {n} is outside 0..2**32-1")
    return _integer(n, _TIMETICKS)  # non-negative: a leading 0x00 when the top bit is set


def _arcs(oid: str) -> list[int]:
    text = oid.removeprefix(".")
    parts = text.split(".")
    if len(parts) < 2 or not all(part.isascii() and part.isdigit() for part in parts):
        raise ValueError(f"OID {oid!r}: expected dotted decimal such as 1.3.6.1.4.1")
    arcs = [int(part) for part in parts]
    if arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39):
        raise ValueError(f"OID {oid!r}: first arc must be 0-2, second below 40 under 0 and 1")
    return arcs


def _base128(n: int) -> bytes:
    """One sub-identifier: 7 bits a byte, most significant first, 0x80 on all but the last."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def _oid(oid: str) -> bytes:
    arcs = _arcs(oid)
    content = _base128(40 * arcs[0] + arcs[1]) + b"".join(_base128(arc) for arc in arcs[2:])
    return _tlv(_OID, content)


def _value(value: Value) -> bytes:
    if isinstance(value, str):
        return _tlv(_OCTET_STRING, value.encode("utf-8"))
    if isinstance(value, int) and not isinstance(value, bool):
        return _integer32(value)
    raise ValueError(f"varbind value {value!r}: expected str or int")


def encode_trap(community: str, request_id: int, uptime_cs: int, trap_oid: str,
                varbinds: Sequence[tuple[str, str | int]]) -> bytes:
    """The SNMPv2c message carrying one SNMPv2-Trap-PDU: sysUpTime.0 and
    snmpTrapOID.0 first, then ``varbinds`` (str: OCTET STRING in UTF-8, int:
    Integer32). Raises ValueError for a malformed OID or an out-of-range value."""
    if not _INT32_MIN <= request_id <= _INT32_MAX:
        raise ValueError(f"request-id {request_id} is not an Integer32")
    bindings = [_tlv(_SEQUENCE, _oid(SYS_UPTIME_OID) + _timeticks(uptime_cs)),
                _tlv(_SEQUENCE, _oid(SNMP_TRAP_OID_OID) + _oid(trap_oid))]
    bindings += [_tlv(_SEQUENCE, _oid(oid) + _value(value)) for oid, value in varbinds]
    pdu = _tlv(_SNMPV2_TRAP, _integer(request_id) + _integer(0) + _integer(0)
               + _tlv(_SEQUENCE, b"".join(bindings)))
    return _tlv(_SEQUENCE, _integer(_VERSION_2C)
                + _tlv(_OCTET_STRING, community.encode("utf-8")) + pdu)


def uptime_centiseconds(path: str = UPTIME_FILE) -> int:
    """System uptime in hundredths of a second, modulo 2**32 (TimeTicks wrap)."""
    try:
        with open(path, encoding="ascii") as uptime:
            seconds = float(uptime.read().split()[0])
    except (OSError, ValueError, IndexError):
        seconds = time.clock_gettime(time.CLOCK_BOOTTIME)
    return int(seconds * 100) % 2**32


# ``host``, ``host:port``, ``[v6addr]:port``, ``[v6addr]`` or a bare
# ``v6addr``: (host, port), port 162 unless given.
parse_target = alert_errors(recipients.snmp_target)


def _resolve(target: str, host: str, port: int, timeout: float) -> Sequence[AddrInfo]:
    try:
        found = resolve(host, port, socket.SOCK_DGRAM, timeout, socket.IPPROTO_UDP)
    except TimeoutError:
        raise AlertError(f"SNMP target {target!r}: {host!r} not resolved within "
                         f"{timeout:.1f}s") from None
    except OSError as err:
        raise AlertError(f"SNMP target {target!r}: {err}") from None
    if not found:
        raise AlertError(f"SNMP target {target!r}: {host!r} has no address")
    return found


def send_trap(target: str, community: str, trap_oid: str,
              varbinds: Sequence[tuple[str, str | int]], timeout: float = 5.0) -> None:
    """Send one SNMPv2c trap to ``target`` (see parse_target) as one UDP
    datagram, to the first resolved address that accepts it. No answer comes
    back for a trap, so a receiver that is down is not noticed. Raises
    AlertError naming the target."""
    if not math.isfinite(timeout) or timeout <= 0:
        raise AlertError(f"SNMP trap to {target!r}: timeout {timeout!r} must be positive")
    deadline = time.monotonic() + timeout
    host, port = parse_target(target)
    try:
        packet = encode_trap(community, secrets.randbits(31), uptime_centiseconds(), trap_oid,
                             varbinds)
    except ValueError as err:
        raise AlertError(f"SNMP trap to {target!r}: {err}") from err
    errors: list[str] = []
    for family, kind, proto, _, address in _resolve(target, host, port, timeout):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            errors.append("deadline passed")
            break
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(remaining)
                sock.sendto(packet, address)
        except OSError as err:
            errors.append(f"{address[0]} port {address[1]}: {err}")
            continue
        return
    raise AlertError(f"SNMP trap to {target!r} not sent: {'; '.join(errors)}")
