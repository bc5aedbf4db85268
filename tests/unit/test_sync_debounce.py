from __future__ import annotations

import threading
import time

from sync_helper.debounce import Debouncer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_becomes_one_batch_after_the_quiet_period() -> None:
    clock = Clock()
    debouncer = Debouncer(quiet=0.5, max_delay=5, clock=clock)
    assert debouncer.due_in() is None
    for step in range(5):
        clock.now = step * 0.2
        debouncer.add([f"/x/{step % 2}"])
    assert debouncer.take() == set()
    clock.now = 0.8 + 0.5
    assert debouncer.take() == {"/x/0", "/x/1"}
    assert debouncer.due_in() is None


def test_continuous_events_are_sent_after_the_max_delay() -> None:
    clock = Clock()
    debouncer = Debouncer(quiet=0.5, max_delay=2, clock=clock)
    batches = []
    while clock.now < 3:
        debouncer.add(["/x/log"])
        batches.append(debouncer.take())
        clock.now += 0.25
    assert [b for b in batches if b] == [{"/x/log"}]


def test_wait_returns_a_batch_from_another_thread() -> None:
    debouncer = Debouncer(quiet=0.05, max_delay=1)
    threading.Timer(0.05, debouncer.add, (["/x/a"],)).start()
    started = time.monotonic()
    assert debouncer.wait(5) == {"/x/a"}
    assert time.monotonic() - started < 5
    assert debouncer.wait(0.05) == set()
