"""The alert agent's syslog channel against a real rsyslogd: format_rfc5424 +
send_syslog run inside an AlertNetns, over UDP and TCP, IPv4 and IPv6, and
rsyslog's own RFC 5424 parser says what arrived."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.support import rsyslog
from tests.support.alertlab import AlertNetns
from tests.support.rsyslog import SyslogReceiver

pytestmark = pytest.mark.integration
WHEN = "2024-05-01T12:30:45.000123+02:00"
# Runs in the namespace: the arguments of format_rfc5424 and the target come
# as JSON on stdin; the payload sent goes to stdout in hex.
SENDER = """\
import json, sys
from datetime import datetime
from sip_ha.alert.errors import AlertError
from sip_ha.alert.syslog import format_rfc5424, send_syslog
args = json.load(sys.stdin)
target = args.pop("target")
when = datetime.fromisoformat(args.pop("when"))
payload = format_rfc5424(**args, when=when)
try:
    send_syslog(target, payload, timeout=5)
except AlertError as err:
    sys.exit(f"AlertError: {err}")
sys.stdout.write(payload.hex())
"""
MESSAGE = "Knoten pbx1 verloren \u2013 Z\u00fcrich \u2713 \u96fb\u8a71 \U0001f4de"
DATA = {"kind": "node", "node": "pbx1", "desc": 'lost "quorum" [partition] C:\\ha'}


def send(netns: AlertNetns, target: str, **args: object) -> bytes:
    """format_rfc5424(ARGS) sent to TARGET from inside the namespace: the payload."""
    fields = {"facility": "local0", "severity": "warning", "hostname": "pbx1.example.org",
              "app": "sip-ha-alert", "msgid": "node", "message": MESSAGE, "data": DATA,
              "when": WHEN, **args}
    res = netns.run([sys.executable, "-c", SENDER], env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
                    input=json.dumps({"target": target, **fields}), timeout=30)
    assert res.returncode == 0, res.stderr
    return bytes.fromhex(res.stdout)


def arrived(receiver: SyslogReceiver, before: int, procid: str, n: int = 1) -> list[dict]:
    """The messages with PROCID once N messages came after the first BEFORE."""
    return [m for m in receiver.wait_for(before + n)[before:] if m["procid"] == procid]


def parse_sd(text: str) -> tuple[str, dict[str, str]]:
    """``[id k="v" ...]`` (one element) undone: the SD-ID and the unescaped values."""
    assert text.startswith("[") and text.endswith("]"), text
    sd_id, _, rest = text[1:-1].partition(" ")
    params: dict[str, str] = {}
    while rest:
        name, _, rest = rest.partition('="')
        value, i = [], 0
        while rest[i] != '"':
            if rest[i] == "\\" and rest[i + 1] in '"\\]':
                i += 1
            value.append(rest[i])
            i += 1
        params[name] = "".join(value)
        rest = rest[i + 1:].removeprefix(" ")
    return sd_id, params


@pytest.mark.parametrize(("target", "inputname", "peer"), [
    ("udp://127.0.0.1:5514", "imudp", "127.0.0.1"),
    ("tcp://[::1]:5514", "imtcp", "::1"),
    ("udp://[::1]:5514", "imudp", "::1"),
    ("tcp://127.0.0.1:5514", "imtcp", "127.0.0.1"),
])
def test_rsyslog_parses_what_was_sent(syslog_lab, target: str, inputname: str, peer: str):
    netns, receiver = syslog_lab
    before = len(receiver.messages())
    procid = f"{inputname}-{len(peer)}"
    payload = send(netns, target, procid=procid)
    assert payload.startswith(b"<132>1 ") and b"\xef\xbb\xbf" + MESSAGE.encode() in payload
    [got] = arrived(receiver, before, procid)
    assert got == {
        "timereported": WHEN, "pri": "132", "facility": "local0", "severity": "warning",
        "version": "1", "hostname": "pbx1.example.org", "app-name": "sip-ha-alert",
        "syslogtag": f"sip-ha-alert[{procid}]", "programname": "sip-ha-alert",
        "procid": procid, "msgid": "node",
        "structured-data": '[sipha@32473 kind="node" node="pbx1" '
                           'desc="lost \\"quorum\\" [partition\\] C:\\\\ha"]',
        "msg": "\ufeff" + MESSAGE,  # rsyslog keeps RFC 5424's BOM in the message
        "inputname": inputname, "fromhost-ip": peer,
    }
    assert parse_sd(got["structured-data"]) == ("sipha@32473", DATA)


@pytest.mark.parametrize(("facility", "severity", "pri"), [
    ("kern", "emerg", "0"), ("daemon", "crit", "26"), ("local7", "debug", "191"),
])
def test_facility_and_severity(syslog_lab, facility: str, severity: str, pri: str):
    netns, receiver = syslog_lab
    before = len(receiver.messages())
    send(netns, "udp://127.0.0.1:5514", facility=facility, severity=severity, procid=pri)
    [got] = arrived(receiver, before, pri)
    assert (got["pri"], got["facility"], got["severity"]) == (pri, facility, severity)


def test_nilvalues(syslog_lab):
    netns, receiver = syslog_lab
    before = len(receiver.messages())
    send(netns, "tcp://127.0.0.1:5514", hostname="", app="", msgid="", message="", data={},
         procid=None)
    [got] = arrived(receiver, before, "-")
    assert {k: got[k] for k in ("hostname", "app-name", "msgid", "structured-data", "msg")} == {
        "hostname": "-", "app-name": "-", "msgid": "-", "structured-data": "-", "msg": ""}


@pytest.mark.parametrize("target", ["tcp://[::1]:5514", "tcp://127.0.0.1:5514"])
def test_long_message_over_tcp_arrives_whole(syslog_lab, target: str):
    netns, receiver = syslog_lab
    before = len(receiver.messages())
    message = (MESSAGE + " ") * 150
    payload = send(netns, target, message=message, procid="long")
    assert 2048 < len(payload) < rsyslog.MAX_MESSAGE_SIZE
    # a marker after it: had rsyslog cut the long one, the rest would arrive as a
    # message of its own, without procid "long"
    send(netns, target, message="after", procid="marker")
    new = receiver.wait_for(before + 2)[before:]
    assert sorted(m["procid"] for m in new) == ["long", "marker"]
    [got] = [m for m in new if m["procid"] == "long"]
    assert got["msg"] == "\ufeff" + message
    assert got["inputname"] == "imtcp"


def test_nobody_listening_is_an_alert_error(syslog_lab):
    netns, _ = syslog_lab
    res = netns.run([sys.executable, "-c", SENDER], env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
                    input=json.dumps({"target": "tcp://127.0.0.1:5515", "facility": "daemon",
                                      "severity": "err", "hostname": "h", "app": "a",
                                      "msgid": "m", "message": "x", "data": {},
                                      "when": WHEN}), timeout=30)
    assert res.returncode == 1
    assert "AlertError: syslog to tcp://127.0.0.1:5515: Connection refused" in res.stderr


def test_receiver_files_stay_in_its_folder(syslog_lab):
    _, receiver = syslog_lab
    folder: Path = receiver.folder
    assert receiver.pidfile.read_text().strip() == str(receiver.proc.pid)
    assert {p.name for p in folder.iterdir()} >= {"rsyslog.conf", "messages.jsonl", "work"}
    conf = receiver.conf.read_text()
    # imuxsock reads its own socket in the folder, never the system one (/dev/log)
    assert 'module(load="imuxsock" SysSock.Use="off")' in conf
    assert f'input(type="imuxsock" socket="{folder}/log.sock"' in conf
    assert receiver.socket.is_socket()
    assert "imklog" not in receiver.conf.read_text()


def test_imuxsock_misreads_rfc5424(syslog_lab):
    """Why a local socket gets syslog(3)'s form: imuxsock, as it reads /dev/log,
    takes RFC 5424's version digit for the tag and the rest for the message."""
    netns, receiver = syslog_lab
    before = len(receiver.messages())
    send(netns, f"unix:{receiver.socket}", procid="5424")
    got = receiver.wait_for(before + 1)[before]
    assert (got["inputname"], got["syslogtag"], got["procid"]) == ("imuxsock", "1", "-")
    assert got["msg"].startswith(f" {WHEN} pbx1.example.org sip-ha-alert 5424 node [sipha@")
