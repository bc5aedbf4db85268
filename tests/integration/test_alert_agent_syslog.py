"""sip-ha-alert, run the way Pacemaker runs it, reaches a real rsyslogd: over
the network the sentence, the severity and the event's fields as RFC 5424
structured data; through a local socket read by imuxsock (as /dev/log is)
the tag, severity and sentence as rsyslog parses syslog(3)'s lines."""

from __future__ import annotations

import re

import pytest

from tests.support.alertlab import run_alert

pytestmark = pytest.mark.integration
FENCED = {"CRM_alert_kind": "fencing", "CRM_alert_node": "node1", "CRM_alert_task": "reboot",
          "CRM_alert_rc": "0", "CRM_alert_desc": "Operation reboot of node1 by node2: OK",
          "CRM_alert_version": "2.1.5"}


@pytest.mark.parametrize("recipient", ["syslog:udp://127.0.0.1:5514",
                                       "syslog:tcp://[::1]:5514"])
def test_fencing_reaches_rsyslog(syslog_lab, recipient):
    netns, receiver = syslog_lab
    before = len(receiver.messages())
    res = run_alert(netns, **FENCED, CRM_alert_recipient=recipient, sipha_syslog_facility="local3")
    assert res.returncode == 0, res.stderr
    got = receiver.wait_for(before + 1)[before]
    assert (got["facility"], got["severity"], got["app-name"], got["msgid"]) == (
        "local3", "warning", "sip-ha-alert", "fencing")
    assert got["msg"].lstrip("\ufeff") == (
        "node node1 was fenced: Operation reboot of node1 by node2: OK")
    assert got["structured-data"].startswith("[sipha@32473 kind=\"fencing\" node=\"node1\"")
    assert 'task="reboot"' in got["structured-data"]


def test_bad_facility_is_reported(syslog_lab):
    netns, receiver = syslog_lab
    before = len(receiver.messages())
    res = run_alert(netns, **FENCED, CRM_alert_recipient="syslog:udp://127.0.0.1:5514",
                    sipha_syslog_facility="pbx")
    assert res.returncode == 1 and "sipha_syslog_facility" in res.stderr
    assert len(receiver.messages()) == before


def test_a_multi_line_description_is_one_line(syslog_lab):
    netns, receiver = syslog_lab
    before = len(receiver.messages())
    res = run_alert(netns, **{**FENCED, "CRM_alert_desc": "Operation reboot\nof node1: OK"},
                    CRM_alert_recipient="syslog:udp://127.0.0.1:5514")
    assert res.returncode == 0, res.stderr
    got = receiver.wait_for(before + 1)[before]
    assert got["msg"].lstrip("\ufeff") == "node node1 was fenced: Operation reboot of node1: OK"
    assert 'description="Operation reboot of node1: OK"' in got["structured-data"]


def test_a_local_socket_gets_what_imuxsock_parses(syslog_lab):
    """syslog:local is syslog:unix:/dev/log; here imuxsock's socket is the
    receiver's own, never this host's /dev/log."""
    netns, receiver = syslog_lab
    before = len(receiver.messages())
    res = run_alert(netns, **FENCED, CRM_alert_recipient=f"syslog:unix:{receiver.socket}",
                    sipha_syslog_facility="local3")
    assert res.returncode == 0, res.stderr
    got = receiver.wait_for(before + 1)[before]
    assert got["inputname"] == "imuxsock"
    assert (got["facility"], got["severity"], got["programname"]) == (
        "local3", "warning", "sip-ha-alert")
    assert re.fullmatch(r"sip-ha-alert\[[0-9]+\]:", got["syslogtag"]), got
    assert got["procid"] == got["syslogtag"][len("sip-ha-alert["):-2]
    assert got["msg"].strip() == "node node1 was fenced: Operation reboot of node1 by node2: OK"


def test_a_failed_operation_reaches_imuxsock_as_err(syslog_lab):
    netns, receiver = syslog_lab
    before = len(receiver.messages())
    res = run_alert(netns, CRM_alert_kind="resource", CRM_alert_node="node2",
                    CRM_alert_rsc="pbx-asterisk", CRM_alert_task="monitor",
                    CRM_alert_interval="3000", CRM_alert_rc="7", CRM_alert_target_rc="8",
                    CRM_alert_status="0", CRM_alert_desc="not running \u2013 \u00fc",
                    CRM_alert_recipient=f"syslog:unix:{receiver.socket}")
    assert res.returncode == 0, res.stderr
    got = receiver.wait_for(before + 1)[before]
    assert (got["facility"], got["severity"], got["programname"]) == (
        "daemon", "err", "sip-ha-alert")
    assert got["msg"].strip() == ("pbx-asterisk monitor (every 3s) FAILED on node2: not running "
                                  "\u2013 \u00fc (rc 7 not running, expected 8 running (promoted))")
