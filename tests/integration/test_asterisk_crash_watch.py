"""ocf:sipha:asterisk learns that a real Asterisk 22 crashed as it happens,
in either role, and tells Pacemaker at once; a planned stop (with its
drain) or restart is never reported.  No cluster in the container: a fake
crm_resource first on the agent's PATH records the report."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support.asterisk_nodes import AGENT, FAKE_BIN, Node, start_box
from tests.support.container import Container

OCF_SUCCESS = 0
REPORTED = "/tmp/sipha-fake-bin/reported"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    yield from start_box(tmp_path_factory)


@pytest.fixture
def node(box: Container, request: pytest.FixtureRequest) -> Iterator[Node]:
    box.write(f"{FAKE_BIN}/crm_resource",
              f'#!/bin/sh\necho "$(date +%s.%N) $*" >> {REPORTED}\n')
    box.path(f"{FAKE_BIN}/crm_resource").chmod(0o755)
    box.path(REPORTED).unlink(missing_ok=True)
    node = Node(box, "ast-watch-" + request.node.name[5:30])
    yield node
    node.agent("stop")


def agent(node: Node, action: str) -> None:
    env = {**node.env(), "OCF_RESKEY_CRM_meta_on_node": "node1",
           "PATH": f"{FAKE_BIN}:/usr/sbin:/usr/bin:/sbin:/bin"}
    result = node.box.run([AGENT, action], env=env)
    assert result.returncode == OCF_SUCCESS, result.stderr


def reports(node: Node) -> list[tuple[float, str]]:
    path = node.box.path(REPORTED)
    lines = path.read_text().splitlines() if path.exists() else []
    return [(float(stamp), words) for stamp, _, words in (line.partition(" ")
                                                          for line in lines)]


def wait_report(node: Node, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if reports(node):
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("role", ["standby", "promoted"])
def test_a_crash_is_reported_at_once(node: Node, role: str):
    agent(node, "start")
    if role == "promoted":
        agent(node, "promote")
    killed = time.time()
    node.box.run(["kill", "-9", str(node.pid())], check=True)
    assert wait_report(node), "no report within 5 s"
    (stamp, words), = reports(node)
    assert words == f"--fail --resource {node.instance} --node node1"
    print(f"Asterisk ({role}) SIGKILLed: reported to Pacemaker after "
          f"{(stamp - killed) * 1000:.0f} ms")
    agent(node, "stop")
    assert len(reports(node)) == 1


def test_planned_stops_and_restarts_are_never_reported(node: Node):
    agent(node, "start")
    agent(node, "promote")
    agent(node, "demote")
    agent(node, "stop")                     # drain, core stop now
    agent(node, "start")
    agent(node, "stop")
    agent(node, "start")                    # a restart's start
    time.sleep(1)
    assert reports(node) == []
    node.box.run(["kill", "-9", str(node.pid())], check=True)
    assert wait_report(node)
    time.sleep(0.5)
    assert len(reports(node)) == 1
