"""Turn a burst of file events into one batch.

A batch is due once no event has arrived for ``quiet`` seconds, or once the
oldest pending event is ``max_delay`` seconds old, so an editor saving in
steps gives one transfer and a file written without pause for minutes is
still sent in bounded time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable


class Debouncer:
    def __init__(self, quiet: float, max_delay: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet = quiet
        self.max_delay = max(max_delay, quiet)
        self.clock = clock
        self._pending: set[str] = set()
        self._first = 0.0
        self._last = 0.0
        self._changed = threading.Condition()

    def add(self, paths: Iterable[str]) -> None:
        with self._changed:
            now = self.clock()
            added = False
            for path in paths:
                if not self._pending and not added:
                    self._first = now
                self._pending.add(path)
                added = True
            if added:
                self._last = now
                self._changed.notify_all()

    def due_in(self) -> float | None:
        """Seconds until the pending batch is due (0: now), None when empty."""
        with self._changed:
            return self._due_in_locked()

    def _due_in_locked(self) -> float | None:
        if not self._pending:
            return None
        now = self.clock()
        return max(0.0, min(self._last + self.quiet, self._first + self.max_delay) - now)

    def take(self) -> set[str]:
        """The batch if it is due, else an empty set."""
        with self._changed:
            if self._due_in_locked() != 0.0:
                return set()
            batch, self._pending = self._pending, set()
            return batch

    def wait(self, timeout: float) -> set[str]:
        """Block until a batch is due or ``timeout`` passes; the batch or empty."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                due = self._due_in_locked()
                if due == 0.0:
                    batch, self._pending = self._pending, set()
                    return batch
                left = deadline - time.monotonic()
                if left <= 0:
                    return set()
                self._changed.wait(left if due is None else min(left, due))
