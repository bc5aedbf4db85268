"""holds-address, the quorum device's heuristic, installed by install-agents
and run as corosync-qdevice runs it, inside a network namespace holding a
service address, with net.ipv4/ipv6.ip_nonlocal_bind = 1 there: a bind
test would pass for any address then, the kernel's lists do not."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.missing import require_root

pytestmark = pytest.mark.integration
IP = "/usr/sbin/ip"
HELD = ("198.51.100.250", "2001:db8:5164::250")
NOT_HELD = ("198.51.100.251", "2001:db8:5164::251")
# Inside the namespace: 0 when binding ARGV[1] works (it does for any address
# under ip_nonlocal_bind = 1).
BINDS = """
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
socket.socket(family, socket.SOCK_DGRAM).bind((sys.argv[1], 0))
"""


@pytest.fixture
def namespace() -> Iterator[str]:
    require_root("network namespaces")
    name = f"siphaqd{secrets.token_hex(3)}"
    subprocess.run([IP, "netns", "add", name], check=True, timeout=30)
    try:
        def ip(*args: str) -> None:
            subprocess.run([IP, "-n", name, *args], check=True, timeout=30)
        ip("link", "set", "lo", "up")
        ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
        for link in ("eth0", "eth1"):
            ip("link", "set", link, "up")
        ip("addr", "add", f"{HELD[0]}/24", "dev", "eth0")
        ip("-6", "addr", "add", f"{HELD[1]}/64", "dev", "eth0", "nodad")
        for family in ("ipv4", "ipv6"):
            subprocess.run([IP, "netns", "exec", name, "sysctl", "-qw",
                            f"net.{family}.ip_nonlocal_bind=1"], check=True, timeout=30)
        yield name
    finally:
        subprocess.run([IP, "netns", "del", name], check=False, timeout=30)


def test_only_an_address_configured_in_the_namespace_passes(namespace: str, tmp_path: Path):
    sip_ha = Path(sys.executable).with_name("sip-ha")
    where = ["--ocf-root", str(tmp_path / "ocf"), "--alert-dir", str(tmp_path / "alerts"),
             "--helper-dir", str(tmp_path / "lib")]
    subprocess.run([str(sip_ha), "install-agents", *where], check=True, capture_output=True)
    helper = str(tmp_path / "lib" / "holds-address")

    def code(*argv: str) -> int:
        return subprocess.run([IP, "netns", "exec", namespace, *argv], env={},
                              capture_output=True, check=False, timeout=30).returncode
    for address in NOT_HELD:  # the case a bind test gets wrong
        assert code(sys.executable, "-I", "-c", BINDS, address) == 0, address
    assert [code(helper, address) for address in (*HELD, *NOT_HELD)] == [0, 0, 1, 1]
    assert code(helper, NOT_HELD[0], HELD[1]) == 0
    # Outside the namespace the host holds neither.
    assert subprocess.run([helper, *HELD], check=False).returncode == 1
    subprocess.run([str(sip_ha), "install-agents", "--uninstall", *where], check=True,
                   capture_output=True)
