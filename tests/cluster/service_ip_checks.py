"""ocf:sipha:service-ip in a Pacemaker cluster: the phone's neighbour cache
follows a moved address at once (gratuitous ARP / unsolicited NA), and SIP
from the active node reaches each trunk network from its service address,
before and after failover, with two instances side by side.

Imported by the bookworm cluster module so that it shares that cluster."""

from __future__ import annotations

import socket
import subprocess
import time

from tests.support.sipha_cluster import HOST_IP, TRUNK_IP, wait_until

SERVICE_V4 = "198.51.100.100"
SERVICE_V6 = "2001:db8:5164::100"
SECOND_V4 = "198.51.100.101"


def _mac(cluster, node: str) -> str:
    return cluster.run(node, "cat", "/sys/class/net/eth0/address").stdout.strip()


def _phone(cluster, *argv: str) -> str:
    return subprocess.run(["ip", "netns", "exec", f"{cluster.prefix}-phone", *argv],
                          capture_output=True, text=True, timeout=30, check=True).stdout


def _phone_sees(cluster, address: str) -> str:
    """The MAC in the phone's neighbour cache for ``address`` (no traffic sent)."""
    words = _phone(cluster, "ip", "neigh", "show", address).split()
    return words[words.index("lladdr") + 1] if "lladdr" in words else ""


def _where(cluster, resource: str) -> str | None:
    nodes = cluster.resources().get(resource, (None, None, []))[2]
    return nodes[0] if nodes else None


def _sources_seen(cluster, host: str, since: float) -> set[str]:
    return {r["src"] for r in cluster.received(host) if r["time"] >= since}


def _send_options(cluster, node: str, target: str) -> None:
    cluster.run(node, "/usr/bin/sip-ha-sip-options", "--timeout", "1",
                f"sip:{target}", check=False)


def _source_at_host(cluster, node: str) -> str:
    """Send SIP from ``node`` to a listener on the host's bridge address; its source."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind((HOST_IP, 0))
        listener.settimeout(10)
        _send_options(cluster, node, f"{HOST_IP}:{listener.getsockname()[1]}")
        return listener.recvfrom(65535)[1][0]


def test_service_addresses_move_with_the_neighbour_caches_and_trunk_source(cluster):
    first = cluster.nodes[0]
    cluster.run(first, "pcs", "resource", "create", "svc-ip", "ocf:sipha:service-ip",
                f"ip={SERVICE_V4} {SERVICE_V6}", f"outbound_networks={TRUNK_IP}/32",
                "op", "monitor", "interval=5s", "op", "monitor", "interval=20s",
                "OCF_CHECK_LEVEL=10")
    # A second instance owns the route to a second network (here: the host).
    cluster.run(first, "pcs", "resource", "create", "svc2-ip", "ocf:sipha:service-ip",
                f"ip={SECOND_V4}", f"outbound_networks={HOST_IP}/32",
                "op", "monitor", "interval=5s")
    cluster.run(first, "pcs", "constraint", "colocation", "add", "svc2-ip", "with",
                "svc-ip", "INFINITY")
    active = wait_until(lambda: _where(cluster, "svc-ip") if _where(cluster, "svc2-ip") ==
                        _where(cluster, "svc-ip") else None, 60, what="both addresses up")
    other = next(n for n in cluster.nodes if n != active)

    _phone(cluster, "ping", "-c", "1", "-W", "2", SERVICE_V4)
    _phone(cluster, "ping", "-6", "-c", "1", "-W", "2", SERVICE_V6)
    assert _phone_sees(cluster, SERVICE_V4) == _mac(cluster, active)
    assert _phone_sees(cluster, SERVICE_V6) == _mac(cluster, active)

    since = time.time()
    _send_options(cluster, active, TRUNK_IP)
    wait_until(lambda: SERVICE_V4 in _sources_seen(cluster, "trunk", since), 10,
               what="SIP at the trunk from the service address")
    assert _sources_seen(cluster, "trunk", since) == {SERVICE_V4}
    assert _source_at_host(cluster, active) == SECOND_V4

    # pcs >= 0.11 "resource move" drops its constraint again and refuses when
    # the resource would move back (no stickiness here): place it directly.
    cluster.run(first, "crm_resource", "--move", "--resource", "svc-ip", "--node", other)
    wait_until(lambda: _where(cluster, "svc-ip") == other and
               _where(cluster, "svc2-ip") == other, 60, what="the move")
    # The phone sent nothing since: its caches were corrected by the announcements.
    assert _phone_sees(cluster, SERVICE_V4) == _mac(cluster, other)
    assert wait_until(lambda: _phone_sees(cluster, SERVICE_V6) == _mac(cluster, other), 2,
                      what="the IPv6 neighbour entry")

    since = time.time()
    _send_options(cluster, other, TRUNK_IP)
    wait_until(lambda: SERVICE_V4 in _sources_seen(cluster, "trunk", since), 10,
               what="SIP at the trunk from the service address after the move")
    assert _sources_seen(cluster, "trunk", since) == {SERVICE_V4}
    assert _source_at_host(cluster, other) == SECOND_V4
    # Nothing is left behind on the old node: no address, no source route.
    assert SERVICE_V4 not in cluster.run(active, "ip", "-br", "addr").stdout
    assert cluster.run(active, "ip", "route", "show", "proto", "241").stdout.strip() == ""
    cluster.run(first, "crm_resource", "--clear", "--resource", "svc-ip", check=False)
