"""Phones and queue agents survive a failover: the astdb families follow the
active server.  Two real Asterisks (127.0.0.1 and 127.0.0.3), a phone
(127.0.0.4) and a trunk (127.0.0.2) in one sid container."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.integration.asterisk_nodes import Node, start_box, wait_for
from tests.support.container import Container

PHONE = ("127.0.0.4", 5090)
FAMILIES = "registrar Queue/PersistentMembers DND"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    yield from start_box(tmp_path_factory)


@pytest.fixture
def pair(box: Container) -> Iterator[tuple[Node, Node]]:
    old = Node(box, "carry-a", "127.0.0.1", eid=1, astdb_families=FAMILIES)
    new = Node(box, "carry-b", "127.0.0.3", eid=2, astdb_families=FAMILIES,
               resync_notify="sipha-resync")
    phone = subprocess.Popen(
        ["nsenter", "-t", str(box.pid), "-m", "-u", "-n", "-p", "-r", "-w",
         "python3", "/src/tests/support/sip_phone.py", "--listen", f"{PHONE[0]}:{PHONE[1]}",
         "--log", "/tmp/phone.log"])
    try:
        yield old, new
    finally:
        phone.kill()
        phone.wait()
        for node in (old, new):
            node.agent("stop")


def in_box(box: Container, code: str) -> str:
    result = box.run(["python3", "-c", f"import sys; sys.path.insert(0, '/src'); {code}"],
                     check=True)
    return result.stdout.strip()


def manager(box: Container, node: Node, call: str) -> str:
    """CALL on an AMI session with NODE's Asterisk, e.g. "action('QueueAdd', ...)"."""
    params = node.params
    return in_box(box, "from ocf_agents.asterisk_ami import Ami; "
                       f"ami = Ami({params['ami_host']!r}, 5038, {params['ami_user']!r}, "
                       f"{params['ami_secret']!r}, 5); print(ami.{call})")


def phone_requests(box: Container, method: str) -> list[dict[str, object]]:
    path = box.path("/tmp/phone.log")
    if not path.exists():
        return []
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["method"] == method]


def test_registered_phone_and_queue_member_survive_failover(pair: tuple[Node, Node]):
    old, new = pair
    box = old.box
    notify = {"notify_type": "post", "notify_operation": "promote",
              "notify_promote_uname": "127.0.0.1", "on_node": "127.0.0.3"}
    for node in (old, new):
        assert node.agent("start")[0] == 0
    assert old.agent("promote")[0] == 0
    assert new.agent("notify", meta=notify)[0] == 0

    # Before the failover: the phone registers with the active server only,
    # an agent logs into a queue there, DND is set for extension 101.
    status = in_box(box, "from tests.support.sip_phone import register; "
                         f"print(register('127.0.0.1:5060', '100', {PHONE!r}))")
    assert status == "200"
    old.rx("queue add member PJSIP/101 to support penalty 2 as Agent101")
    # Names a CLI command would split or take for its own arguments.
    for interface, name in (("PJSIP/102", "Mary O'Neil"), ("PJSIP/103", 'Desk "3" penalty 9')):
        assert manager(box, old, f"action('QueueAdd', Queue='support', Interface={interface!r}, "
                                 f"MemberName={name!r})['Response']") == "Success"
    old.rx("database put DND 101 YES")
    assert "PJSIP/101" not in new.rx("queue show support")
    assert new.rx("database show registrar").count("contact/") == 0

    # The standby's monitors keep a copy; then the active server dies.
    assert new.agent("monitor", meta={"on_node": "127.0.0.3"})[0] == 0
    snapshot = box.path("/run/resource-agents/sipha-asterisk-carry-b.astdb.json")
    assert snapshot.stat().st_mode & 0o777 == 0o600  # phone contacts, DND numbers
    old.box.run(["kill", "-9", str(old.pid())], check=True)
    code, reason, _ = new.agent("promote", meta={"on_node": "127.0.0.3"})
    assert code == 0, reason
    # The new active server asks the phone to re-register (NAT bindings, phone display).
    assert wait_for(lambda: any(r["source"] == "127.0.0.3"
                                for r in phone_requests(box, "NOTIFY")), 5), new.last_stderr

    # A call from the trunk to the phone reaches it through the new active server.
    before = len(phone_requests(box, "INVITE"))
    status = in_box(box, "from tests.support.sip_phone import invite; "
                         "print(invite('127.0.0.3:5060', '100', ('127.0.0.2', 5099)))")
    assert status == "486"  # the phone answered "busy": the INVITE reached it
    invites = phone_requests(box, "INVITE")[before:]
    assert invites
    assert invites[-1]["source"] == "127.0.0.3"
    # The agent is still in the queue, with its penalty and name; DND is kept.
    members = new.rx("queue show support")
    assert "Agent101 (PJSIP/101" in members
    assert "Mary O'Neil (PJSIP/102" in members
    assert 'Desk "3" penalty 9 (PJSIP/103' in members
    assert "DND/101" in new.rx("database show DND") or "/DND/101" in new.rx("database show DND")


def test_standby_without_snapshot_still_promotes(pair: tuple[Node, Node]):
    _, new = pair
    assert new.agent("start")[0] == 0
    assert new.agent("promote", meta={"on_node": "127.0.0.3"})[0] == 0
    assert new.agent("monitor")[0] == 8


def test_unreachable_active_keeps_the_standby_healthy(pair: tuple[Node, Node]):
    _, new = pair
    assert new.agent("start")[0] == 0
    notify = {"notify_type": "post", "notify_operation": "promote",
              "notify_promote_uname": "127.0.0.1", "on_node": "127.0.0.3"}
    assert new.agent("notify", meta=notify)[0] == 0
    assert wait_for(lambda: new.agent("monitor", meta={"on_node": "127.0.0.3"})[0] == 0, 5)
