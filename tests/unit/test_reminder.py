"""Reminders while a bad state lasts: one change per interval, none per monitor."""

from __future__ import annotations

from pathlib import Path

from ocf_agents.framework.reminder import Reminder, advance, load, save


def test_a_state_that_lasts_is_reminded_once_per_interval():
    seen = advance(None, "failing", False, now=1000, interval=600)
    assert seen == Reminder("failing", 1000, 1000, 0)
    assert seen.value() is None                 # the change of state alerts by itself
    for now in (1009, 1300, 1599):              # every monitor: no new value
        assert advance(seen, "failing", False, now, 600) == seen
    seen = advance(seen, "failing", False, now=1600, interval=600)
    assert seen.value() == "failing since 1970-01-01T00:16:40Z, reminder 1"
    seen = advance(seen, "failing", False, now=2205, interval=600)
    assert seen.value() == "failing since 1970-01-01T00:16:40Z, reminder 2"


def test_another_state_starts_over_and_a_healthy_one_ends_it():
    seen = Reminder("failing", 1000, 1600, 1)
    assert advance(seen, "conflicts", False, now=1700, interval=600) == \
        Reminder("conflicts", 1700, 1700, 0)
    assert advance(seen, "ok", True, now=1700, interval=600) is None


def test_interval_zero_never_reminds():
    seen = advance(None, "broken", False, now=0, interval=0)
    assert advance(seen, "broken", False, now=10 ** 9, interval=0) == seen


def test_reminders_round_trip(tmp_path: Path):
    path = str(tmp_path / "state" / "reminders")
    assert load(path) == {}
    kept = {"node2": Reminder("failing", 1.5, 2.5, 3), "node3": Reminder("behind", 4, 4, 0)}
    save(path, kept)
    assert load(path) == kept
