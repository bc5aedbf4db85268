"""ocf:sipha:asterisk in a Pacemaker 3.0 cluster with real Asterisk 22: one
promoted instance, trunk registration only from it, failover on crash and on
hang, and a planned move that waits for the call in progress.

The resource is made by hand with pcs (fixture ``agent_pbx``), not
rendered by `sip-ha cib apply`: the agent as an administrator would use it
alone.  Imported by the sid module (test_sipha_asterisk.py) so that these
tests share its cluster instead of bringing up one of their own."""

from __future__ import annotations

import time

import pytest

from tests.support.pbx_parts import ROOT, install_asterisk_files
from tests.support.sipha_cluster import wait_until

RESOURCE = "pbx"
CLONE = "pbx-clone"


@pytest.fixture(scope="module")
def asterisk_files(cluster_module):
    return install_asterisk_files(cluster_module)


@pytest.fixture
def agent_pbx(cluster, asterisk_files):
    first = cluster.nodes[0]
    cluster.created = time.time()
    cluster.run(first, "pcs", "resource", "create", RESOURCE, "ocf:sipha:asterisk",
                f"config={ROOT}/asterisk.conf",
                "sip_uris=sip:127.0.0.1 sip:127.0.0.1;transport=tcp",
                "sip_timeout=1s", "control_timeout=2s", "drain_timeout=30s",
                "op", "monitor", "interval=5s", "role=Unpromoted", "timeout=20s",
                "op", "monitor", "interval=4s", "role=Promoted", "timeout=20s",
                "op", "demote", "timeout=60s", "op", "stop", "timeout=60s",
                # One failure moves the role; the failed node is a standby again soon.
                "meta", "migration-threshold=1", "failure-timeout=20s",
                "promotable")
    wait_until(lambda: promoted(cluster), 120, what="a promoted Asterisk")
    yield cluster
    cluster.run(first, "pcs", "resource", "delete", RESOURCE, "--force", check=False)


def roles(cluster) -> dict[str, str]:
    """node -> role of the Asterisk instance there."""
    found = {}
    for res in cluster.crm_mon().iter("resource"):
        if res.get("id") == RESOURCE and res.get("active") == "true":
            for node in res.findall("node"):
                found[node.get("name")] = res.get("role")
    return found


def promoted(cluster) -> str | None:
    nodes = [node for node, role in roles(cluster).items() if role == "Promoted"]
    unpromoted = [node for node, role in roles(cluster).items() if role == "Unpromoted"]
    return nodes[0] if len(nodes) == 1 and unpromoted else None


def registers_from(cluster, since: float) -> set[str]:
    return {r["src"] for r in cluster.received("trunk")
            if r["time"] >= since and r["line"].startswith("REGISTER ")}


def test_trunk_registers_only_from_the_promoted_node(agent_pbx):
    cluster = agent_pbx
    active = promoted(cluster)
    standby = next(n for n in cluster.nodes if n != active)
    since = cluster.created
    wait_until(lambda: cluster.ip(active) in registers_from(cluster, since), 60,
               what="REGISTER from the promoted node")
    time.sleep(5)
    assert registers_from(cluster, since) == {cluster.ip(active)}
    assert cluster.run(standby, "asterisk", "-C", f"{ROOT}/asterisk.conf", "-rx",
                       "module show like outbound_registration").stdout.count(".so") == 0


def test_crash_of_the_promoted_asterisk_moves_the_role(agent_pbx):
    cluster = agent_pbx
    active = promoted(cluster)
    standby = next(n for n in cluster.nodes if n != active)
    started = time.time()
    # As an administrator tests a crash (killall -9 asterisk): the agent's
    # crash watcher, no longer named after its shim, survives it and reports.
    cluster.kill_process(active, "asterisk")
    wait_until(lambda: promoted(cluster) == standby, 90, what="the standby promoted")
    reported = cluster.run(active, "journalctl", "--no-pager", "--quiet", "--since",
                           f"@{int(started)}", "--grep", "exited without a stop: reporting",
                           check=False).stdout
    assert "asterisk (pid" in reported, "the crash watcher did not report the crash"
    wait_until(lambda: cluster.ip(standby) in registers_from(cluster, started), 60,
               what="REGISTER from the new active node")
    # The crashed instance comes back as the hot standby.
    wait_until(lambda: roles(cluster).get(active) == "Unpromoted", 90,
               what="the old node back as standby")
    print(f"crash: standby promoted and registered after {time.time() - started:.1f}s")


def test_hung_promoted_asterisk_is_failed_over(agent_pbx):
    cluster = agent_pbx
    active = promoted(cluster)
    started = time.monotonic()
    # SIGSTOP: alive, answering nothing
    cluster.kill_process(active, "asterisk", sig=19, user="asterisk")
    wait_until(lambda: promoted(cluster) not in (None, active), 120,
               what="the standby promoted after the hang")
    outage = time.monotonic() - started
    assert outage < 120
    print(f"hung Asterisk: new node promoted after {outage:.1f}s")


def test_planned_move_waits_for_the_call(agent_pbx):
    cluster = agent_pbx
    active = promoted(cluster)
    target = next(n for n in cluster.nodes if n != active)
    rx = ["asterisk", "-C", f"{ROOT}/asterisk.conf", "-rx"]
    cluster.run(active, *rx, "channel originate Local/600@phones application Wait 600")
    wait_until(lambda: "1 active call" in cluster.run(active, *rx,
                                                      "core show channels count").stdout,
               10, what="the call")
    started = time.monotonic()
    # crm_resource only places the constraint (pcs >= 0.11 would wait for the move).
    cluster.run(active, "crm_resource", "--resource", CLONE, "--move", "--node", target,
                "--promoted")
    time.sleep(6)
    # The move is waiting for the call: the target is not promoted, the call is up.
    assert roles(cluster).get(target) != "Promoted"
    assert "1 active call" in cluster.run(active, *rx, "core show channels count").stdout
    cluster.run(active, *rx, "channel request hangup all")
    wait_until(lambda: promoted(cluster) == target, 60, what="the move to finish")
    assert time.monotonic() - started < 30  # ended by the hangup, not by drain_timeout
    cluster.run(target, "crm_resource", "--resource", CLONE, "--clear", check=False)
