from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kamailio import KamailioSetup

pytestmark = pytest.mark.integration


class AgentRun:
    def __init__(self, proc: subprocess.CompletedProcess[str], elapsed: float) -> None:
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.elapsed = elapsed

    @property
    def reason(self) -> str:
        for line in self.stderr.splitlines():
            if line.startswith("ocf-exit-reason:"):
                return line.split(":", 1)[1]
        return ""


@pytest.fixture(scope="session")
def ocf_root() -> Iterator[Path]:
    """The agents installed the way a user installs them, into a private OCF root
    that other users can read (ocf-tester runs meta-data as nobody)."""
    root = Path(tempfile.mkdtemp(prefix="sipha-ocf-"))
    root.chmod(0o755)
    sip_ha = Path(sys.executable).with_name("sip-ha")
    subprocess.run([str(sip_ha), "install-agents", "--ocf-root", str(root)], check=True,
                   capture_output=True)
    yield root
    subprocess.run([str(sip_ha), "install-agents", "--uninstall", "--ocf-root", str(root)],
                   check=True, capture_output=True)
    shutil.rmtree(root)


@pytest.fixture
def kamailio(tmp_path: Path, ocf_root: Path) -> Iterator[KamailioSetup]:
    setup = KamailioSetup(tmp_path / "kamailio")
    yield setup
    # Whatever a test left running is ended by the agent's own stop, then by PID.
    run_agent(ocf_root, "sipserver", "stop", setup.environ())
    for pid in setup.processes():
        os.kill(pid, 9)


def run_agent(ocf_root: Path, agent: str, action: str, env: dict[str, str],
              timeout: float = 60) -> AgentRun:
    started = time.monotonic()
    proc = subprocess.run([str(ocf_root / "resource.d" / "sipha" / agent), action], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    return AgentRun(proc, time.monotonic() - started)
