"""A rolling upgrade of the sip-ha Debian package while a phone polls.

The nodes run version N, the checkout's package (vagrant/provision/node.sh).
Version N+1 is the same checkout built with a higher version
(``scripts/build_deb.py --version``) and installed one node at a time as
README.rst's "Upgrading" says: ``pcs node standby``, ``dpkg -i``, ``pcs node
unstandby``, the node's resources back before the next node.  The SIP-ACTIVE
node goes last, so the service moves once, a planned move.

Imported by the bookworm 2-node module so that it shares that cluster."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.support.proxy_parts import KAMAILIO, KAMAILIO_CFG, PROXY_IP, PROXY_ON_TWO, PROXY_PORT
from tests.support.sipha_cluster import REPO, wait_until
from tests.support.sipha_service import (
    SIP_HA,
    active,
    install,
    params_toml,
    phone,
    settled,
    standby_ready,
)

# The seed's promise for a planned move: the phones lose the service for
# less than a minute.
PLANNED_LIMIT = 60
# Where provisioning took version N from, as the nodes see the checkout.
NODE_CHECKOUT = "/vagrant"


def checkout_version() -> str:
    cfg = configparser.ConfigParser()
    cfg.read(Path(REPO) / "setup.cfg")
    return cfg["metadata"]["version"]


def next_version(version: str) -> str:
    """The release after VERSION, as an upgrade brings it: 0.1.0 -> 0.1.1."""
    release = re.match(r"\d+(\.\d+)*", version)
    assert release, f"no release number in {version!r}"
    *head, last = release.group(0).split(".")
    return ".".join([*head, str(int(last) + 1)])


def installed_versions(cluster, node: str) -> tuple[str, str]:
    """What dpkg says is installed on NODE, and what `sip-ha --version` says."""
    state = cluster.run(node, "dpkg-query", "-W", "-f=${Status}|${Version}", "sip-ha").stdout
    status, _, packaged = state.partition("|")
    assert status == "install ok installed", state
    banner = cluster.run(node, SIP_HA, "--version").stdout
    assert banner.startswith("sip-ha (SIP-HA) "), banner
    return packaged, banner.split()[-1]


def build_package(version: str, out: Path) -> Path:
    """The checkout's package as VERSION, built on the host."""
    done = subprocess.run(["/usr/bin/python3", str(Path(REPO) / "scripts" / "build_deb.py"),
                           "--version", version, str(out)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


def failed_actions(cluster) -> list[str]:
    """crm_mon's failed resource actions (a monitor failure among them)."""
    failures = cluster.crm_mon().find("failures")
    return [] if failures is None else [ET.tostring(f, encoding="unicode") for f in failures]


def upgrade(cluster, node: str, deb: str) -> float:
    """One node: standby, dpkg -i, unstandby, its resources back; seconds taken."""
    began = time.monotonic()
    cluster.run(node, "pcs", "node", "standby", node, "--wait=180", timeout=200)
    placed = {rid: where for rid, (_, _, where) in cluster.resources().items()}
    assert not [rid for rid, where in placed.items() if node in where], placed
    cluster.run(node, "dpkg", "-i", deb, timeout=180)
    cluster.run(node, "pcs", "node", "unstandby", node, "--wait=180", timeout=200)
    wait_until(lambda: standby_ready(cluster, node, "proxy"), 180,
               what=f"the proxy's resources back on {node}")
    return time.monotonic() - began


def test_rolling_upgrade_one_node_at_a_time_while_the_phone_polls(cluster, tmp_path):
    old = checkout_version()
    new = next_version(old)
    assert subprocess.run(["dpkg", "--compare-versions", new, "gt", old],
                          check=False).returncode == 0
    for node in cluster.nodes:
        assert installed_versions(cluster, node) == (old, old)
    began = time.monotonic()
    package = build_package(new, tmp_path)
    print(f"sip-ha {new} built from the checkout in {time.monotonic() - began:.1f} s")
    inbox = f"/var/tmp/{package.name}"
    for node in cluster.nodes:  # what scp does for an administrator
        shutil.copy(package, f"/proc/{cluster.init_pid(node)}/root{inbox}")
        cluster.run(node, "mkdir", "-p", "/etc/sip-ha")
        cluster.run(node, "tee", KAMAILIO_CFG, input=KAMAILIO)
    install(cluster, params_toml(cluster.nodes, PROXY_ON_TWO))
    first = settled(cluster, "proxy")
    order = [n for n in cluster.nodes if n != first] + [first]
    took: dict[str, float] = {}
    try:
        with phone(cluster, PLANNED_LIMIT, PROXY_IP, PROXY_PORT) as seen:
            for node in order:
                took[node] = upgrade(cluster, node, inbox)
        figures = ", ".join(f"{node} {seconds:.1f} s" for node, seconds in took.items())
        print(f"rolling upgrade {old} -> {new} ({figures}): phone outage {seen['outage']} s "
              f"(under {PLANNED_LIMIT} s)")
        for node in cluster.nodes:
            assert installed_versions(cluster, node) == (new, new)
        assert failed_actions(cluster) == []
        # It moved once, to the node upgraded first, and did not fail back.
        assert active(cluster, "proxy") == order[0]
    finally:
        # Back to the checkout's version for the tests after this one (the
        # cluster fixture's reset restores the CIB, not the packages).
        cluster.reset()
        for node in cluster.nodes:
            cluster.run(node, "dpkg", "-i", f"{NODE_CHECKOUT}/build/deb/sip-ha_{old}_all.deb",
                        timeout=180)
            cluster.run(node, "rm", "-f", inbox)
