"""A small L2 network of network namespaces for the service-ip tests.

Topology (one bridge in its own namespace; nothing touches the host's
stack; every name starts with ``siphaip`` and a random suffix)::

    node-a  eth0 198.51.100.11/25 2001:db8:5::11/64 ─┐
    node-b  eth0 198.51.100.12/25 2001:db8:5::12/64 ─┼─ bridge (ns "sw")
    client  eth0 198.51.100.20/25 2001:db8:5::20/64 ─┤
    trunk   eth0 198.51.100.1/25  2001:db8:5::1/64  ─┘  (router for the nodes)
            lo   198.51.100.193, 198.51.100.225, 2001:db8:6::1  (the "ITSP" hosts)
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

IP = "/usr/sbin/ip"
NODES = {"a": ("198.51.100.11", "2001:db8:5::11"), "b": ("198.51.100.12", "2001:db8:5::12"),
         "client": ("198.51.100.20", "2001:db8:5::20"), "trunk": ("198.51.100.1", "2001:db8:5::1")}
TRUNK_HOSTS = ("198.51.100.193", "198.51.100.225", "2001:db8:6::1")

# Run inside a namespace: answer each TCP connection with this node's name.
NAME_SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); s.bind(("::", 7000)); s.listen(8)
print("ready", flush=True)
while True:
    c, _ = s.accept(); c.sendall(sys.argv[1].encode()); c.close()
"""
# Run inside the trunk namespace: log the source address of every UDP datagram on 5060.
SIP_SINK = """
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); s.bind(("::", 5060))
print("ready", flush=True)
while True:
    data, src = s.recvfrom(4096)
    with open(sys.argv[1], "a") as f:
        f.write(src[0].removeprefix("::ffff:") + " " + data.split(b"\\r\\n")[0].decode() + "\\n")
"""
SEND_SIP = """
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.sendto(("OPTIONS sip:" + sys.argv[2] + " SIP/2.0\\r\\n\\r\\n").encode(), (sys.argv[1], 5060))
"""
ASK_NAME = """
import socket, sys
with socket.create_connection((sys.argv[1], 7000), timeout=2) as c:
    print(c.recv(64).decode())
"""
TOUCH = """
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
socket.socket(fam, socket.SOCK_DGRAM).sendto(b"x", (sys.argv[1], 9))
"""


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=30)


class NetLab:
    def __init__(self, folder: Path) -> None:
        self.prefix = f"siphaip{secrets.token_hex(3)}"
        self.folder = folder
        self.processes: list[subprocess.Popen[str]] = []
        self.sink_log = folder / "trunk-received.log"

    def ns(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def ip(self, node: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh(IP, "-n", self.ns(node), *args, check=check)

    def exec(self, node: str, *argv: str, check: bool = True,
             **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run([IP, "netns", "exec", self.ns(node), *argv], capture_output=True,
                              text=True, check=check, timeout=60, **kwargs)  # type: ignore[call-overload]

    def up(self) -> None:
        sh(IP, "netns", "add", self.ns("sw"))
        self.ip("sw", "link", "add", "br0", "type", "bridge")
        self.ip("sw", "link", "set", "br0", "up")
        for node, (v4, v6) in NODES.items():
            ns = self.ns(node)
            sh(IP, "netns", "add", ns)
            for key in ("all", "default"):
                self.exec(node, "sysctl", "-qw", f"net.ipv6.conf.{key}.accept_dad=0")
            self.ip("sw", "link", "add", f"p-{node}", "type", "veth", "peer", "name", "eth0",
                    "netns", ns)
            self.ip("sw", "link", "set", f"p-{node}", "master", "br0", "up")
            self.ip(node, "link", "set", "lo", "up")
            self.ip(node, "link", "set", "eth0", "up")
            self.ip(node, "addr", "add", f"{v4}/25", "dev", "eth0")
            self.ip(node, "-6", "addr", "add", f"{v6}/64", "dev", "eth0", "nodad")
        for node in ("a", "b", "client"):
            self.ip(node, "route", "add", "default", "via", NODES["trunk"][0])
            self.ip(node, "-6", "route", "add", "2001:db8:6::/64", "via", NODES["trunk"][1])
        for host in TRUNK_HOSTS:
            self.ip("trunk", "addr", "add", host, "dev", "lo")
        for node in ("a", "b"):
            self.spawn(node, NAME_SERVER, node)
        self.spawn("trunk", SIP_SINK, str(self.sink_log))

    def spawn(self, node: str, code: str, *args: str) -> None:
        proc = subprocess.Popen([IP, "netns", "exec", self.ns(node), sys.executable, "-I", "-c",
                                 code, *args], stdout=subprocess.PIPE, text=True)
        self.processes.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

    def down(self) -> None:
        for proc in self.processes:
            proc.kill()
            proc.wait()
        for node in (*NODES, "sw"):
            sh(IP, "netns", "del", self.ns(node), check=False)

    def leftovers(self) -> list[str]:
        return [line for line in sh(IP, "netns", "list").stdout.splitlines()
                if line.startswith(self.prefix)]

    # -- observations -------------------------------------------------------

    def mac(self, node: str, dev: str = "eth0") -> str:
        return json.loads(self.ip(node, "-j", "link", "show", "dev", dev).stdout)[0]["address"]

    def addresses(self, node: str, dev: str = "eth0") -> list[str]:
        info = json.loads(self.ip(node, "-j", "addr", "show", "dev", dev).stdout)[0]
        return [f"{a['local']}/{a['prefixlen']}" for a in info["addr_info"]]

    def routes(self, node: str, family: int = 4) -> list[dict[str, object]]:
        return json.loads(self.ip(node, "-j", f"-{family}", "route", "show").stdout)

    def neighbour(self, node: str, address: str) -> str | None:
        found = json.loads(self.ip(node, "-j", "neigh", "show", address).stdout)
        return found[0].get("lladdr") if found else None

    def ask_name(self, address: str) -> str:
        """Which node answers on address (TCP from the client)."""
        return self.exec("client", sys.executable, "-I", "-c", ASK_NAME,
                         address).stdout.strip()

    def touch(self, node: str, address: str) -> None:
        """One datagram, so node resolves address's MAC."""
        self.exec(node, sys.executable, "-I", "-c", TOUCH, address)

    def send_sip(self, node: str, destination: str) -> str:
        """Send OPTIONS from node; the source address the trunk saw."""
        tag = secrets.token_hex(4)
        self.exec(node, sys.executable, "-I", "-c", SEND_SIP, destination, tag)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if self.sink_log.exists():
                for line in self.sink_log.read_text().splitlines():
                    if line.endswith(f"sip:{tag} SIP/2.0"):
                        return line.split()[0]
            time.sleep(0.02)
        raise AssertionError(f"the trunk never received OPTIONS to {destination} from {node}")
