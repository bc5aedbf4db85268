"""Reminders for a bad state that lasts, as a node attribute the SIP-HA alert
selects.

Pacemaker runs an alert for a node attribute when its value changes, so a
state attribute (a sync failing, a replica broken) gives one alert per
change of state and none per retry.  For a reminder while the state lasts
something must change a value on a timer, and the alert agent cannot be that
timer: Pacemaker starts it per event, it keeps nothing between runs.  The
agent's recurring monitor can: it sees the state every few seconds anyway.
So the monitor keeps, per watched state, when it began and when the last
reminder went, and publishes ``STATE since TIME, reminder N`` in a reminder
attribute once every interval; a healthy state removes it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


def utc(stamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


@dataclass(frozen=True)
class Reminder:
    state: str
    since: float
    last: float   # when the state began or the last reminder was published
    count: int    # reminders published so far for this spell

    def value(self) -> str | None:
        """The reminder attribute's value (None: nothing to remind of yet)."""
        if not self.count:
            return None
        return f"{self.state} since {utc(self.since)}, reminder {self.count}"


def advance(previous: Reminder | None, state: str, healthy: bool, now: float,
            interval: float) -> Reminder | None:
    """The reminder after seeing STATE at NOW (None while healthy).  A new
    state starts a new spell (its own change alerts, no reminder yet); the
    same state for INTERVAL more seconds counts one more reminder
    (INTERVAL 0: never)."""
    if healthy:
        return None
    if previous is None or previous.state != state:
        return Reminder(state, now, now, 0)
    if interval > 0 and now - previous.last >= interval:
        return Reminder(state, previous.since, now, previous.count + 1)
    return previous


def load(path: str) -> dict[str, Reminder]:
    found: dict[str, Reminder] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                key, state, since, last, count = line.rstrip("\n").split("\t")
                found[key] = Reminder(state, float(since), float(last), int(count))
    except (FileNotFoundError, ValueError):
        pass
    return found


def save(path: str, reminders: dict[str, Reminder]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = f"{path}.new"
    with open(partial, "w", encoding="utf-8") as handle:
        for key, r in sorted(reminders.items()):
            handle.write(f"{key}\t{r.state}\t{r.since}\t{r.last}\t{r.count}\n")
    os.replace(partial, path)
