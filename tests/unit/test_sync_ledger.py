"""The sync record: a watcher and a manual push recording at once lose
nothing; a stuck lock holder delays an update but never blocks it."""

from __future__ import annotations

import fcntl
import threading
import time
from pathlib import Path

import pytest

from sync_helper import filelock
from sync_helper.ledger import Ledger
from sync_helper.paths import Entry

FOLDER = Path("/etc/asterisk")
A = Entry("f", 1_700_000_000, 10)
B = Entry("f", 1_700_000_100, 20)


def test_two_syncs_that_read_before_either_wrote_keep_both_records(tmp_path: Path):
    Ledger(tmp_path, "node2").update(FOLDER, {"old.conf": A}, set())
    watcher = Ledger(tmp_path, "node2")   # both read the record first ...
    operator = Ledger(tmp_path, "node2")
    watcher.update(FOLDER, {"pjsip.conf": A}, set())          # ... then record
    operator.update(FOLDER, {"extensions.conf": B}, {"old.conf"})
    assert Ledger(tmp_path, "node2").folder(FOLDER) == {"pjsip.conf": A,
                                                        "extensions.conf": B}


def test_a_held_lock_delays_the_update_until_released(tmp_path: Path):
    record = Ledger(tmp_path, "node2")
    with open(record.lock_path, "a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        done = threading.Event()
        worker = threading.Thread(
            target=lambda: (record.update(FOLDER, {"a.conf": A}, set()), done.set()))
        worker.start()
        assert not done.wait(0.3)
        assert Ledger(tmp_path, "node2").folder(FOLDER) == {}
    worker.join(5)
    assert done.is_set()
    assert Ledger(tmp_path, "node2").folder(FOLDER) == {"a.conf": A}


def test_a_stuck_holder_does_not_block_the_update(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(filelock, "WAIT", 0.2)
    record = Ledger(tmp_path, "node2")
    with open(record.lock_path, "a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)   # never released during the update
        started = time.monotonic()
        record.update(FOLDER, {"a.conf": A}, set())
        assert time.monotonic() - started < 5
    assert Ledger(tmp_path, "node2").folder(FOLDER) == {"a.conf": A}
