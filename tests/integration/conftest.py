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

from tests.support import sshd
from tests.support.agent_run import AgentRun
from tests.support.kamailio import KamailioSetup

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def ocf_root() -> Iterator[Path]:
    """The agents installed the way a user installs them, into a private OCF root
    that other users can read (ocf-tester runs meta-data as nobody)."""
    root = Path(tempfile.mkdtemp(prefix="sipha-ocf-"))
    root.chmod(0o755)
    sip_ha = Path(sys.executable).with_name("sip-ha")
    where = ["--ocf-root", str(root), "--alert-dir", str(root / "alerts")]
    subprocess.run([str(sip_ha), "install-agents", *where], check=True, capture_output=True)
    yield root
    subprocess.run([str(sip_ha), "install-agents", "--uninstall", *where], check=True,
                   capture_output=True)
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


@pytest.fixture(scope="module")
def peer_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sshd.PrivateSshd]:
    """A private sshd in its own network namespace: the sync tests' peer."""
    why = sshd.available()
    if why:
        pytest.skip(why)
    daemon = sshd.PrivateSshd(tmp_path_factory.mktemp("sshd"))
    try:
        daemon.up()
        yield daemon
    finally:
        daemon.down()
    assert daemon.leftovers() == []
