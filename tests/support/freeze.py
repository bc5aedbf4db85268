"""Hang a process the way a deadlock or a stuck disk does: frozen by the
cgroup freezer its state is D, not T, so only deadlines can notice."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

FREEZER = Path("/sys/fs/cgroup/freezer")


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    group = FREEZER / f"siphafrz-{os.getpid()}-{pid}"
    group.mkdir()
    try:
        (group / "cgroup.procs").write_text(str(pid))
        (group / "freezer.state").write_text("FROZEN")
        deadline = time.monotonic() + 5
        while (group / "freezer.state").read_text().strip() != "FROZEN":
            if time.monotonic() > deadline:
                raise RuntimeError(f"pid {pid} did not freeze")
            time.sleep(0.02)
        yield
    finally:
        (group / "freezer.state").write_text("THAWED")
        for task in filter(None, (group / "cgroup.procs").read_text().split()):
            with contextlib.suppress(ProcessLookupError, OSError):
                (FREEZER / "cgroup.procs").write_text(task)
        group.rmdir()
