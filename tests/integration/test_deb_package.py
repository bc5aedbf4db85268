"""The Debian package as an administrator installs it: built from this
checkout (``make deb``: dpkg-buildpackage, then lintian), installed with
dpkg into a throwaway overlay of each test box's root file system (bookworm,
sid) with no network.  The boxes carry what it depends on (their recipe,
vagrant/box/setup-rootfs.sh, installs Debian's python3-click, -lxml,
-pymysql and -watchdog), as the cluster nodes that install it do.
"""

from __future__ import annotations

import configparser
import gzip
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from sip_ha.install import AGENTS, LEAN_MONITOR, PROVIDER
from tests.support.container import REPO, Container
from tests.support.missing import missing, require_root

pytestmark = pytest.mark.integration

# The unit layer's copy of resource-agents' DTD, which its meta-data tests use.
DTD = REPO / "tests" / "unit" / "data" / "ra-api-1.dtd"


class BareBox(Container):
    """A box container without the checkout's venv install: dpkg installs here."""

    def _install_project(self) -> None:
        pass


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_root("dpkg-buildpackage and the box containers")
    if shutil.which("dpkg-buildpackage") is None or shutil.which("lintian") is None:
        missing("dpkg-buildpackage or lintian (make deb-deps)")
    out = tmp_path_factory.mktemp("deb")
    began = time.monotonic()
    done = subprocess.run(["/usr/bin/python3", str(REPO / "scripts" / "build_deb.py"),
                           str(out)], capture_output=True, text=True, check=False)
    print(f"make deb: {time.monotonic() - began:.1f} s")
    assert done.returncode == 0, done.stderr + (out / "build.log").read_text()[-3000:]
    report = (out / "lintian.txt").read_text()
    tagged = ("E:", "W:", "I:", "P:", "X:")  # O: overridden, N: notes
    assert not [line for line in report.splitlines() if line[:2] in tagged], report
    return Path(done.stdout.strip())


@pytest.fixture(scope="module", params=["bookworm", "sid"])
def installed(request: pytest.FixtureRequest, deb: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[BareBox]:
    dist = request.param
    box = BareBox(dist, f"siphadeb-{dist[:3]}", tmp_path_factory.mktemp(f"siphadeb-{dist}"))
    try:
        shutil.copy(deb, box.path(f"/var/tmp/{deb.name}"))
        began = time.monotonic()
        done = box.run(["dpkg", "-i", f"/var/tmp/{deb.name}"], timeout=300)
        print(f"{dist}: dpkg -i sip-ha: {time.monotonic() - began:.1f} s")
        assert done.returncode == 0, done.stdout + done.stderr
        assert box.run(["ip", "route", "show", "default"]).stdout == ""  # no network
        yield box
    finally:
        box.stop()


def man_page(box: BareBox, page: str) -> str:
    return gzip.decompress(box.path(f"/usr/share/man/{page}.gz").read_bytes()).decode()


def test_commands_run_with_the_system_python(installed: BareBox):
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    for name in ("sip-ha", "sip-ha-sync", "sip-ha-sip-options"):
        done = installed.run([name, "--version"])
        assert done.returncode == 0, done.stderr
        # the version comes from the package's metadata, found in the private folder
        assert done.stdout == f"{name} (SIP-HA) {cfg['metadata']['version']}\n"
        assert installed.run([name, "--help"]).returncode == 0
        text = installed.path(f"/usr/bin/{name}").read_text()
        assert text.startswith("#!/usr/bin/python3 -I\n")
    # dh_python3's postinst compiled the private folder for the box's Python.
    tag = installed.run(["python3", "-c", "import sys; print(sys.implementation.cache_tag)"])
    cache = installed.path("/usr/share/sip-ha/sip_ha/__pycache__")
    assert (cache / f"cli.{tag.stdout.strip()}.pyc").is_file(), sorted(cache.iterdir())


@pytest.mark.parametrize("agent", sorted(AGENTS))
def test_agent_shims_give_valid_metadata(installed: BareBox, agent: str):
    shim = f"/usr/lib/ocf/resource.d/{PROVIDER}/{agent}"
    lean = agent in LEAN_MONITOR   # a monitor without the site module
    assert installed.path(shim).read_text().startswith(
        "#!/usr/bin/python3 -IS\n" if lean else "#!/usr/bin/python3 -I\n")
    if lean:
        # No server here (5: not installed, 7: not running), but the code is found.
        monitor = installed.run([shim, "monitor"])
        assert monitor.returncode in (5, 7) and "Traceback" not in monitor.stderr, monitor.stderr
    done = installed.run([shim, "meta-data"])
    assert done.returncode == 0, done.stderr
    root = etree.fromstring(done.stdout.encode())
    dtd = etree.DTD(str(DTD))
    assert dtd.validate(root), dtd.error_log.filter_from_errors()
    page = man_page(installed, f"man7/ocf_{PROVIDER}_{agent}.7")
    for param in root.iterfind("parameters/parameter"):
        name = param.get("name", "").replace("-", "\\-")
        assert f"\\fB{name}\\fR" in page


def test_man_pages_completion_conffiles_and_alert_agent(installed: BareBox):
    for page in ("man8/sip-ha.8", "man8/sip-ha-sync.8", "man8/sip-ha-alert.8",
                 "man1/sip-ha-sip-options.1"):
        assert man_page(installed, page).startswith(".TH ")
    sync_page = man_page(installed, "man8/sip-ha-sync.8")
    assert ".SS sip\\-ha\\-sync push" in sync_page
    completion = installed.run(["bash", "-c", "COMP_WORDS='sip-ha ci' COMP_CWORD=1 "
                                "_SIP_HA_COMPLETE=bash_complete sip-ha"])
    assert "plain,cib" in completion.stdout.split(), completion.stdout + completion.stderr
    assert installed.path("/usr/share/bash-completion/completions/sip-ha").is_file()
    conffiles = installed.run(["dpkg-query", "-W", "-f=${Conffiles}", "sip-ha"]).stdout
    assert "/etc/sip-ha/cluster.toml.example" in conffiles
    assert oct(installed.path("/etc/sip-ha/secrets").stat().st_mode & 0o777) == "0o700"
    alert = installed.run(["/usr/share/pacemaker/alerts/sip-ha-alert"],
                          env={"CRM_alert_kind": "node", "CRM_alert_recipient": "pager"})
    assert alert.returncode == 1 and "recipient 'pager'" in alert.stderr


# Inside the box: a syslog:unix: recipient, and the alert agent run twice as
# Pacemaker runs it (as hacluster) with the same failed monitor.
REPEATED_ALERT = """
import os, socket, subprocess
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("/tmp/alerts.sock")
os.chmod("/tmp/alerts.sock", 0o666)
sock.settimeout(1)
agent = ["setpriv", "--reuid=hacluster", "--regid=haclient", "--init-groups",
         "/usr/share/pacemaker/alerts/sip-ha-alert"]
codes = [subprocess.run(agent).returncode for _ in range(2)]
got = []
try:
    while True:
        got.append(sock.recv(65536).decode())
except TimeoutError:
    pass
print(codes, len(got))
"""


def test_the_alert_agent_counts_repeats_in_its_folder_under_run(installed: BareBox):
    """debian/sip-ha.tmpfiles: dpkg's postinst made /run/sip-ha-alert, which
    only hacluster writes; the agent keeps its counts there."""
    conf = installed.path("/usr/lib/tmpfiles.d/sip-ha.conf").read_text()
    assert "d /run/sip-ha-alert 0750 hacluster haclient -" in conf.splitlines()
    folder = installed.path("/run/sip-ha-alert").stat()
    ids = installed.run(["sh", "-c", "id -u hacluster; getent group haclient | cut -d: -f3"])
    uid, gid = map(int, ids.stdout.split())
    assert (oct(folder.st_mode & 0o7777), folder.st_uid, folder.st_gid) == ("0o750", uid, gid)
    env = {"CRM_alert_kind": "resource", "CRM_alert_node": "node1",
           "CRM_alert_rsc": "pbx-asterisk", "CRM_alert_task": "monitor",
           "CRM_alert_interval": "3000", "CRM_alert_rc": "7", "CRM_alert_target_rc": "8",
           "CRM_alert_status": "0", "CRM_alert_recipient": "syslog:unix:/tmp/alerts.sock"}
    done = installed.run(["python3", "-c", REPEATED_ALERT], env=env)
    assert done.stdout == "[0, 0] 1\n", done.stdout + done.stderr  # the second held back
    [state] = installed.path("/run/sip-ha-alert").iterdir()
    mode = state.stat()
    assert (oct(mode.st_mode & 0o7777), mode.st_uid) == ("0o600", uid)


def test_install_agents_leaves_the_package_alone_and_dpkg_removes_it(installed: BareBox):
    refused = installed.run(["sip-ha", "install-agents"])
    assert refused.returncode == 1
    assert "belongs to the sip-ha Debian package" in refused.stderr + refused.stdout
    assert installed.run(["sip-ha", "install-agents", "--uninstall"]).returncode == 0
    assert installed.path(f"/usr/lib/ocf/resource.d/{PROVIDER}/asterisk").is_file()
    purged = installed.run(["dpkg", "--purge", "sip-ha"])
    assert purged.returncode == 0, purged.stderr
    assert not installed.path(f"/usr/lib/ocf/resource.d/{PROVIDER}").exists()
    assert not installed.path("/usr/share/sip-ha").exists()

