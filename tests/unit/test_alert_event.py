"""What the alert agent makes of Pacemaker's CRM_alert_* variables: which
events reach an operator, and the sentence they read."""

from __future__ import annotations

import dataclasses

import pytest

from sip_ha.alert.event import Event, EventError


def resource(task: str, rc: int, target_rc: int, status: int = 0, interval: int = 0,
             desc: str = "ok") -> Event:
    return Event.from_env({"CRM_alert_kind": "resource", "CRM_alert_node": "node1",
                           "CRM_alert_rsc": "pbx-asterisk", "CRM_alert_task": task,
                           "CRM_alert_rc": str(rc), "CRM_alert_target_rc": str(target_rc),
                           "CRM_alert_status": str(status), "CRM_alert_interval": str(interval),
                           "CRM_alert_desc": desc, "CRM_alert_recipient": "ops@example.org"})


def test_lost_node_is_critical_and_named():
    event = Event.from_env({"CRM_alert_kind": "node", "CRM_alert_node": "node2",
                            "CRM_alert_desc": "lost", "CRM_alert_nodeid": "2"})
    assert event.severity == "crit"
    assert event.summary() == "node node2 left the cluster (lost)"
    assert event.wanted("notice") and event.wanted("crit") and not event.wanted("alert")


def test_rejoined_node_is_a_notice():
    event = Event.from_env({"CRM_alert_kind": "node", "CRM_alert_node": "node2",
                            "CRM_alert_desc": "member"})
    assert (event.severity, event.summary()) == ("notice", "node node2 joined the cluster")


def test_failed_monitor_names_resource_node_and_result():
    event = resource("monitor", 7, 8, interval=3000, desc="not running")
    assert event.failed and event.severity == "err"
    assert event.summary() == ("pbx-asterisk monitor (every 3s) FAILED on node1: not running "
                               "(rc 7 not running, expected 8 running (promoted))")


def test_a_crash_reported_at_once_says_so_not_asyncmon_alone():
    event = resource("asyncmon", 1, 0, desc="error")
    assert event.failed and event.severity == "err"
    assert event.summary() == ("pbx-asterisk FAILED on node1: its server exited unasked "
                               "(reported at once, Pacemaker's asyncmon): error (rc 1 generic "
                               "error, expected 0 ok)")


def test_timed_out_operation_is_a_failure_even_with_matching_rc():
    event = resource("stop", 0, 0, status=3, desc="Timed Out")
    assert event.failed and event.severity == "err"
    assert "FAILED on node1: Timed Out" in event.summary()


def test_promote_is_a_notice_start_is_info_probe_is_debug():
    promote = resource("promote", 0, 0)
    assert promote.severity == "notice"
    assert promote.summary() == "pbx-asterisk promoted on node1"
    assert resource("start", 0, 0).severity == "info"
    probe = resource("monitor", 7, 7, desc="not running")
    assert probe.is_probe and not probe.failed and probe.severity == "debug"
    assert not probe.wanted("info")


def test_unexpected_probe_result_is_reported():
    probe = resource("monitor", 0, 7)
    assert probe.failed and probe.wanted("notice")


def test_fencing_success_is_a_warning_failure_critical():
    # As Pacemaker 2.1 sends it (the task is the notification's name).
    done = Event.from_env({"CRM_alert_kind": "fencing", "CRM_alert_node": "node1",
                           "CRM_alert_task": "st_notify_fence", "CRM_alert_rc": "0",
                           "CRM_alert_desc": "Operation reboot of node1 by node2: OK "
                                             "(ref=2fe3ab29-1bc4-490c-8107-812fd6725d8b)"})
    assert done.severity == "warning"
    assert done.summary() == "node node1 was fenced: Operation reboot of node1 by node2: OK"
    failed = Event.from_env({"CRM_alert_kind": "fencing", "CRM_alert_node": "node1",
                             "CRM_alert_task": "reboot", "CRM_alert_rc": "1",
                             "CRM_alert_desc": "No route to host"})
    assert failed.severity == "crit"
    assert failed.summary() == "fencing of node1 FAILED: No route to host"


def test_details_leave_out_what_pacemaker_did_not_give():
    details = resource("promote", 0, 0).details()
    assert details["resource"] == "pbx-asterisk" and details["severity"] == "notice"
    assert "attribute" not in details and "interval_ms" not in details


def test_not_an_alert_is_an_error():
    with pytest.raises(EventError, match="CRM_alert_kind"):
        Event.from_env({})
    with pytest.raises(EventError, match="CRM_alert_rc='x'"):
        Event.from_env({"CRM_alert_kind": "resource", "CRM_alert_rc": "x"})


def test_a_cancelled_monitor_is_not_a_failure():
    # Seen in the demo: a role change cancels the recurring monitor (status 2).
    event = resource("monitor", 0, 0, status=2, interval=31000, desc="Cancelled")
    assert not event.failed and event.severity == "debug"


def test_a_service_address_moving_is_a_notice():
    started = dataclasses.replace(resource("start", 0, 0), rsc="pbx-ip", key=True)
    assert started.severity == "notice"
    assert started.summary() == ("SIP service address pbx-ip started on node1: "
                                 "SIP-ACTIVE there now")
    stopped = dataclasses.replace(resource("stop", 0, 0), rsc="pbx-ip", key=True)
    assert (stopped.severity, stopped.summary()) == (
        "notice", "SIP service address pbx-ip stopped on node1")
    failed = dataclasses.replace(resource("start", 1, 0, desc="error"), rsc="pbx-ip", key=True)
    assert failed.severity == "err" and "FAILED" in failed.summary()


def test_a_test_reaches_every_recipient_whatever_the_threshold():
    event = Event.from_env({"CRM_alert_kind": "test", "CRM_alert_node": "node1"})
    assert event.wanted("crit") and event.severity == "notice"
    assert event.summary() == "test notification from node1: this recipient gets SIP-HA alerts"


def test_control_characters_become_spaces():
    event = resource("monitor", 7, 0, interval=10000,
                     desc="not running\r\nBcc: x@example.org\x1b[31m\x85\u2028done\t")
    assert event.desc == "not running Bcc: x@example.org [31m done"
    assert event.summary() == ("pbx-asterisk monitor (every 10s) FAILED on node1: not running "
                               "Bcc: x@example.org [31m done (rc 7 not running, expected 0 ok)")
    node = Event.from_env({"CRM_alert_kind": "node", "CRM_alert_node": "\nnode2\x00",
                           "CRM_alert_desc": "lost"})
    assert node.node == "node2"
