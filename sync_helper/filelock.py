"""A short exclusive lock around a read-modify-write of a small state file
(the ledger, the health record), shared by the watcher and an operator's
command.  It never covers a transfer: a stuck holder (a SIGSTOPped watcher)
delays the other by at most WAIT, after which it goes ahead without the lock,
no worse than having no lock at all."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path

WAIT = 5.0


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break  # see the module docstring
                time.sleep(0.02)
        yield  # closing the file releases the lock
