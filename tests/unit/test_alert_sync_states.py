"""The attribute events the SIP-HA alert selects: severity and sentence of a
file sync's state and reminder, a replica's state and reminder and a forced
move; and the rendered alert selecting exactly those attributes."""

from __future__ import annotations

from pathlib import Path

import pytest

from cib_templates import params, render
from sip_ha.alert.event import Event

EXAMPLE = Path(params.__file__).parent / "example.toml"


def event(name: str, value: str, node: str = "node1") -> Event:
    return Event.from_env({"CRM_alert_kind": "attribute", "CRM_alert_node": node,
                           "CRM_alert_attribute_name": name,
                           "CRM_alert_attribute_value": value})


@pytest.mark.parametrize(("name", "value", "severity", "summary"), [
    ("sipha-pbx-filesync-node2-sync", "failing", "err",
     "file sync of pbx from node1 to node2: FAILING: changes made on node1 do not reach "
     "node2 ('sip-ha status' says why)"),
    ("sipha-pbx-filesync-node2-sync", "conflicts", "warning",
     "file sync of pbx from node1 to node2: CONFLICTS: files edited on node2 since the last "
     "sync are left alone ('sip-ha status', 'sip-ha-sync resync --dry-run')"),
    ("sipha-pbx-filesync-node2-sync", "behind", "info",
     "file sync of pbx from node1 to node2: behind: changes not yet delivered to node2"),
    ("sipha-pbx-filesync-node2-sync", "ok", "notice",
     "file sync of pbx from node1 to node2: in sync: everything delivered to node2 and "
     "compared whole"),
    ("sipha-pbx-filesync-node2-sync", "", "debug",
     "file sync from node1 to node2: no longer reported (not pushing from there now)"),
    ("sipha-my-pbx-filesync-pbx-b-2-reminder", "conflicts since 2026-11-30T09:30:01Z, "
     "reminder 3", "warning", "file sync of my-pbx from node1 to pbx-b-2: still conflicts "
     "since 2026-11-30T09:30:01Z, reminder 3"),
    ("sipha-pbx-filesync-node2-reminder", "", "debug",
     "file sync from node1 to node2: no longer reported (not pushing from there now)"),
    ("sipha-mysql-pbx-db-replication", "lagging", "warning",
     "database replica of pbx on node1: LAGGING behind its master"),
    ("sipha-mysql-pbx-db-replication", "broken", "err",
     "database replica of pbx on node1: BROKEN: replication stopped on an error "
     "('SHOW SLAVE STATUS' says which)"),
    ("sipha-mysql-pbx-db-replication", "ok", "notice",
     "database replica of pbx on node1: replicating again, caught up or catching up"),
    ("sipha-mysql-pbx-db-reminder", "lagging since 2026-11-30T09:30:01Z, reminder 2",
     "warning", "database replica of pbx on node1: still lagging since "
     "2026-11-30T09:30:01Z, reminder 2"),
    ("sipha-mysql-pbx-db-reminder", "broken since 2026-11-30T09:30:01Z, reminder 1", "err",
     "database replica of pbx on node1: still broken since 2026-11-30T09:30:01Z, "
     "reminder 1"),
    ("sipha-mysql-pbx-db-reminder", "", "debug",
     "database replica of pbx on node1: reminder cleared"),
    ("sipha-pbx-forced-move", "pbx to node1 at 2026-11-30T09:40:00Z although x", "warning",
     "FORCED move of pbx to node1 at 2026-11-30T09:40:00Z although x (by the operator on "
     "node1)"),
    ("sipha-gw-pbx", "1", "info", "node attribute sipha-gw-pbx on node1 is now 1"),
    ("sipha-pbx-filesync-node2-pending", "3", "info",
     "node attribute sipha-pbx-filesync-node2-pending on node1 is now 3"),
])
def test_states_in_words(name: str, value: str, severity: str, summary: str) -> None:
    said = event(name, value)
    assert (said.severity, said.summary()) == (severity, summary)


def test_behind_is_not_sent_at_the_default_threshold_ok_is() -> None:
    assert not event("sipha-pbx-filesync-node2-sync", "behind").wanted("notice")
    assert event("sipha-pbx-filesync-node2-sync", "ok").wanted("notice")


def test_the_alert_selects_the_state_attributes_and_the_agent_gets_the_interval() -> None:
    cib = render.render(params.load(str(EXAMPLE))).getroot()
    names = [a.get("name") for a in cib.iterfind(
        "configuration/alerts/alert/select/select_attributes/attribute")]
    assert names == ["sipha-pbx-filesync-node1-sync", "sipha-pbx-filesync-node1-reminder",
                     "sipha-pbx-filesync-node2-sync", "sipha-pbx-filesync-node2-reminder",
                     "sipha-mysql-pbx-db-replication", "sipha-mysql-pbx-db-reminder",
                     "sipha-pbx-forced-move"]
    for agent in ("pbx-filesync", "pbx-db"):
        (interval,) = cib.iterfind(f".//primitive[@id='{agent}']//nvpair"
                                   "[@name='reminder_interval']")
        assert interval.get("value") == "1h"
