"""Cluster tests shared by the test modules: each module imports the ones it
runs (pytest collects them there) and sets CLUSTER_DIST / CLUSTER_NODES."""

import re
import time

from tests.support.sipha_cluster import HOST_IP, SERVICE_IP, TRUNK_IP, wait_until


def _target(cluster):
    """The node the faults are injected into, and the node watching."""
    return cluster.nodes[-1], cluster.nodes[0]


def test_vagrant_up_all_nodes_running(cluster):
    out = cluster.vagrant("status", "--machine-readable").stdout
    states = dict(re.findall(r"^\d+,(node\d+),state,(\w+)$", out, re.M))
    assert states == {n: "running" for n in cluster.nodes}
    assert all(cluster.state(n) == "RUNNING" for n in cluster.nodes)


def test_pcs_status_all_nodes_online(cluster):
    out = cluster.run(cluster.nodes[0], "pcs", "status").stdout
    online = re.search(r"Online: \[ (.*) \]", out)
    assert online and sorted(online.group(1).split()) == cluster.nodes, out
    assert "OFFLINE" not in out and "UNCLEAN" not in out
    for node in cluster.nodes:
        assert cluster.online_nodes(node) == cluster.nodes


def test_quorum(cluster):
    votes = cluster.size + (1 if cluster.qdevice else 0)
    for node in cluster.nodes:
        out = cluster.run(node, "corosync-quorumtool", "-s").stdout
        assert re.search(r"Quorate:\s+Yes", out), out
        assert re.search(r"Expected votes:\s+%d\b" % votes, out), out
        assert re.search(r"Total votes:\s+%d\b" % votes, out), out
        if cluster.qdevice:
            # two_node is gone, and every node's device is alive and voting
            # (A,V: not NA or NV; NMW: no master-wins).
            assert re.search(r"Flags:.*\bQdevice\b", out) and "2Node" not in out, out
            assert len(re.findall(r"\bA,V,NMW\b", out)) == cluster.size, out
    assert cluster.quorate()


def test_fencing_configured(cluster):
    mon = cluster.crm_mon()
    assert mon.find("summary/cluster_options").get("stonith-enabled") == "true"
    devices = {rid: r for rid, r in cluster.resources().items()
               if r[0] == "stonith:fence_sipha"}
    assert devices and all(r[1] == "Started" for r in devices.values()), devices
    node = cluster.nodes[0]
    config = cluster.run(node, "pcs", "stonith", "config").stdout
    assert "ipaddr=%s" % HOST_IP in config
    for target in cluster.nodes:
        can = cluster.run(node, "stonith_admin", "--list", target, check=False).stdout
        assert any(d in can for d in devices), (target, can)
    assert cluster.run(node, "fence_sipha", "-o", "status", "-n", cluster.nodes[-1],
                       "-a", HOST_IP, "-p", cluster.fence_secret(), check=False).returncode == 0


def test_fence_agent_metadata_and_list(cluster):
    node = cluster.nodes[0]
    meta = cluster.run(node, "fence_sipha", "-o", "metadata").stdout
    assert '<resource-agent name="fence_sipha"' in meta
    listed = cluster.run(node, "fence_sipha", input="action=list\nipaddr=%s\npasswd=%s\n"
                         % (HOST_IP, cluster.fence_secret())).stdout
    assert sorted(line.rstrip(",") for line in listed.split()) == cluster.nodes
    denied = cluster.run(node, "fence_sipha", "-o", "status", "-n", node, "-a", HOST_IP,
                         "-p", "wrong", check=False)
    assert denied.returncode == 1 and "authentication" in denied.stderr


def test_fence_off_kills_container(cluster):
    target, watcher = _target(cluster)
    mark = len(cluster.fence_log())
    cluster.run(watcher, "stonith_admin", "--fence", target, "--timeout", "60", timeout=90)
    assert cluster.state(target) == "STOPPED"
    assert "OFF %s from %s" % (target, cluster.ip(watcher)) in cluster.wait_fenced(target, mark)
    # The cluster accepts the fencing: the target is no longer UNCLEAN
    # (offline, or back after a reboot the DC may add when it sees the
    # membership loss).
    wait_until(lambda: not cluster.node_status(watcher)[target].unclean, 90,
               what="%s clean" % target)


def test_fence_reboot_resets_container(cluster):
    target, watcher = _target(cluster)
    pid = cluster.init_pid(target)
    mark = len(cluster.fence_log())
    cluster.run(watcher, "stonith_admin", "--reboot", target, "--timeout", "60", timeout=90)
    # Powered off, then on again after the agent's boot_delay.
    cluster.wait_fenced(target, mark, verb="OFF")
    wait_until(lambda: cluster.state(target) == "RUNNING" and cluster.init_pid(target) != pid,
               30, what="%s powered on again" % target)
    cluster.wait_all_online(timeout=120)


def _fault_is_fenced(cluster, inject, verb="OFF"):
    """Inject a fault into the target; the survivors must fence it (the
    fence daemon really kills it), keep quorum, and get it back."""
    target, watcher = _target(cluster)
    mark = len(cluster.fence_log())
    t0 = time.monotonic()
    inject(target)
    line = cluster.wait_fenced(target, mark, timeout=120, verb=verb)
    fenced_after = time.monotonic() - t0
    assert "from %s" % cluster.ip(target) not in line   # never by itself
    assert cluster.quorate(watcher)
    # Pacemaker's default action is reboot: the node comes back and rejoins.
    cluster.wait_all_online(timeout=180)
    return fenced_after


def test_hard_node_loss_is_fenced(cluster):
    _fault_is_fenced(cluster, cluster.kill_node)


def test_network_partition_fences_isolated_node(cluster):
    _fault_is_fenced(cluster, cluster.partition)


def test_frozen_node_is_fenced(cluster):
    _fault_is_fenced(cluster, cluster.freeze)


def test_killed_pacemaker_is_recovered(cluster):
    target, watcher = _target(cluster)
    mark = len(cluster.fence_log())
    cluster.kill_process(target, "pacemaker-execd")
    # pacemakerd respawns lost subdaemons or the node is fenced: either way
    # the node must be back, healthy, without the watcher losing quorum.
    cluster.wait_all_online(timeout=180)
    assert cluster.quorate(watcher)
    del mark


def test_service_address_answers_phone_and_fails_over(cluster):
    node = cluster.nodes[0]
    cluster.run(node, "sipha-test-service", timeout=120)
    active = cluster.resources()["sip-ip"][2]
    assert len(active) == 1, active
    assert cluster.phone_options(SERVICE_IP) == "SIP/2.0 200 OK"
    assert cluster.phone_options(SERVICE_IP, tcp=True) == "SIP/2.0 200 OK"
    # The trunk provider records the source address of what the active sends.
    cluster.run(active[0], "python3", "/vagrant/vagrant/sip/sipsim.py", "options",
                "--to", TRUNK_IP, "--source", SERVICE_IP)
    assert cluster.received("trunk")[-1]["src"] == SERVICE_IP
    # Fail the active node: the address answers again from another node.
    cluster.kill_node(active[0])
    t0 = time.monotonic()
    wait_until(lambda: cluster.phone_options(SERVICE_IP) == "SIP/2.0 200 OK", 120,
               what="service address answering again")
    outage = time.monotonic() - t0
    now_active = cluster.resources(cluster.running_nodes()[0])["sip-ip"][2]
    assert now_active and now_active[0] != active[0]
    print("service outage after hard loss of %s: %.1f s" % (active[0], outage))
