"""What happened when during one fault: the steps of a failover, read from
the nodes' journals through ``sip-ha logs``' own selection
(sip_ha.history), placed beside the fault and the phone's view of it.

Seconds are counted from the moment the fault was injected; every node of
the test cluster shares the host's clock (LXC), so the journals of both
nodes and the probe on the phone host can be put on one line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sip_ha import history

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tests.support.sipha_cluster import Cluster

# (step, what marks it in a history message); the first match of each counts.
STEPS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("monitor failed", re.compile(r"Result of (monitor|asyncmon) operation for ", re.I)),
    ("node lost", re.compile(r"Node \S+ state is now lost")),
    ("fencing asked", re.compile(r"Requesting fencing")),
    ("fencing delayed", re.compile(r"Delaying '?(reboot|off)'? action targeting")),
    ("fenced", re.compile(r"Operation '?(reboot|off)'? targeting \S+ by .*: OK", re.I)),
    ("demoted", re.compile(r"Result of demote operation for \S+-(asterisk|sipserver) on \S+: OK",
                           re.I)),
    ("address down", re.compile(r"Result of stop operation for \S+-ip on \S+: OK", re.I)),
    ("database promoted", re.compile(r"Result of promote operation for \S+-db on \S+: OK",
                                     re.I)),
    ("promoted", re.compile(r"Result of promote operation for \S+-(asterisk|sipserver) on \S+: OK",
                            re.I)),
    ("address up", re.compile(r"Result of start operation for \S+-ip on \S+: OK", re.I)),
    ("announced", re.compile(r"INFO: announced ")),
)


@dataclass(frozen=True)
class Step:
    name: str
    after_s: float        # seconds after the fault
    node: str
    message: str


def epoch(stamp: str) -> float:
    """A journal short-iso-precise timestamp as seconds since the epoch."""
    return datetime.fromisoformat(stamp).timestamp()


def timeline(entries: list[tuple[str, str, str]], fault_at: float,
             answered_at: float | None) -> list[Step]:
    """The first entry of each step at or after FAULT_AT (history entries:
    (timestamp, node, message)), and the first SIP answer after the outage,
    in time order."""
    found: dict[str, Step] = {}
    for stamp, node, message in sorted(entries):
        at = epoch(stamp)
        if at < fault_at:
            continue
        for name, pattern in STEPS:
            if name not in found and pattern.search(message):
                found[name] = Step(name, round(at - fault_at, 2), node, message)
                break
    steps = sorted(found.values(), key=lambda s: s.after_s)
    if answered_at is not None:
        steps.append(Step("SIP answers", round(answered_at - fault_at, 2), "phone host",
                          "first answer to the phone's OPTIONS after the outage"))
    return steps


def collect(cluster: Cluster, service: str, fault_at: float,
            answered_at: float | None) -> list[Step]:
    """The timeline of the fault injected at FAULT_AT into SERVICE, from the
    journal of every node that answers (a fenced node's last lines may be lost)."""
    ours = (f"{service}-",)
    entries = []
    for node in cluster.nodes:
        res = cluster.run(node, *history.journal_argv(f"@{int(fault_at) - 1}"), check=False)
        for line in res.stdout.splitlines():
            entry = history.parse_line(line, ours)
            if entry is not None:
                entries.append((entry[0], node, entry[1]))
    return timeline(entries, fault_at, answered_at)


def render(fault: str, steps: list[Step]) -> str:
    lines = [f"{fault}: timeline (s after the fault)"]
    lines += [f"  {s.after_s:7.2f}  {s.name:15s} {s.node:10s} {s.message[:110]}" for s in steps]
    return "\n".join(lines)
