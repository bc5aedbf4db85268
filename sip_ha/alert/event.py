"""A Pacemaker alert as the SIP-HA alert agent sees it: the ``CRM_alert_*``
variables Pacemaker sets, read into one value, with the severity and the
sentence an operator reads in a mail subject, a syslog line or a trap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sipha_runtime.recipients import SEVERITIES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from sip_ha.alert.attributes import Said

# OCF return codes, as crm_mon names them.
OCF_RC = {0: "ok", 1: "generic error", 2: "invalid parameter", 3: "unimplemented feature",
          4: "insufficient privileges", 5: "not installed", 6: "not configured",
          7: "not running", 8: "running (promoted)", 9: "failed (promoted)",
          190: "degraded", 191: "degraded (promoted)"}
# Pacemaker's execution status (PCMK_EXEC_*), when CRM_alert_desc is missing.
EXEC_STATUS = {0: "done", 1: "pending", 2: "cancelled", 3: "timed out",
               4: "not supported", 5: "error", 6: "hard error", 7: "fatal error",
               8: "not installed", 9: "not connected", 10: "invalid",
               11: "no fence device", 12: "no secrets"}
# "test" is ours, not Pacemaker's: `sip-ha test-alerts` checks each recipient.
KINDS = ("node", "fencing", "resource", "attribute", "test")
# Pending and cancelled operations (a recurring monitor cancelled when the
# role changes) did not fail: nothing to tell an operator.
NOT_RESULTS = (1, 2)


# C0, DEL, C1 and Unicode's line and paragraph separators: each can end a line
# (a mail header, a syslog message) or steer a terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def printable(text: str) -> str:
    """TEXT with each run of control characters made one space, trimmed."""
    return _CONTROL.sub(" ", text).strip()


class EventError(Exception):
    """Pacemaker's variables do not describe an alert we understand."""


def _int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(f"CRM_alert_{name}", "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise EventError(f"CRM_alert_{name}={raw!r} is not a number") from None


@dataclass(frozen=True)
class Event:
    kind: str
    node: str
    recipient: str = ""
    desc: str = ""
    node_id: str = ""
    task: str = ""
    rsc: str = ""
    rc: int | None = None
    target_rc: int | None = None
    status: int | None = None
    interval_ms: int = 0
    attribute_name: str = ""
    attribute_value: str = ""
    timestamp: str = ""
    sequence: str = ""
    version: str = ""
    # A service address: its start and stop are the SIP service moving.
    key: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Event:
        def text(name: str) -> str:
            return printable(env.get(f"CRM_alert_{name}", ""))

        kind = text("kind")
        if kind not in KINDS:
            raise EventError(f"CRM_alert_kind={kind!r}: expected one of {', '.join(KINDS)} "
                             "(is this run by Pacemaker as an alert agent?)")
        recipient = env.get("CRM_alert_recipient", "").strip()  # checked, not cleaned
        return cls(kind=kind, node=text("node"), recipient=recipient,
                   desc=text("desc"), node_id=text("nodeid"), task=text("task"),
                   rsc=text("rsc"), rc=_int(env, "rc"), target_rc=_int(env, "target_rc"),
                   status=_int(env, "status"), interval_ms=_int(env, "interval") or 0,
                   attribute_name=text("attribute_name"),
                   attribute_value=text("attribute_value"), timestamp=text("timestamp"),
                   sequence=text("node_sequence"), version=text("version"))

    # -- what it means -----------------------------------------------------
    @property
    def is_probe(self) -> bool:
        return self.kind == "resource" and self.task == "monitor" and self.interval_ms == 0

    @property
    def failed(self) -> bool:
        if self.kind == "fencing":
            return self.rc not in (None, 0)
        if self.kind != "resource" or self.status in NOT_RESULTS:
            return False
        if self.status not in (None, 0):
            return True
        return self.target_rc is not None and self.rc is not None and self.rc != self.target_rc

    @property
    def severity(self) -> str:
        if self.kind == "test":
            return "notice"
        if self.kind == "node":
            return "notice" if self.desc == "member" else "crit"
        if self.kind == "fencing":
            return "crit" if self.failed else "warning"
        if self.kind == "attribute":
            said = self.attribute_said()
            return said.severity if said else "info"
        if self.failed:
            return "err"
        if self.status in NOT_RESULTS:
            return "debug"
        if self.task in ("promote", "demote") or (self.key and self.task in ("start", "stop")):
            return "notice"
        if self.is_probe or self.task in ("notify", "meta-data", "validate-all"):
            return "debug"
        return "info"

    def attribute_said(self) -> Said | None:
        """For the attributes the alert selects: a sync, a replica, a forced move."""
        from sip_ha.alert.attributes import describe

        return describe(self.attribute_name, self.attribute_value, self.node)

    def wanted(self, threshold: str) -> bool:
        """Severe enough for a recipient whose threshold is THRESHOLD (a test
        reaches every recipient)."""
        return (self.kind == "test"
                or SEVERITIES.index(self.severity) <= SEVERITIES.index(threshold))

    def outcome(self) -> str:
        if self.desc:
            detail = self.desc
        elif self.status not in (None, 0):
            detail = EXEC_STATUS.get(self.status, f"status {self.status}")
        else:
            detail = OCF_RC.get(self.rc, f"rc {self.rc}") if self.rc is not None else ""
        if self.rc is not None and self.target_rc is not None and self.rc != self.target_rc:
            detail += (f" (rc {self.rc} {OCF_RC.get(self.rc, '?')}, expected "
                       f"{self.target_rc} {OCF_RC.get(self.target_rc, '?')})")
        return detail

    def summary(self) -> str:
        """One line: what happened, where."""
        if self.kind == "test":
            return f"test notification from {self.node}: this recipient gets SIP-HA alerts"
        if self.kind == "node":
            if self.desc == "member":
                return f"node {self.node} joined the cluster"
            return f"node {self.node} left the cluster ({self.desc or 'lost'})"
        if self.kind == "fencing":
            # CRM_alert_task is Pacemaker's notification name (st_notify_fence);
            # the action (reboot, off) is in the description.
            desc = self.desc.split(" (ref=")[0]
            if self.failed:
                return f"fencing of {self.node} FAILED: {desc}"
            return f"node {self.node} was fenced: {desc}"
        if self.kind == "attribute":
            said = self.attribute_said()
            if said:
                return said.summary
            return (f"node attribute {self.attribute_name} on {self.node} is now "
                    f"{self.attribute_value or '(removed)'}")
        op = self.task + (f" (every {self.interval_ms // 1000}s)" if self.interval_ms else "")
        if self.failed and self.task == "asyncmon":
            # crm_resource --fail, as the agents' crash watcher reports a
            # server that exited unasked: Pacemaker records it as "asyncmon".
            return (f"{self.rsc} FAILED on {self.node}: its server exited unasked (reported "
                    f"at once, Pacemaker's asyncmon): {self.outcome()}")
        if self.failed:
            return f"{self.rsc} {op} FAILED on {self.node}: {self.outcome()}"
        if self.task == "promote":
            return f"{self.rsc} promoted on {self.node}"
        if self.task == "demote":
            return f"{self.rsc} demoted on {self.node}"
        if self.key and self.task == "start":
            return f"SIP service address {self.rsc} started on {self.node}: SIP-ACTIVE there now"
        if self.key and self.task == "stop":
            return f"SIP service address {self.rsc} stopped on {self.node}"
        if self.task == "monitor" and self.interval_ms:
            return f"{self.rsc} {op} on {self.node}: {self.outcome() or 'ok'} again"
        return f"{self.rsc} {op} on {self.node}: {self.outcome() or 'ok'}"

    def details(self) -> dict[str, str]:
        """Every field Pacemaker gave, by our names, for bodies and structured data."""
        fields = {"kind": self.kind, "node": self.node, "node_id": self.node_id,
                  "resource": self.rsc, "task": self.task, "description": self.desc,
                  "rc": "" if self.rc is None else str(self.rc),
                  "target_rc": "" if self.target_rc is None else str(self.target_rc),
                  "status": "" if self.status is None else str(self.status),
                  "interval_ms": str(self.interval_ms) if self.interval_ms else "",
                  "attribute": self.attribute_name, "value": self.attribute_value,
                  "timestamp": self.timestamp, "sequence": self.sequence,
                  "pacemaker": self.version, "severity": self.severity}
        return {key: value for key, value in fields.items() if value}
