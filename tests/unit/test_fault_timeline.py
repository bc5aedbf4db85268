"""The failover timeline the fault bench prints, from journal lines as the
sid cluster's nodes write them (Pacemaker 3: "OK", "Promoted") and as
Pacemaker 2 did ("ok")."""

from __future__ import annotations

from pathlib import Path

from sip_ha import history
from tests.support import fault_timeline

FAULT_AT = fault_timeline.epoch("2026-11-30T16:45:10.000000+00:00")

# node2's journal (short-iso-precise) around a power cut of node1
NODE2 = (Path(__file__).parent / "data" / "journal-power-cut.txt").read_text()


def entries(text: str, node: str) -> list[tuple[str, str, str]]:
    found = []
    for line in text.splitlines():
        entry = history.parse_line(line, ("pbx-",))
        if entry is not None:
            found.append((entry[0], node, entry[1]))
    return found


def test_history_keeps_the_failover_steps_and_drops_the_noise():
    kept = [message for _, _, message in entries(NODE2, "node2")]
    assert len(kept) == 9
    # One "lost" line (the controller's), no healthy monitor, nothing of other services.
    assert sum("state is now lost" in m for m in kept) == 1
    assert not any(m.endswith(": Promoted") or "other-ip" in m for m in kept)
    assert any("announced 198.51.100.100" in m for m in kept)


def test_a_failed_monitor_is_history_in_either_pacemaker():
    for result in ("not running", "Not running", "error"):
        line = ("2026-11-30T16:45:10.5+00:00 node1 pacemaker-controld[9]:  notice: Result of "
                f"monitor operation for pbx-asterisk on node1: {result} | call=12")
        assert history.parse_line(line, ("pbx-",)) is not None
    healthy = line.replace(": error |", ": ok |")
    assert history.parse_line(healthy, ("pbx-",)) is None


def test_timeline_orders_the_first_of_each_step_after_the_fault():
    answered = FAULT_AT + 7.55
    steps = fault_timeline.timeline(entries(NODE2, "node2"), FAULT_AT, answered)
    assert [(s.name, s.after_s) for s in steps] == [
        ("node lost", 1.04), ("fencing asked", 1.6), ("fencing delayed", 1.61), ("fenced", 6.5),
        ("database promoted", 6.9),
        ("address up", 7.3), ("announced", 7.31), ("promoted", 7.4), ("SIP answers", 7.55)]
    # The promote before the fault (the previous test's) is not this fault's.
    assert all(s.after_s >= 0 for s in steps)
    assert "pbx-asterisk on node2" in steps[7].message


def test_timeline_without_an_answer_has_no_answer_step():
    steps = fault_timeline.timeline(entries(NODE2, "node2"), FAULT_AT, None)
    assert steps[-1].name == "promoted"
    assert "SIP answers" in fault_timeline.render("power cut", fault_timeline.timeline(
        [], FAULT_AT, FAULT_AT + 1))
