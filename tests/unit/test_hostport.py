"""host[:port] as every alert sender (SMTP server, syslog and SNMP targets) reads it."""

from __future__ import annotations

import pytest

from sipha_runtime.hostport import split_host_port


@pytest.mark.parametrize(("text", "parsed"), [
    ("loghost", ("loghost", 514)),
    ("loghost:1", ("loghost", 1)),
    ("log_host-1.example.org:65535", ("log_host-1.example.org", 65535)),
    ("198.51.100.7:5514", ("198.51.100.7", 5514)),
    (" loghost:6514 ", ("loghost", 6514)),
    ("[2001:db8::7]:1162", ("2001:db8::7", 1162)),
    ("[2001:db8::7]", ("2001:db8::7", 514)),
    ("[fe80::1%eth0]:514", ("fe80::1%eth0", 514)),
    ("2001:db8::7", ("2001:db8::7", 514)),
    ("::1", ("::1", 514)),
    # A bare address takes no port: its last group belongs to the address.
    ("2001:db8::7:1162", ("2001:db8::7:1162", 514)),
])
def test_host_and_port(text: str, parsed: tuple[str, int]) -> None:
    assert split_host_port(text, 514) == parsed


@pytest.mark.parametrize(("text", "reason"), [
    ("", "no host name or address"),
    ("   ", "no host name or address"),
    (":514", "no host name or address"),
    ("loghost:0", "port '0' is not 1-65535"),
    ("loghost:65536", "port '65536' is not 1-65535"),
    ("loghost:99999", "port '99999' is not 1-65535"),
    ("loghost:-1", "port '-1' is not 1-65535"),
    ("loghost:", "port '' is not 1-65535"),
    ("loghost:syslog", "port 'syslog' is not 1-65535"),
    ("loghost:\u0665\u0661\u0664", "port '\u0665\u0661\u0664' is not 1-65535"),
    ("[::1]:0", "port '0' is not 1-65535"),
    ("[::1]:", "port '' is not 1-65535"),
    ("[::1", "expected [IPv6 address] or [IPv6 address]:port"),
    ("[::1]514", "expected [IPv6 address] or [IPv6 address]:port"),
    ("[]:514", "'' is not an IPv6 address"),
    ("[loghost]:514", "'loghost' is not an IPv6 address"),
    ("[198.51.100.7]:514", "'198.51.100.7' is not an IPv6 address"),
    ("2001:db8::zz", "'2001:db8::zz' is not an IPv6 address; put it in brackets"),
    ("loghost:514:1", "'loghost:514:1' is not an IPv6 address; put it in brackets"),
    ("log host", "'log host' is not a host name or address"),
    ("user@loghost", "'user@loghost' is not a host name or address"),
    ("loghost/path", "'loghost/path' is not a host name or address"),
    ("l\u00f6ghost", "'l\u00f6ghost' is not a host name or address"),
])
def test_bad_host_or_port_says_what(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        split_host_port(text, 514)
    assert str(caught.value).startswith(reason)
