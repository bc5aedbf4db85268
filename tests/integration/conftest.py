from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import rsyslog, sshd
from tests.support.agent_run import run_agent
from tests.support.alertlab import AlertNetns
from tests.support.kamailio import KamailioSetup
from tests.support.mail_receiver import MailReceiver
from tests.support.missing import missing, require_root
from tests.support.rsyslog import SyslogReceiver
from tests.support.snmptrapd import TrapReceiver

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


@pytest.fixture(scope="module")
def peer_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sshd.PrivateSshd]:
    """A private sshd in its own network namespace: the sync tests' peer."""
    why = sshd.available()
    if why:
        missing(why)
    daemon = sshd.PrivateSshd(tmp_path_factory.mktemp("sshd"))
    try:
        daemon.up()
        yield daemon
    finally:
        daemon.down()
    assert daemon.leftovers() == []


# -- the alert tests' namespace and receivers --------------------------------


@pytest.fixture(scope="module")
def alert_netns() -> Iterator[AlertNetns]:
    """A namespace with only loopback: receivers and sip-ha-alert run in it."""
    require_root("network namespaces")
    netns = AlertNetns()
    netns.up()
    yield netns
    netns.down()
    assert netns.leftovers() == []


@pytest.fixture(scope="module")
def syslog_lab(alert_netns: AlertNetns, tmp_path_factory: pytest.TempPathFactory,
               ) -> Iterator[tuple[AlertNetns, SyslogReceiver]]:
    """rsyslogd on 127.0.0.1 and ::1, UDP and TCP port 5514."""
    missing = rsyslog.available()
    assert missing is None, missing
    receiver = SyslogReceiver(alert_netns, tmp_path_factory.mktemp("rsyslog"))
    try:
        receiver.start()
        yield alert_netns, receiver
    finally:
        receiver.stop()
    assert receiver.proc is not None and receiver.proc.poll() is not None
    assert not receiver.pidfile.exists()


@pytest.fixture(scope="module")
def trap_lab(alert_netns: AlertNetns, tmp_path_factory: pytest.TempPathFactory,
             ) -> Iterator[tuple[AlertNetns, TrapReceiver]]:
    """snmptrapd on 127.0.0.1 and ::1, UDP port 1162, community public."""
    receiver = TrapReceiver(alert_netns, tmp_path_factory.mktemp("snmptrapd"))
    try:
        receiver.start()
        yield alert_netns, receiver
    finally:
        receiver.stop()
    assert receiver.process is not None and receiver.process.poll() is not None


@pytest.fixture
def mail_receiver(alert_netns: AlertNetns, tmp_path: Path) -> Iterator[MailReceiver]:
    """aiosmtpd on 127.0.0.1:2525 delivering into a fresh Maildir."""
    receiver = MailReceiver(alert_netns, tmp_path)
    receiver.start()
    yield receiver
    receiver.stop()
