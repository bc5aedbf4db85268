"""`sip-ha test-alerts` learns each recipient's outcome from the agent's own
send(), as the agent's exit code and stderr line would tell it; no network:
the recipients are unix sockets of the test's."""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path

from cib_templates import params
from sip_ha import alert_test
from sip_ha.alert import agent

EXAMPLE = Path(params.__file__).parent / "example.toml"
LOST = {"CRM_alert_kind": "node", "CRM_alert_node": "node2", "CRM_alert_desc": "lost",
        "CRM_alert_recipient": "pager-42"}


def test_send_returns_the_reason_that_run_prints(capsys):
    reason = agent.send(LOST)
    assert reason is not None and reason.startswith("recipient 'pager-42': expected")
    assert agent.run(LOST) == 1
    assert capsys.readouterr().err == f"sip-ha-alert: {reason}\n"
    assert agent.send({**LOST, "CRM_alert_recipient": ""}) is None


def test_each_recipient_sent_or_why_not(tmp_path, capsys):
    listening, missing = tmp_path / "log", tmp_path / "missing"
    raw = tomllib.loads(EXAMPLE.read_text())
    raw["alerts"]["recipients"] = [f"syslog:unix:{listening}", f"syslog:unix:{missing}"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(listening))
        results = alert_test.send_tests(params.parse(raw), node="node1")
        assert b"test notification from node1" in sock.recv(65536)
    assert results == [(f"syslog:unix:{listening}", "sent"),
                       (f"syslog:unix:{missing}",
                        f"syslog to unix:{missing}: No such file or directory")]
    assert capsys.readouterr() == ("", "")
