"""ocf:sipha:service-ip with real kernel networking in network namespaces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent_run import AgentRun
from tests.support.asterisk import make_certificates
from tests.support.baresip import Account, Phone
from tests.support.client_host import ClientHost
from tests.support.missing import require_root
from tests.support.netlab import IP, NetLab

OCF_SUCCESS, OCF_ERR_GENERIC, OCF_ERR_ARGS = 0, 1, 2
OCF_ERR_CONFIGURED, OCF_NOT_RUNNING = 6, 7
VIP, VIP2, VIP6 = "198.51.100.100", "198.51.100.101", "2001:db8:5::100"
TRUNK1, TRUNK2, TRUNK6 = "198.51.100.193", "198.51.100.225", "2001:db8:6::1"


@pytest.fixture(autouse=True)
def _root() -> None:
    require_root("network namespaces")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[NetLab]:
    net = NetLab(tmp_path)
    try:
        net.up()
        yield net
    finally:
        net.down()
        assert net.leftovers() == []


class Node:
    """The agent as Pacemaker would run it on one namespace 'node'."""

    def __init__(self, lab: NetLab, ocf_root: Path, name: str) -> None:
        self.lab, self.name = lab, name
        self.shim = str(ocf_root / "resource.d" / "sipha" / "service-ip")
        self.rsctmp = lab.folder / f"rsctmp-{name}"

    def env(self, instance: str, **params: str) -> dict[str, str]:
        env = {"PATH": os.environ["PATH"], "OCF_ROOT": "/usr/lib/ocf",
               "OCF_RESOURCE_INSTANCE": instance, "HA_RSCTMP": str(self.rsctmp)}
        env.update({f"OCF_RESKEY_{k}": v for k, v in params.items()})
        return env

    def run(self, action: str, instance: str = "vip", depth: int = 0, **params: str) -> AgentRun:
        env = self.env(instance, **params)
        if depth:
            env["OCF_CHECK_LEVEL"] = str(depth)
        started = time.monotonic()
        proc = subprocess.run(["/usr/sbin/ip", "netns", "exec", self.lab.ns(self.name),
                               self.shim, action], env=env, capture_output=True, text=True,
                              timeout=60, check=False)
        return AgentRun(proc, time.monotonic() - started)


@pytest.fixture
def nodes(lab: NetLab, ocf_root: Path) -> Iterator[tuple[Node, Node]]:
    pair = Node(lab, ocf_root, "a"), Node(lab, ocf_root, "b")
    yield pair
    for node in pair:  # leave no background announcer behind
        for instance in ("vip", "vip1", "vip2", "vip6"):
            node.run("stop", instance)


def ok(result: AgentRun) -> AgentRun:
    assert result.rc == OCF_SUCCESS, result.stderr
    return result


def wait_for(check, seconds: float) -> float:
    """Poll check() until true; the time it took (fails after seconds)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, "condition not met in time"
        time.sleep(0.02)
    return time.monotonic() - started


PARAMS = {"ip": f"{VIP} {VIP6}", "outbound_networks": "198.51.100.192/27 2001:db8:6::/64"}


def test_failover_moves_address_arp_and_trunk_source(lab: NetLab, nodes: tuple[Node, Node]):
    a, b = nodes
    assert a.run("monitor", **PARAMS).rc == OCF_NOT_RUNNING
    assert lab.send_sip("a", TRUNK1) == "198.51.100.11"
    ok(a.run("start", **PARAMS))
    ok(a.run("monitor", **PARAMS))
    ok(a.run("monitor", depth=10, **PARAMS))
    assert lab.ask_name(VIP) == "a"
    assert lab.ask_name(VIP6) == "a"
    assert lab.neighbour("client", VIP) == lab.mac("a")
    assert lab.neighbour("client", VIP6) == lab.mac("a")
    assert lab.send_sip("a", TRUNK1) == VIP
    assert lab.send_sip("a", TRUNK6) == VIP6

    moved = time.monotonic()
    ok(a.run("stop", **PARAMS))
    assert f"{VIP}/25" not in lab.addresses("a")
    # Control: nothing has told the client yet, so it still has node a's MAC.
    assert lab.neighbour("client", VIP) == lab.mac("a")
    ok(b.run("start", **PARAMS))
    # The client learns the new MAC from the announcements, without asking.
    mac_b = lab.mac("b")
    wait_for(lambda: lab.neighbour("client", VIP) == mac_b, 1 - (time.monotonic() - moved))
    wait_for(lambda: lab.neighbour("client", VIP6) == mac_b, 1)
    assert lab.ask_name(VIP) == "b"
    assert lab.ask_name(VIP6) == "b"
    assert lab.send_sip("b", TRUNK1) == VIP
    assert lab.send_sip("b", TRUNK6) == VIP6
    # Node a is back to its own address and routes.
    assert lab.send_sip("a", TRUNK1) == "198.51.100.11"
    assert lab.send_sip("a", TRUNK6) == "2001:db8:5::11"
    assert a.run("monitor", **PARAMS).rc == OCF_NOT_RUNNING
    ok(b.run("monitor", depth=10, **PARAMS))


def test_two_instances_own_their_routes(lab: NetLab, nodes: tuple[Node, Node]):
    a, _ = nodes
    one = {"ip": VIP, "outbound_networks": "198.51.100.192/27"}
    two = {"ip": VIP2, "outbound_networks": "default"}
    default_before = [r for r in lab.routes("a") if r["dst"] == "default"]
    ok(a.run("start", "vip1", **one))
    ok(a.run("start", "vip2", **two))
    assert lab.send_sip("a", TRUNK1) == VIP
    assert lab.send_sip("a", TRUNK2) == VIP2
    ok(a.run("monitor", "vip1", **one))
    ok(a.run("monitor", "vip2", **two))
    # A third resource may not take a destination another one owns.
    clash = a.run("start", "vip6", ip="198.51.100.102", outbound_networks="default")
    assert clash.rc == OCF_ERR_ARGS
    assert "another service-ip resource" in clash.reason
    ok(a.run("stop", "vip6", ip="198.51.100.102", outbound_networks="default"))
    ok(a.run("stop", "vip1", **one))
    ok(a.run("monitor", "vip2", **two))
    assert lab.send_sip("a", TRUNK2) == VIP2
    assert lab.send_sip("a", TRUNK1) == VIP2  # now via the default route, still vip2's
    ok(a.run("stop", "vip2", **two))
    assert [r for r in lab.routes("a") if r["dst"] == "default"] == default_before
    assert lab.send_sip("a", TRUNK1) == "198.51.100.11"


def _voice_vlan(lab: NetLab, addresses: dict[str, str]) -> None:
    """eth0.100 in each namespace: VLAN 100 on eth0 where the kernel has
    802.1Q; otherwise (this CI kernel has no vlan driver) a second link of
    that name on a second bridge, the same for the agent: one more interface."""
    vlan = lab.ip("a", "link", "add", "link", "eth0", "name", "eth0.100", "type", "vlan",
                  "id", "100", check=False).returncode == 0
    if not vlan:
        lab.ip("sw", "link", "add", "br1", "type", "bridge")
        lab.ip("sw", "link", "set", "br1", "up")
    for node, address in addresses.items():
        if vlan and node != "a":
            lab.ip(node, "link", "add", "link", "eth0", "name", "eth0.100", "type", "vlan",
                   "id", "100")
        elif not vlan:
            lab.ip("sw", "link", "add", f"v-{node}", "type", "veth", "peer", "name",
                   "eth0.100", "netns", lab.ns(node))
            lab.ip("sw", "link", "set", f"v-{node}", "master", "br1", "up")
        lab.ip(node, "link", "set", "eth0.100", "up")
        lab.ip(node, "addr", "add", address, "dev", "eth0.100")


def test_address_on_a_vlan_sub_interface(lab: NetLab, nodes: tuple[Node, Node]):
    """Voice VLAN 100 (198.51.100.128/27) beside eth0: the address lives on
    eth0.100 and the phone in that VLAN follows it from node a to node b."""
    _voice_vlan(lab, {"a": "198.51.100.131/27", "b": "198.51.100.132/27",
                      "client": "198.51.100.140/27"})
    a, b = nodes
    voice = {"ip": "198.51.100.150", "nic": "eth0.100"}
    ok(a.run("start", **voice))
    assert "198.51.100.150/27" in lab.addresses("a", "eth0.100")
    assert "198.51.100.150/27" not in lab.addresses("a", "eth0")
    ok(a.run("monitor", depth=10, **voice))
    assert lab.ask_name("198.51.100.150") == "a"
    ok(a.run("stop", **voice))
    ok(b.run("start", **voice))
    wait_for(lambda: lab.neighbour("client", "198.51.100.150") == lab.mac("b", "eth0.100"), 1)
    assert lab.ask_name("198.51.100.150") == "b"
    # Without nic the agent picks the interface whose network holds the address.
    ok(b.run("stop", **voice))
    ok(a.run("start", ip="198.51.100.150"))
    assert "198.51.100.150/27" in lab.addresses("a", "eth0.100")
    ok(a.run("stop", ip="198.51.100.150"))


def test_monitor_notices_removed_address_and_route(lab: NetLab, nodes: tuple[Node, Node]):
    a, _ = nodes
    ok(a.run("start", **PARAMS))
    lab.ip("a", "route", "del", "198.51.100.192/27")
    gone = a.run("monitor", **PARAMS)
    assert gone.rc == OCF_ERR_GENERIC
    assert "198.51.100.192/27 no longer has source" in gone.reason
    ok(a.run("start", **PARAMS))  # a restart repairs
    lab.ip("a", "-6", "addr", "del", f"{VIP6}/64", "dev", "eth0")
    assert "no longer on eth0" in a.run("monitor", **PARAMS).reason
    ok(a.run("stop", **PARAMS))
    assert lab.send_sip("a", TRUNK6) == "2001:db8:5::11"


def test_duplicates_are_found_at_depth_10(lab: NetLab, nodes: tuple[Node, Node]):
    a, _ = nodes
    ok(a.run("start", **PARAMS))
    lab.ip("b", "addr", "add", f"{VIP}/25", "dev", "eth0")
    assert a.run("monitor", **PARAMS).rc == OCF_SUCCESS  # depth 0 does not probe
    dup = a.run("monitor", depth=10, **PARAMS)
    assert dup.rc == OCF_ERR_GENERIC
    assert dup.reason == (f"duplicate address: {VIP} is also answered by {lab.mac('b')} "
                          "(another host holds it)")
    lab.ip("b", "addr", "del", f"{VIP}/25", "dev", "eth0")
    lab.ip("b", "-6", "addr", "add", f"{VIP6}/64", "dev", "eth0", "nodad")
    dup6 = a.run("monitor", depth=10, **PARAMS)
    assert dup6.rc == OCF_ERR_GENERIC
    assert f"{VIP6} is also answered by {lab.mac('b')}" in dup6.reason
    lab.ip("b", "-6", "addr", "del", f"{VIP6}/64", "dev", "eth0")
    ok(a.run("monitor", depth=10, **PARAMS))


def test_never_removes_an_address_it_did_not_add(lab: NetLab, nodes: tuple[Node, Node]):
    a, _ = nodes
    lab.ip("a", "addr", "add", f"{VIP}/25", "dev", "eth0")
    taken = a.run("start", ip=VIP)
    assert taken.rc == OCF_ERR_ARGS
    assert taken.reason == (f"{VIP} is already on eth0 and was not added by this resource; "
                            "remove it there or choose another address")
    assert a.run("monitor", ip=VIP).rc == OCF_NOT_RUNNING
    ok(a.run("stop", ip=VIP))
    assert f"{VIP}/25" in lab.addresses("a")
    # An address added next to ours survives our stop.
    ok(a.run("start", ip=VIP2))
    lab.ip("a", "addr", "add", "198.51.100.102/25", "dev", "eth0")
    ok(a.run("stop", ip=VIP2))
    assert {f"{VIP}/25", "198.51.100.102/25", "198.51.100.11/25"} <= set(lab.addresses("a"))
    assert f"{VIP2}/25" not in lab.addresses("a")


@pytest.mark.parametrize(("params", "code", "reason"), [
    ({"ip": "198.51.100.300"}, OCF_ERR_CONFIGURED,
     "ip: '198.51.100.300' is not an IPv4 or IPv6 address"),
    ({"ip": VIP, "nic": "eth9"}, OCF_ERR_ARGS, "interface eth9 does not exist on this node"),
    ({"ip": "198.51.100.150"}, OCF_ERR_ARGS,
     "198.51.100.150 is in no network connected to this node; set nic and a prefix length, "
     "or fix the address"),
    ({"ip": f"{VIP}/26"}, OCF_ERR_ARGS,
     f"prefix mismatch: {VIP}/26 but the network on eth0 is /25"),
    ({"ip": VIP, "outbound_networks": "2001:db8:6::/64"}, OCF_ERR_CONFIGURED,
     "outbound_networks: 2001:db8:6::/64 needs an IPv6 service address in ip"),
    ({"ip": VIP, "outbound_networks": "198.51.100.192/27", "nic": "lo"}, OCF_ERR_ARGS,
     f"{VIP} belongs to a network on eth0, not to nic=lo"),
    ({"ip": VIP6, "outbound_networks": "::/0"}, OCF_ERR_ARGS,
     "no IPv6 default route on this node to give source 2001:db8:5::100"),
])
def test_bad_input_gets_a_code_and_a_reason(lab: NetLab, nodes: tuple[Node, Node],
                                            params: dict[str, str], code: int, reason: str):
    a, _ = nodes
    before = lab.addresses("a")
    result = a.run("start", **params)
    assert (result.rc, result.reason) == (code, reason)
    if code != OCF_ERR_CONFIGURED:
        ok(a.run("stop", **params))
    assert lab.addresses("a") == before


def test_timing(lab: NetLab, nodes: tuple[Node, Node], capsys: pytest.CaptureFixture[str]):
    a, _ = nodes
    starts, monitors, deep, stops = [], [], [], []
    for _ in range(5):
        starts.append(ok(a.run("start", **PARAMS)).elapsed)
        monitors.append(ok(a.run("monitor", **PARAMS)).elapsed)
        deep.append(ok(a.run("monitor", depth=10, **PARAMS)).elapsed)
        stops.append(ok(a.run("stop", **PARAMS)).elapsed)
    with capsys.disabled():
        print(f"\nservice-ip (2 addresses, 2 routes) median wall: "
              f"start {sorted(starts)[2] * 1000:.0f} ms, "
              f"monitor {sorted(monitors)[2] * 1000:.0f} ms, "
              f"monitor depth 10 {sorted(deep)[2] * 1000:.0f} ms, "
              f"stop {sorted(stops)[2] * 1000:.0f} ms")
    assert sorted(monitors)[2] < 0.5


def test_ocf_tester_passes(lab: NetLab, nodes: tuple[Node, Node]):
    a, _ = nodes
    options = []
    for key, value in PARAMS.items():
        options += ["-o", f"{key}={value}"]
    result = subprocess.run(
        ["/usr/sbin/ip", "netns", "exec", lab.ns("a"), "/usr/sbin/ocf-tester", "-n", "vip",
         *options, a.shim], env=a.env("vip"), capture_output=True, text=True, timeout=300,
        check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed all tests" in result.stdout
    assert VIP not in " ".join(lab.addresses("a"))
    assert lab.send_sip("a", TRUNK1) == "198.51.100.11"


# -- TCP connections on a moving address -------------------------------------

REPO = Path(__file__).resolve().parents[2]
# Run inside a node: a SIP server on TCP 5060 and TLS 5061 (certificate and
# key in the PEM file given) that every node runs, listening on all addresses
# like a standby Asterisk or Kamailio (so the old node would accept a
# connection to the service address while it still has it); answers as
# tests/support/registrar.py does (REGISTER 200, INVITE 404) and logs one
# JSON line per connection and request with the node's name.
TCP_SIP_SERVER = """
import json, socket, ssl, sys, threading, time
from tests.support.registrar import answer
node, log_path, pem = sys.argv[1], sys.argv[2], sys.argv[3]
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(pem)
lock = threading.Lock()
def log(record):
    with lock, open(log_path, "a") as handle:
        handle.write(json.dumps({**record, "node": node, "at": time.time()}) + "\\n")
def serve(conn, port, wrap):
    log({"event": "accepted", "port": port})
    try:
        conn = tls.wrap_socket(conn, server_side=True) if wrap else conn
    except OSError as exc:
        log({"event": str(exc), "port": port})
        return
    data = b""
    while True:
        try:
            more = conn.recv(65536)
        except OSError as exc:
            more, why = b"", str(exc)
        else:
            why = "closed"
        if not more:
            log({"event": why, "port": port})
            return
        data = (data + more).lstrip(b"\\r\\n")
        while b"\\r\\n\\r\\n" in data:  # a whole header; its body is read and skipped
            head, _, data = data.partition(b"\\r\\n\\r\\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\\r\\n")
                           if line.lower().startswith((b"content-length:", b"l:"))), 0)
            while len(data) < length:
                data += conn.recv(65536)
            data = data[length:]
            text = head.decode("utf-8", "replace") + "\\r\\n\\r\\n"
            if text.startswith("SIP/2.0"):
                continue
            response, record = answer(text)
            log({"event": "request", "method": record["method"], "port": port})
            conn.sendall(response.encode())
def listen(port, wrap):
    server = socket.socket(socket.AF_INET6)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    server.bind(("::", port)); server.listen(16)
    def accept():
        while True:
            conn, peer = server.accept()
            threading.Thread(target=serve, args=(conn, peer[1], wrap), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
listen(5060, False)
listen(5061, True)
print("ready", flush=True)
threading.Event().wait()
"""
# Run inside a node: hold every connection open after sending the node's name.
HOLD_SERVER = """
import socket, sys
server = socket.socket(socket.AF_INET6)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
server.bind(("::", 7001)); server.listen(16)
print("ready", flush=True)
held = []
while True:
    conn, _ = server.accept(); conn.sendall(sys.argv[1].encode()); held.append(conn)
"""
# Run in the client: the worst case of a phone, one that reconnects the very
# moment its connection is reset; logs where each connection landed.
EAGER_CLIENT = """
import json, socket, sys, time
address, log_path = sys.argv[1], sys.argv[2]
def log(record):
    with open(log_path, "a") as handle:
        handle.write(json.dumps({**record, "at": time.time()}) + "\\n")
print("ready", flush=True)
while True:
    try:
        conn = socket.create_connection((address, 7001), timeout=20)
        log({"node": conn.recv(16).decode()})
    except OSError as exc:
        log({"failed": str(exc)})
        time.sleep(0.05)
        continue
    try:
        why = "closed" if not conn.recv(16) else "data"
    except OSError as exc:
        why = str(exc)
    log({"lost": why})
"""


def spawn(lab: NetLab, node: str, code: str, *args: str) -> None:
    """A script in node's namespace (with this checkout importable), ended by
    lab.down()."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([IP, "netns", "exec", lab.ns(node), sys.executable, "-c", code,
                             *args], stdout=subprocess.PIPE, text=True, env=env)
    lab.processes.append(proc)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_move_resets_tcp_and_eager_clients_reconnect_to_the_new_holder(
        lab: NetLab, nodes: tuple[Node, Node], capsys: pytest.CaptureFixture[str]):
    """Clients that reconnect the moment they are reset (IPv4 and IPv6): the
    stop on node a resets them, none gets back onto a in the moment before the
    address goes, and each is connected to node b soon after b starts."""
    a, b = nodes
    for node in ("a", "b"):
        spawn(lab, node, HOLD_SERVER, node)
    ok(a.run("start", **PARAMS))
    logs = {address: lab.folder / f"eager-{address}.log" for address in (VIP, VIP6)}
    for address, path in logs.items():
        spawn(lab, "client", EAGER_CLIENT, address, str(path))
    wait_for(lambda: all(records(path) for path in logs.values()), 5)
    assert [r.get("node") for path in logs.values() for r in records(path)] == ["a", "a"]

    moved = time.time()
    ok(a.run("stop", **PARAMS))
    stopped = time.time()
    ok(b.run("start", **PARAMS))
    started = time.time()
    wait_for(lambda: all(any(r.get("node") == "b" for r in records(path))
                         for path in logs.values()), 10)
    for address, path in logs.items():
        after = [r for r in records(path) if r["at"] >= moved]
        lost, back = after[0], next(r for r in after if "node" in r)
        assert "reset" in lost.get("lost", ""), after
        assert lost["at"] <= stopped, after
        assert back["node"] == "b", after  # never back on node a in between
        with capsys.disabled():
            print(f"\neager TCP client on {address}: reset {lost['at'] - moved:.3f} s after "
                  f"a's stop began (stop took {stopped - moved:.3f} s), connected to b "
                  f"{back['at'] - started:.3f} s after b's start returned")


def phone_connections(lab: NetLab) -> list[str]:
    """The client's established TCP connections to the service address."""
    return lab.exec("client", "ss", "-H", "-n", "-t", "state", "established", "dst",
                    VIP).stdout.splitlines()


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_a_baresip_phone_reaches_the_new_holder_at_once_after_a_move(
        lab: NetLab, nodes: tuple[Node, Node], capsys: pytest.CaptureFixture[str],
        transport: str):
    """A real baresip phone registered over TCP or TLS: node a's stop resets
    its connection, so its next call opens a new one, to node b, and is
    answered at once (before the reset, such a call went into the dead
    connection and waited 32 s for Timer B; README, Phones)."""
    a, b = nodes
    tls = make_certificates(lab.folder / "tls", VIP)
    (lab.folder / "server.pem").write_text(tls.cert + tls.key)
    for node in ("a", "b"):
        spawn(lab, node, TCP_SIP_SERVER, node, str(lab.folder / f"sip-{node}.log"),
              str(lab.folder / "server.pem"))
    ok(a.run("start", ip=VIP))
    host = ClientHost((IP, "netns", "exec", lab.ns("client")), f"/run/netns/{lab.ns('client')}")
    server = f"{VIP}:5061" if transport == "tls" else VIP
    # A long registration: no refresh of its own comes during the test.
    phone = Phone(host, str(lab.folder / "phone"), Account("101", "secret", server, transport,
                                                           regint=600), "198.51.100.20",
                  cafile=tls.ca if transport == "tls" else "")
    try:
        phone.start()
        assert phone.registered(10), phone.log()[-2000:]
        assert [r["event"] for r in records(lab.folder / "sip-a.log")] == ["accepted", "request"]
        assert len(phone_connections(lab)) == 1

        moved = time.monotonic()
        ok(a.run("stop", ip=VIP))
        stopped = time.monotonic()
        # The phone's side of the connection is gone: the RST reached it.
        assert phone_connections(lab) == []
        ok(b.run("start", ip=VIP))
        started = time.monotonic()
        outcome = phone.call(f"sip:700@{server};transport={transport}", timeout=10)
        done = time.monotonic()
        assert outcome.code == 404, outcome  # node b's server answers INVITE with 404
        assert [(r["event"], r.get("method")) for r in records(lab.folder / "sip-b.log")][:2] \
            == [("accepted", None), ("request", "INVITE")]
        with capsys.disabled():
            print(f"\nbaresip {transport.upper()} phone: a's stop took {stopped - moved:.3f} s "
                  f"and reset its connection; its call placed {started - stopped:.3f} s "
                  f"later, right after b's start, was answered by b in {done - started:.3f} s")
    finally:
        phone.stop()
