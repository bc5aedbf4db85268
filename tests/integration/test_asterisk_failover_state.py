"""Phones and queue agents survive a failover: the astdb families follow the
active server.  Two real Asterisks (127.0.0.1 and 127.0.0.3), a phone
(127.0.0.4) and a trunk (127.0.0.2) in one sid container."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.asterisk import AMI_SECRET
from tests.support.asterisk_nodes import Node, show_promoted, start_box, wait_for
from tests.support.container import Container

PHONE = ("127.0.0.4", 5090)
FAMILIES = "registrar Queue/PersistentMembers DND"
ON_NEW = {"on_node": "127.0.0.3"}


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


def manager(node: Node, call: str, secret: str | None = None) -> str:
    """CALL on an AMI session with NODE's Asterisk, e.g. "action('QueueAdd', ...)";
    ``sent`` lists the actions sent so far, as (name, fields)."""
    params = node.params
    secret = AMI_SECRET if secret is None else secret
    return in_box(node.box, "import json; from ocf_agents.clients.asterisk_ami import Ami; "
                            "sent = []; "
                            "send = Ami._send; "
                            "Ami._send = lambda self, name, fields: "
                            "sent.append((name, dict(fields))) or send(self, name, fields); "
                            f"ami = Ami({params['ami_host']!r}, 5038, {params['ami_user']!r}, "
                            f"{secret!r}, 5); print(ami.{call})")


def snapshot(node: Node) -> Path:
    return node.box.path(f"/run/resource-agents/sipha-asterisk-{node.instance}.astdb.json")


def phone_requests(box: Container, method: str) -> list[dict[str, object]]:
    path = box.path("/tmp/phone.log")
    if not path.exists():
        return []
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["method"] == method]


def test_registered_phone_and_queue_member_survive_failover(pair: tuple[Node, Node]):
    old, new = pair
    box = old.box
    for node in (old, new):
        assert node.agent("start")[0] == 0
    assert old.agent("promote")[0] == 0
    show_promoted(new.box, "127.0.0.1")

    # Before the failover: the phone registers with the active server only,
    # an agent logs into a queue there, DND is set for extension 101.
    status = in_box(box, "from tests.support.sip_phone import register; "
                         f"print(register('127.0.0.1:5060', '100', {PHONE!r}))")
    assert status == "200"
    old.rx("queue add member PJSIP/101 to support penalty 2 as Agent101")
    # Names a CLI command would split or take for its own arguments.
    for interface, name in (("PJSIP/102", "Mary O'Neil"), ("PJSIP/103", 'Desk "3" penalty 9')):
        assert manager(old, f"action('QueueAdd', Queue='support', Interface={interface!r}, "
                                 f"MemberName={name!r})['Response']") == "Success"
    old.rx("database put DND 101 YES")
    assert "PJSIP/101" not in new.rx("queue show support")
    assert new.rx("database show registrar").count("contact/") == 0

    # The standby's monitors keep a copy; then the active server dies.
    assert new.agent("monitor", meta=ON_NEW)[0] == 0
    assert snapshot(new).stat().st_mode & 0o777 == 0o600  # phone contacts, DND numbers
    old.box.run(["kill", "-9", str(old.pid())], check=True)
    code, reason, _ = new.agent("promote", meta=ON_NEW)
    assert code == 0, reason
    assert not snapshot(new).exists()  # imported once, never again over newer data
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


def test_the_manager_login_is_a_challenge(pair: tuple[Node, Node]):
    """Real Asterisk takes the MD5 answer to its challenge; the secret is never sent."""
    old, _ = pair
    assert old.agent("start")[0] == 0
    sent = json.loads(manager(old, "command('core show uptime seconds') and json.dumps(sent)"))
    assert [name for name, _ in sent][:3] == ["Challenge", "Login", "Command"]
    login = sent[1][1]
    assert (login["AuthType"], len(login["Key"])) == ("MD5", 32)
    assert "Secret" not in login
    assert AMI_SECRET not in json.dumps(sent)
    with pytest.raises(subprocess.CalledProcessError) as refused:
        manager(old, "command('core show uptime seconds')", secret="wrong")
    assert "refused: Authentication failed" in refused.value.stderr


def test_standby_without_snapshot_still_promotes(pair: tuple[Node, Node]):
    _, new = pair
    assert new.agent("start")[0] == 0
    assert new.agent("promote", meta=ON_NEW)[0] == 0
    assert new.agent("monitor")[0] == 8


def test_unreachable_active_makes_the_standby_degraded_never_failed(pair: tuple[Node, Node]):
    """Published once (the attribute and one warning), never 190: see monitor."""
    _, new = pair
    assert new.agent("start")[0] == 0
    show_promoted(new.box, "127.0.0.1")
    results = []
    for _ in range(4):
        results.append((new.agent("monitor", meta=ON_NEW)[0], new.last_stderr))
    assert [code for code, _ in results] == [0, 0, 0, 0]
    assert ("degraded: astdb not refreshed from the active server 3 or more times in a row: "
            "cannot reach the manager on 127.0.0.1:5038") in results[2][1]
    assert "degraded:" not in results[3][1]   # said once, while it lasts


def test_a_stale_snapshot_only_adds_and_none_outlives_promote_or_stop(
        pair: tuple[Node, Node]):
    old, new = pair
    for node in (old, new):
        assert node.agent("start")[0] == 0
    assert old.agent("promote")[0] == 0
    show_promoted(new.box, "127.0.0.1")
    old.rx("database put DND 101 YES")
    assert new.agent("monitor", meta=ON_NEW)[0] == 0
    assert snapshot(new).exists()
    assert new.agent("stop")[0] == 0
    assert not snapshot(new).exists()  # a later start must not find it days old

    assert new.agent("start")[0] == 0
    show_promoted(new.box, "127.0.0.1")
    assert new.agent("monitor", meta=ON_NEW)[0] == 0
    new.rx("database put DND 102 YES")  # set on this node after the snapshot was taken
    time.sleep(1.5)
    code, reason, _ = new.agent("promote", meta=ON_NEW, astdb_max_age="1s")
    assert code == 0, reason
    assert "older than astdb_max_age 1s: only missing keys" in new.last_stderr
    dnd = new.rx("database show DND")
    assert "/DND/101" in dnd  # added from the snapshot
    assert "/DND/102" in dnd  # not removed by it
    assert not snapshot(new).exists()
