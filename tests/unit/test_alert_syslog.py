"""The syslog channel of the alert agent: RFC 5424 formatting, target parsing,
and sending to a local socket (no network: a receiver in tmp_path)."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from sip_ha.alert import syslog
from sip_ha.alert.errors import AlertError
from sip_ha.alert.syslog import (
    SyslogTarget,
    format_local,
    format_rfc5424,
    parse_target,
    send_syslog,
)

BOM = b"\xef\xbb\xbf"
WHEN = datetime(2024, 5, 1, 12, 30, 45, 123, tzinfo=timezone(timedelta(hours=2)))


def fmt(facility: str = "daemon", severity: str = "info", hostname: str = "pbx1",
        app: str = "sip-ha-alert", msgid: str = "node", message: str = "hello",
        data: dict[str, str] | None = None, **kwargs: object) -> bytes:
    kwargs.setdefault("when", WHEN)
    return format_rfc5424(facility, severity, hostname, app, msgid, message,
                          {} if data is None else data, **kwargs)  # type: ignore[arg-type]


def header(payload: bytes) -> list[str]:
    """PRI+VERSION, TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID."""
    return payload.decode("ascii", errors="replace").split(" ", 6)[:6]


def test_local_form_is_what_syslog3_writes(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        payload = format_local("local0", "warning", "sip-ha-alert",
                               "Knoten verloren \u2013 \u00fc", when=WHEN, pid=4242)
        assert payload == ("<132>May  1 10:30:45 sip-ha-alert[4242]: Knoten verloren "
                           "\u2013 \u00fc").encode()
        december = datetime(2024, 12, 24, 9, 5, 0, tzinfo=UTC)
        assert format_local("daemon", "err", "t", "m", when=december, pid=1) == (
            b"<27>Dec 24 09:05:00 t[1]: m")
    finally:
        monkeypatch.undo()
        time.tzset()


def test_local_form_keeps_one_line_and_a_clean_tag():
    payload = format_local("daemon", "info", "sip ha:alert[x]", "a\nb\r\x1b[0m\u2028c", pid=7)
    assert re.fullmatch(rb"<30>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d sip_ha_alert_x_\[7\]: "
                        rb"a b  \[0m c", payload), payload
    assert format_local("daemon", "info", "", "m", pid=7).split(b" ")[-2] == b"-[7]:"
    assert re.search(rb" t\[\d+\]: m$", format_local("daemon", "info", "t", "m"))
    with pytest.raises(ValueError, match="facility"):
        format_local("local8", "info", "t", "m")


def test_whole_message():
    payload = fmt("local0", "warning", "pbx1.example.org", "sip-ha-alert", "resource",
                  "asterisk stopped on pbx1", {"kind": "resource", "node": "pbx1"},
                  procid="4242")
    assert payload == (b'<132>1 2024-05-01T12:30:45.000123+02:00 pbx1.example.org sip-ha-alert '
                       b'4242 resource [sipha@32473 kind="resource" node="pbx1"] '
                       + BOM + b"asterisk stopped on pbx1")


@pytest.mark.parametrize(("facility", "severity", "pri"), [
    ("kern", "emerg", 0),
    ("user", "notice", 13),
    ("mail", "alert", 17),
    ("daemon", "info", 30),
    ("auth", "crit", 34),
    ("authpriv", "err", 83),
    ("local0", "warning", 132),
    ("local7", "debug", 191),
    ("LOCAL3", "Notice", 157),          # names as syslog.conf writes them, any case
    ("daemon", "warn", 28),             # the aliases syslog(3) and logger(1) accept
    ("daemon", "error", 27),
    ("daemon", "panic", 24),
])
def test_pri(facility: str, severity: str, pri: int):
    assert fmt(facility, severity).startswith(b"<%d>1 " % pri)


@pytest.mark.parametrize(("facility", "severity"), [
    ("local8", "info"), ("", "info"), ("none", "info"), ("3", "info"),
    ("daemon", "verbose"), ("daemon", ""), ("daemon", "none"), ("daemon", "6"),
])
def test_bad_facility_or_severity(facility: str, severity: str):
    with pytest.raises(ValueError, match="facility" if severity in syslog.SEVERITIES
                       else "severity"):
        fmt(facility, severity)


@pytest.mark.parametrize(("when", "text"), [
    (WHEN, "2024-05-01T12:30:45.000123+02:00"),
    (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "2024-01-02T03:04:05.000000Z"),
    (datetime(2024, 1, 2, 3, 4, 5, 999999, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
     "2024-01-02T03:04:05.999999-05:30"),
    # RFC 3339 has no seconds in offsets: such a time is written in UTC
    (datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(minutes=53, seconds=28))),
     "2024-01-02T02:10:37.000000Z"),
])
def test_timestamp(when: datetime, text: str):
    assert header(fmt(when=when))[1] == text


def test_naive_time_is_local_time():
    naive = datetime(2024, 7, 1, 8, 0, 0)
    stamp = header(fmt(when=naive))[1]
    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")) == naive.astimezone()


def test_default_time_is_now():
    before = datetime.now(UTC)
    stamp = header(format_rfc5424("daemon", "info", "h", "a", "m", "x", {}))[1]
    sent = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert sent.utcoffset() is not None
    assert before - timedelta(seconds=1) <= sent <= datetime.now(UTC) + timedelta(seconds=1)


def test_nilvalue_for_empty_fields():
    payload = fmt(hostname="", app="", msgid="", message="", data={})
    assert payload == b"<30>1 2024-05-01T12:30:45.000123+02:00 - - - - -"
    assert header(fmt(procid=""))[4] == "-"
    assert header(fmt(procid="17"))[4] == "17"


def test_empty_message_has_no_bom_nor_trailing_space():
    assert fmt(message="", data={"a": "b"}).endswith(b'[sipha@32473 a="b"]')


@pytest.mark.parametrize(("field", "index", "limit"), [
    ("hostname", 2, 255), ("app", 3, 48), ("procid", 4, 128), ("msgid", 5, 32),
])
def test_header_fields_are_cut_to_the_rfc_lengths(field: str, index: int, limit: int):
    value = "x" * (limit - 1) + "yz"
    assert header(fmt(**{field: value}))[index] == "x" * (limit - 1) + "y"
    assert header(fmt(**{field: "x" * limit}))[index] == "x" * limit


def test_header_fields_are_printable_ascii():
    fields = header(fmt(hostname="node 1", app="sip\tha", msgid="kn\u00f6ten", procid="1\n2"))
    assert fields[2:] == ["node_1", "sip_ha", "1_2", "kn_ten"]
    assert fmt(hostname="n\u00f6de", message="").isascii()


def test_structured_data_escaping():
    payload = fmt(data={"desc": 'say "hi"', "path": "C:\\temp", "set": "[a]", "all": '\\"]'})
    sd = payload.split(b" ", 6)[6].removesuffix(b" " + BOM + b"hello")
    assert sd == (b'[sipha@32473 desc="say \\"hi\\"" path="C:\\\\temp" set="[a\\]" '
                  b'all="\\\\\\"\\]"]')


def test_structured_data_values_are_utf8():
    payload = fmt(data={"node": "z\u00fcrich-\u2603"}, message="")
    assert payload.endswith('[sipha@32473 node="z\u00fcrich-\u2603"]'.encode())


def test_own_sd_id():
    assert b"[origin@1 a=" in fmt(sd_id="origin@1", data={"a": "b"})


@pytest.mark.parametrize(("sd_id", "data"), [
    ("", {"a": "b"}),
    ("has space@1", {"a": "b"}),
    ("eq=1@1", {"a": "b"}),
    ('quote"@1', {"a": "b"}),
    ("bracket]@1", {"a": "b"}),
    ("x" * 33, {"a": "b"}),
    ("n\u00f6@1", {"a": "b"}),
    ("sipha@32473", {"": "b"}),
    ("sipha@32473", {"two words": "b"}),
    ("sipha@32473", {"k=v": "b"}),
    ("sipha@32473", {"x" * 33: "b"}),
])
def test_bad_sd_names(sd_id: str, data: dict[str, str]):
    with pytest.raises(ValueError, match="structured data"):
        fmt(sd_id=sd_id, data=data)


def test_non_ascii_message_is_utf8_after_a_bom():
    message = "Knoten pbx1 verloren \u2013 Z\u00fcrich \u2713 \U0001f4de"
    payload = fmt(message=message)
    assert payload.endswith(b" sip-ha-alert - node - " + BOM + message.encode("utf-8"))
    assert payload.split(b" - ")[-1].decode("utf-8-sig") == message


def test_undecodable_environment_text_is_replaced():
    # os.environ hands bytes that are not UTF-8 over as surrogate escapes
    message = b"caf\xe9".decode("utf-8", errors="surrogateescape")
    payload = fmt(message=message, data={"v": message})
    assert payload.endswith(b'[sipha@32473 v="caf?"] ' + BOM + b"caf?")


@pytest.mark.parametrize(("target", "parsed"), [
    ("udp://127.0.0.1", SyslogTarget("udp", "127.0.0.1", 514)),
    ("udp://127.0.0.1:5514", SyslogTarget("udp", "127.0.0.1", 5514)),
    ("tcp://loghost.example.org:6514", SyslogTarget("tcp", "loghost.example.org", 6514)),
    ("tcp://log_host-1", SyslogTarget("tcp", "log_host-1", 514)),
    ("udp://[::1]:5514", SyslogTarget("udp", "::1", 5514)),
    ("tcp://[2001:db8::10]", SyslogTarget("tcp", "2001:db8::10", 514)),
    ("udp://[fe80::1%eth0]:514", SyslogTarget("udp", "fe80::1%eth0", 514)),
    ("udp://2001:db8::10", SyslogTarget("udp", "2001:db8::10", 514)),  # as SNMP and SMTP take it
    ("unix:/dev/log", SyslogTarget("unix", path="/dev/log")),
    ("unix:/run/systemd/journal/dev-log",
     SyslogTarget("unix", path="/run/systemd/journal/dev-log")),
    ("UDP://LogHost", SyslogTarget("udp", "LogHost", 514)),
])
def test_parse_target(target: str, parsed: SyslogTarget):
    assert parse_target(target) == parsed


@pytest.mark.parametrize("target", [
    "", "loghost", "loghost:514", "syslog://loghost", "http://loghost", "udp:loghost",
    "udp:/loghost", "udp://", "udp://:514", "tcp://loghost:", "tcp://loghost:0",
    "tcp://loghost:65536", "tcp://loghost:http", "tcp://loghost:\u0665\u0661\u0664",
    "udp://::1:zz", "udp://[::1", "udp://[::1]514", "udp://[loghost]:514",
    "udp://[127.0.0.1]:514", "udp://user@loghost", "udp://loghost/path", "udp://loghost?x",
    "udp://log host", "udp://l\u00f6ghost", "unix:", "unix:dev/log", "unix:/dev/\0log",
    "unix", "tcp",
])
def test_bad_targets(target: str):
    with pytest.raises(AlertError) as caught:
        parse_target(target)
    assert repr(target) in str(caught.value)


def test_send_to_bad_target_names_it():
    with pytest.raises(AlertError, match=r"'udp://\[::1\]:0'"):
        send_syslog("udp://[::1]:0", b"x")


@pytest.fixture
def dgram_receiver(tmp_path: Path) -> Iterator[tuple[socket.socket, Path]]:
    path = tmp_path / "log"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        yield sock, path


def test_unix_datagram_receives_the_exact_bytes(dgram_receiver: tuple[socket.socket, Path]):
    sock, path = dgram_receiver
    payload = fmt("local0", "err", message="Knoten verloren \u2013 \u00fc",
                  data={"node": "pbx1"}, procid="77")
    send_syslog(f"unix:{path}", payload)
    assert sock.recv(65536) == payload
    big = fmt(message="y" * 6000)
    send_syslog(f"unix:{path}", big)
    assert sock.recv(65536) == big


def test_unix_stream_socket_gets_the_message_and_a_nul(tmp_path: Path):
    path = tmp_path / "log"
    payload = fmt(message="over a stream socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)
        server.settimeout(5)
        send_syslog(f"unix:{path}", payload)
        conn, _ = server.accept()
        with conn:
            conn.settimeout(5)
            received = b""
            while chunk := conn.recv(65536):
                received += chunk
    assert received == payload + b"\0"


def test_unix_socket_missing(tmp_path: Path):
    target = f"unix:{tmp_path / 'nothing'}"
    with pytest.raises(AlertError, match=re.escape(f"syslog to {target}: No such file")):
        send_syslog(target, b"x")


def test_unix_socket_nobody_listens(tmp_path: Path):
    path = tmp_path / "stale"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
    target = f"unix:{path}"
    with pytest.raises(AlertError,
                       match=re.escape(f"syslog to {target}: Connection refused")):
        send_syslog(target, b"x")


def test_unix_full_receiver_times_out(dgram_receiver: tuple[socket.socket, Path]):
    _, path = dgram_receiver
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as filler:
        filler.connect(str(path))
        filler.setblocking(False)
        with pytest.raises(BlockingIOError):  # until the receiver's queue is full
            for _ in range(100_000):
                filler.send(b"x" * 1024)
    started = time.monotonic()
    with pytest.raises(AlertError, match=r"syslog to unix:.*: timed out after 0.3 s"):
        send_syslog(f"unix:{path}", b"x", timeout=0.3)
    assert 0.25 < time.monotonic() - started < 2


def test_name_lookup_has_a_deadline(monkeypatch: pytest.MonkeyPatch):
    def slow_getaddrinfo(host: str, *args: object, **kwargs: object) -> list[object]:
        if kwargs.get("flags", 0) & socket.AI_NUMERICHOST:
            raise socket.gaierror(socket.EAI_NONAME, "not numeric")
        time.sleep(2)
        return []

    monkeypatch.setattr(syslog.socket, "getaddrinfo", slow_getaddrinfo)
    started = time.monotonic()
    with pytest.raises(AlertError,
                       match=re.escape("syslog to udp://loghost.invalid: timed out after 0.2 s")):
        send_syslog("udp://loghost.invalid", b"x", timeout=0.2)
    assert time.monotonic() - started < 1.5


def test_name_lookup_failure(monkeypatch: pytest.MonkeyPatch):
    def failing_getaddrinfo(host: str, *args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(syslog.socket, "getaddrinfo", failing_getaddrinfo)
    with pytest.raises(AlertError, match=r"syslog to tcp://loghost.invalid:6514: cannot "
                                         r"resolve loghost.invalid: .*not known"):
        send_syslog("tcp://loghost.invalid:6514", b"x")
