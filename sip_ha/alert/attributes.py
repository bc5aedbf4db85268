"""The node attributes SIP-HA's alert selects, in words: the file sync's state
per peer and its reminder (ocf:sipha:filesync), a replica's state and its
reminder (ocf:sipha:mysql-mm) and a forced move (sip-ha failover/failback
--force).

Pacemaker runs the alert when such a value changes: one alert per change of
state, never one per retry; the reminder attribute changes once per interval
while a bad state lasts (ocf_agents.framework.reminder).  The names are the
ones cib_templates.render gives the alert's ``<select_attributes>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SYNC = re.compile(r"sipha-(?P<service>.+?)-filesync-(?P<peer>.+)-(?P<word>sync|reminder)")
_REPLICATION = re.compile(r"sipha-mysql-(?P<service>.+)-db-(?P<word>replication|reminder)")
_FORCED = re.compile(r"sipha-(?P<service>.+)-forced-move")

SYNC_SEVERITY = {"failing": "err", "conflicts": "warning", "behind": "info", "ok": "notice"}
SYNC_WORDS = {
    "failing": "FAILING: changes made on {node} do not reach {peer} ('sip-ha status' "
               "says why)",
    "conflicts": "CONFLICTS: files edited on {peer} since the last sync are left alone "
                 "('sip-ha status', 'sip-ha-sync resync --dry-run')",
    "behind": "behind: changes not yet delivered to {peer}",
    "ok": "in sync: everything delivered to {peer} and compared whole"}
REPLICATION_SEVERITY = {"ok": "notice", "lagging": "warning", "peer-unreachable": "warning",
                        "stopped": "err", "broken": "err", "unconfigured": "err"}
REPLICATION_WORDS = {
    "ok": "replicating again, caught up or catching up",
    "lagging": "LAGGING behind its master",
    "peer-unreachable": "cannot reach its master (down or cut off)",
    "stopped": "STOPPED: replication is not running",
    "broken": "BROKEN: replication stopped on an error ('SHOW SLAVE STATUS' says which)",
    "unconfigured": "NOT SET UP: no replication configured"}


@dataclass(frozen=True)
class Said:
    severity: str
    summary: str


def describe(name: str, value: str, node: str) -> Said | None:
    """Severity and sentence for attribute NAME, now VALUE on NODE (None: not
    one of ours; a removed value says nothing an operator needs)."""
    if match := _SYNC.fullmatch(name):
        if not value:
            return Said("debug", f"file sync from {node} to {match['peer']}: no longer "
                                 "reported (not pushing from there now)")
        state = value.split(maxsplit=1)[0]
        where = f"file sync of {match['service']} from {node} to {match['peer']}"
        if match["word"] == "reminder":
            return Said(SYNC_SEVERITY.get(state, "warning"), f"{where}: still {value}")
        words = SYNC_WORDS.get(state, f"{value}").format(node=node, peer=match["peer"])
        return Said(SYNC_SEVERITY.get(state, "warning"), f"{where}: {words}")
    if match := _REPLICATION.fullmatch(name):
        where = f"database replica of {match['service']} on {node}"
        if match["word"] == "reminder":
            if not value:
                return Said("debug", f"{where}: reminder cleared")
            state = value.split(maxsplit=1)[0]
            return Said(REPLICATION_SEVERITY.get(state, "warning"), f"{where}: still {value}")
        if not value:
            return Said("debug", f"{where}: no longer reported (server stopped)")
        return Said(REPLICATION_SEVERITY.get(value, "warning"),
                    f"{where}: {REPLICATION_WORDS.get(value, value)}")
    if match := _FORCED.fullmatch(name):
        if not value:
            return Said("debug", f"forced move of {match['service']}: cleared")
        return Said("warning", f"FORCED move of {value} (by the operator on {node})")
    return None
