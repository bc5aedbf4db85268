"""sip-ha-alert, run the way Pacemaker runs it, sends a PACEMAKER-MIB trap
that net-snmp's snmptrapd receives with the event's node, resource, task,
result and return codes."""

from __future__ import annotations

import pytest

from sip_ha.alert import snmp
from tests.support.alertlab import run_alert

pytestmark = pytest.mark.integration
FAILED = {"CRM_alert_kind": "resource", "CRM_alert_node": "node1",
          "CRM_alert_rsc": "pbx-asterisk", "CRM_alert_task": "monitor",
          "CRM_alert_interval": "3000", "CRM_alert_rc": "7", "CRM_alert_target_rc": "8",
          "CRM_alert_status": "0", "CRM_alert_desc": "not running"}



def test_failed_monitor_trap(trap_lab):
    netns, receiver = trap_lab
    before = len(receiver.traps())
    res = run_alert(netns, **FAILED, CRM_alert_recipient="snmp://127.0.0.1:1162",
                    sipha_snmp_community="public")
    assert res.returncode == 0, res.stderr
    trap = receiver.wait_for_traps(before + 1)[before]
    assert trap[snmp.SNMP_TRAP_OID_OID] == snmp.PACEMAKER_TRAP_OID
    assert (trap[snmp.PCMK_NODE_OID], trap[snmp.PCMK_RESOURCE_OID],
            trap[snmp.PCMK_OPERATION_OID], trap[snmp.PCMK_DESCRIPTION_OID]) == (
        "node1", "pbx-asterisk", "monitor", "not running")
    assert (trap[snmp.PCMK_STATUS_OID], trap[snmp.PCMK_RETURN_CODE_OID],
            trap[snmp.PCMK_TARGET_RETURN_CODE_OID]) == ("0", "7", "8")


def test_node_loss_trap_over_ipv6_describes_the_event(trap_lab):
    netns, receiver = trap_lab
    before = len(receiver.traps())
    res = run_alert(netns, CRM_alert_kind="node", CRM_alert_node="node2",
                    CRM_alert_recipient="snmp://[::1]:1162", sipha_snmp_community="public")
    assert res.returncode == 0, res.stderr
    trap = receiver.wait_for_traps(before + 1)[before]
    assert trap[snmp.PCMK_NODE_OID] == "node2"
    assert trap[snmp.PCMK_DESCRIPTION_OID] == "node node2 left the cluster (lost)"


def test_wrong_community_is_not_accepted_by_the_receiver(trap_lab):
    netns, receiver = trap_lab
    before = len(receiver.traps())
    res = run_alert(netns, **FAILED, CRM_alert_recipient="snmp://127.0.0.1:1162",
                    sipha_snmp_community="private")
    assert res.returncode == 0, res.stderr  # UDP: the agent cannot know
    res = run_alert(netns, **FAILED, CRM_alert_recipient="snmp://127.0.0.1:1162",
                    sipha_snmp_community="public")
    receiver.wait_for_traps(before + 1)
    assert len(receiver.traps()) == before + 1


def test_long_and_multi_line_text_fits_the_mib(trap_lab):
    netns, receiver = trap_lab
    before = len(receiver.traps())
    res = run_alert(netns, **{**FAILED, "CRM_alert_node": "n" * 70,
                              "CRM_alert_desc": "not running\n" + "x" * 300},
                    CRM_alert_recipient="snmp://127.0.0.1:1162", sipha_snmp_community="public")
    assert res.returncode == 0, res.stderr
    trap = receiver.wait_for_traps(before + 1)[before]
    assert trap[snmp.PCMK_NODE_OID] == "n" * 64
    assert trap[snmp.PCMK_DESCRIPTION_OID] == ("not running " + "x" * 300)[:256]
