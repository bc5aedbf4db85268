"""lxc-attach run again when LXC 5.0.2's memfd re-exec aborts before running
anything (see sipha_attach in vagrant/env.sh); the cluster harness's one way
to attach."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

ATTACH_TRIES = 5


def aborted(res: subprocess.CompletedProcess[str]) -> bool:
    """lxc-attach died before running anything.

    LXC 5.0.2 re-executes lxc-attach from a sealed memfd first; under load the
    sealing can fail with EBUSY and the error path aborts (lxc/lxc#4412), or
    crashes (SIGSEGV, seen once).
    """
    return (res.returncode in (-signal.SIGABRT, -signal.SIGSEGV)
            and "Failed to rexec as memfd" in res.stderr)


def retrying(attach: Callable[[], subprocess.CompletedProcess[str]]
             ) -> subprocess.CompletedProcess[str]:
    """ATTACH's result, called again (at most ATTACH_TRIES times in all) while
    it aborted before running its command."""
    for attempt in range(ATTACH_TRIES):
        res = attach()
        if not aborted(res):
            break
        time.sleep(0.1 * (attempt + 1))
    return res
