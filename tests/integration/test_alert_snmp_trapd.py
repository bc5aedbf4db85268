"""The alert agent's SNMP channel against net-snmp's snmptrapd: send_trap runs
inside an AlertNetns, to 127.0.0.1:1162 and [::1]:1162 of that namespace, and
snmptrapd's own decoder says what arrived (tests/support/snmptrapd.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sip_ha.alert import snmp
from tests.support.alertlab import LOOPBACKS, AlertNetns, listening
from tests.support.snmptrapd import TrapReceiver

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
# Runs in the namespace: target, community, trap OID and varbinds come as JSON
# on stdin (ASCII-escaped, so the locale does not matter).
SENDER = """\
import json, sys
from sip_ha.alert.errors import AlertError
from sip_ha.alert.snmp import send_trap
args = json.load(sys.stdin)
try:
    send_trap(args["target"], args["community"], args["trap_oid"],
              [tuple(binding) for binding in args["varbinds"]], timeout=args["timeout"])
except AlertError as err:
    sys.exit(f"AlertError: {err}")
"""
NODE = "pbx-z\u00fcrich-\u96fb\u8a71"  # non-ASCII UTF-8: ü, 電話
DESC = 'not running: "sip" \u2013 exit\tcode\n\u2713 \U0001f4de'


def send(netns: AlertNetns, target: str, varbinds: list[tuple[str, str | int]],
         community: str = "public", timeout: float = 5.0) -> None:
    args = {"target": target, "community": community, "trap_oid": snmp.PACEMAKER_TRAP_OID,
            "varbinds": varbinds, "timeout": timeout}
    res = netns.run([sys.executable, "-c", SENDER], input=json.dumps(args), timeout=30,
                    env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "PYTHONPATH": str(REPO)})
    assert res.returncode == 0, res.stderr


def resource_failure() -> list[tuple[str, str | int]]:
    return snmp.pacemaker_varbinds("resource", NODE, "1", "asterisk", "monitor", DESC,
                                   0, -7, 0, "", "")


def expected(varbinds: list[tuple[str, str | int]]) -> dict[str, str]:
    return {snmp.SNMP_TRAP_OID_OID: snmp.PACEMAKER_TRAP_OID,
            **{oid: str(value) for oid, value in varbinds}}


def check(trap: dict[str, str], varbinds: list[tuple[str, str | int]]) -> None:
    uptime = trap.pop(snmp.SYS_UPTIME_OID)
    assert uptime.isdigit(), uptime
    assert trap == expected(varbinds)


@pytest.mark.parametrize(("target", "transport"), [
    ("127.0.0.1:1162", "UDP: [127.0.0.1]"),
    ("[::1]:1162", "UDP/IPv6: [::1]"),
])
def test_pacemaker_trap_arrives(trap_lab: tuple[AlertNetns, TrapReceiver], target: str,
                                transport: str) -> None:
    netns, receiver = trap_lab
    before = len(receiver.traps())
    varbinds = resource_failure()
    send(netns, target, varbinds)
    receiver.wait_for_traps(before + 1)
    trap = receiver.received()[before]
    assert (trap.version, trap.community) == ("1", "public")  # 1: SNMPv2c
    assert trap.transport.startswith(transport), trap.transport
    check(dict(trap.varbinds), varbinds)
    assert trap.varbinds[snmp.PCMK_NODE_OID] == NODE
    assert trap.varbinds[snmp.PCMK_RETURN_CODE_OID] == "-7"


def test_every_pacemaker_object_and_long_values_cut_to_the_mib(
        trap_lab: tuple[AlertNetns, TrapReceiver]) -> None:
    netns, receiver = trap_lab
    before = len(receiver.traps())
    varbinds = snmp.pacemaker_varbinds(
        "attribute", NODE, "2", "r" * 256, "promote", "d" * 300 + " \u00e9", 2147483647, -1,
        -(2**31), "master-mariadb", "\u221e" * 100)
    assert len(varbinds) == 9
    send(netns, "127.0.0.1:1162", varbinds)
    trap = receiver.wait_for_traps(before + 1)[before]
    check(trap, varbinds)
    assert (trap[snmp.PCMK_RESOURCE_OID], trap[snmp.PCMK_DESCRIPTION_OID],
            trap[snmp.PCMK_ATTRIBUTE_VALUE_OID]) == ("r" * 256, "d" * 256, "\u221e" * 85)


def test_a_wrong_community_is_dropped(trap_lab: tuple[AlertNetns, TrapReceiver]) -> None:
    """authCommunity is what admits a trap: the receiver would show anything else."""
    netns, receiver = trap_lab
    before = len(receiver.traps())
    wrong = snmp.pacemaker_varbinds("node", "intruder", "", "", "", "lost", None, None, None,
                                    "", "")
    send(netns, "127.0.0.1:1162", wrong, community="private")
    varbinds = snmp.pacemaker_varbinds("node", "pbx2", "2", "", "", "member", None, None, None,
                                       "", "")
    send(netns, "[::1]:1162", varbinds)
    traps = receiver.wait_for_traps(before + 1)
    assert len(traps) == before + 1
    check(traps[before], varbinds)


def test_a_socket_error_is_an_alert_error(trap_lab: tuple[AlertNetns, TrapReceiver]) -> None:
    """The namespace has only its loopback: no route to a documentation address,
    so sendto fails at once (nothing leaves) and send_trap says which target."""
    netns, _ = trap_lab
    args = {"target": "[2001:db8::162]:1162", "community": "public",
            "trap_oid": snmp.PACEMAKER_TRAP_OID, "varbinds": [], "timeout": 3}
    res = netns.run([sys.executable, "-c", SENDER], input=json.dumps(args), timeout=30,
                    env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "PYTHONPATH": str(REPO)})
    assert res.returncode == 1
    assert "AlertError: SNMP trap to '[2001:db8::162]:1162' not sent" in res.stderr
    assert "unreachable" in res.stderr


def test_listening_sees_the_daemons_own_sockets(trap_lab: tuple[AlertNetns, TrapReceiver]) -> None:
    _, receiver = trap_lab
    assert receiver.process is not None
    pid = receiver.process.pid
    assert listening(pid, "udp", LOOPBACKS, receiver.port)
    assert not listening(pid, "tcp", LOOPBACKS, receiver.port)
    assert not listening(pid, "udp", LOOPBACKS, receiver.port + 1)
    assert not listening(pid, "udp", ["127.0.0.2"], receiver.port)
