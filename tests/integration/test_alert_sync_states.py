"""Sync and replication alerts as Pacemaker sends them: sip-ha-alert run with
the node-attribute events the filesync monitor (and mysql-mm, sip-ha failback
--force) cause, received by a real SMTP server, rsyslogd and snmptrapd.

Pacemaker runs the alert when a selected attribute's value changes, so what
the monitor publishes decides what is sent: a change of state, a reminder,
never a retry (the monitor keeps the value while the state stays)."""

from __future__ import annotations

import pytest

from sip_ha.alert import snmp
from tests.support.alertlab import run_alert

pytestmark = pytest.mark.integration
SYNC = "sipha-pbx-filesync-node2-sync"
REMINDER = "sipha-pbx-filesync-node2-reminder"


def attribute(name: str, value: str, node: str = "node1") -> dict[str, str]:
    return {"CRM_alert_kind": "attribute", "CRM_alert_node": node,
            "CRM_alert_attribute_name": name, "CRM_alert_attribute_value": value,
            "CRM_alert_timestamp": "2026-11-30 09:30:01.000000", "CRM_alert_version": "2.1.5"}


def test_one_mail_per_change_of_sync_state_and_per_reminder(alert_netns, mail_receiver):
    changes = [(SYNC, "behind"),                        # at every promote: info, not sent
               (SYNC, "failing"),
               (REMINDER, "failing since 2026-11-30T09:30:01Z, reminder 1"),
               (SYNC, "ok"),
               (REMINDER, "")]                          # removed with the state: not sent
    for name, value in changes:
        res = run_alert(alert_netns, **attribute(name, value), sipha_cluster="pbx-cluster",
                        CRM_alert_recipient="ops@example.org",
                        sipha_smtp_server=mail_receiver.address)
        assert res.returncode == 0, res.stderr
    mails = mail_receiver.wait_for(3)
    assert [m["Subject"] for m in mails] == [
        "[sip-ha pbx-cluster] ERR: file sync of pbx from node1 to node2: FAILING: changes "
        "made on node1 do not reach node2 ('sip-ha status' says why)",
        "[sip-ha pbx-cluster] ERR: file sync of pbx from node1 to node2: still failing since "
        "2026-11-30T09:30:01Z, reminder 1",
        "[sip-ha pbx-cluster] NOTICE: file sync of pbx from node1 to node2: in sync: "
        "everything delivered to node2 and compared whole"]
    text = mails[0].get_content()
    assert f"Attribute:   {SYNC}\n" in text and "Value:       failing\n" in text


def test_one_mail_per_change_of_replica_state_and_per_reminder(alert_netns, mail_receiver):
    """What ocf:sipha:mysql-mm's monitor publishes while a replica lags for
    over an hour (its reminder_interval), then catches up."""
    state, reminder = "sipha-mysql-pbx-db-replication", "sipha-mysql-pbx-db-reminder"
    changes = [(state, "lagging"),
               (reminder, "lagging since 2026-11-30T09:30:01Z, reminder 1"),
               (reminder, "lagging since 2026-11-30T09:30:01Z, reminder 2"),
               (state, "ok"),
               (reminder, "")]                          # removed with the state: not sent
    for name, value in changes:
        res = run_alert(alert_netns, **attribute(name, value, node="node2"),
                        sipha_cluster="pbx-cluster", CRM_alert_recipient="ops@example.org",
                        sipha_smtp_server=mail_receiver.address)
        assert res.returncode == 0, res.stderr
    mails = mail_receiver.wait_for(4)
    where = "[sip-ha pbx-cluster] {}: database replica of pbx on node2: {}"
    assert [m["Subject"] for m in mails] == [
        where.format("WARNING", "LAGGING behind its master"),
        where.format("WARNING", "still lagging since 2026-11-30T09:30:01Z, reminder 1"),
        where.format("WARNING", "still lagging since 2026-11-30T09:30:01Z, reminder 2"),
        where.format("NOTICE", "replicating again, caught up or catching up")]


def test_replica_and_forced_move_mails(alert_netns, mail_receiver):
    for event in (attribute("sipha-mysql-pbx-db-replication", "broken", node="node2"),
                  attribute("sipha-pbx-forced-move", "pbx to node1 at 2026-11-30T09:40:00Z "
                            "although file sync from node2 to node1 fails: cannot list "
                            "node1: Host key verification failed", node="node2")):
        res = run_alert(alert_netns, **event, CRM_alert_recipient="ops@example.org",
                        sipha_smtp_server=mail_receiver.address)
        assert res.returncode == 0, res.stderr
    broken, forced = mail_receiver.wait_for(2)
    assert broken["Subject"] == ("[sip-ha] ERR: database replica of pbx on node2: BROKEN: "
                                 "replication stopped on an error ('SHOW SLAVE STATUS' says "
                                 "which)")
    assert forced["Subject"].startswith("[sip-ha] WARNING: FORCED move of pbx to node1 at "
                                        "2026-11-30T09:40:00Z although file sync")
    assert forced["Subject"].endswith("(by the operator on node2)")


def test_a_failing_sync_reaches_rsyslog_and_snmptrapd(syslog_lab, trap_lab):
    netns, syslog = syslog_lab
    _, traps = trap_lab
    logged, trapped = len(syslog.messages()), len(traps.traps())
    for recipient in ("syslog:tcp://127.0.0.1:5514", "snmp://127.0.0.1:1162"):
        res = run_alert(netns, **attribute(SYNC, "conflicts"), CRM_alert_recipient=recipient)
        assert res.returncode == 0, res.stderr
    [message] = syslog.wait_for(logged + 1)[logged:]
    assert (message["severity"], message["msgid"]) == ("warning", "attribute")
    assert message["msg"].lstrip("\ufeff").startswith(
        "file sync of pbx from node1 to node2: CONFLICTS: files edited on node2")
    [trap] = traps.wait_for_traps(trapped + 1)[trapped:]
    assert (trap[snmp.PCMK_ATTRIBUTE_NAME_OID], trap[snmp.PCMK_ATTRIBUTE_VALUE_OID]) == (
        SYNC, "conflicts")
    assert trap[snmp.PCMK_DESCRIPTION_OID].startswith("file sync of pbx from node1 to node2")
