"""``host[:port]`` as the alert senders (mail, syslog, SNMP) and the SIP
OPTIONS probe take it, parsed in one place so that ``sip-ha cib render``
refuses exactly what they would."""

from __future__ import annotations


def split_host_port(text: str, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port``, ``[IPv6]``, ``[IPv6]:port`` or a bare IPv6
    address (which takes no port: its last group is part of the address).
    A host is a name or address of ASCII letters, digits, ``-``, ``.`` and
    ``_``; the port 1-65535, DEFAULT_PORT when not given. ValueError says
    what is wrong."""
    value = text.strip()
    port: str | None = None
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError("expected [IPv6 address] or [IPv6 address]:port")
        if rest:
            port = rest[1:]
        _ipv6(host)
    elif value.count(":") > 1:
        host = value
        _ipv6(host, "; put it in brackets for a port, as in [2001:db8::1]:162")
    else:
        host, colon, after = value.partition(":")
        port = after if colon else None
        if not host:
            raise ValueError("no host name or address")
        if not all(c.isascii() and (c.isalnum() or c in "-._") for c in host):
            raise ValueError(f"{host!r} is not a host name or address")
    if port is None:
        return host, default_port
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"port {port!r} is not 1-65535")
    return host, int(port)


def _ipv6(host: str, hint: str = "") -> None:
    import ipaddress  # 1 ms: only for the IPv6 forms, not on every SIP check

    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise ValueError(f"{host!r} is not an IPv6 address{hint}") from None
