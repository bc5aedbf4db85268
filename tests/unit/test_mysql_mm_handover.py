"""ocf:sipha:mysql-mm's handover (the new master applies the old master's last
write before its own first) and its reminders, with the fakes of
test_mysql_mm: a MariaDB behind pymysql.connect and a runner standing in for
attrd_updater (whose -Q -A answers come from Node.recorder.cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cib_templates import params, render
from ocf_agents import mysql_mm
from ocf_agents.clients.mysql_probe import reached
from ocf_agents.framework.ocf import OCFCode
from tests.unit.test_mysql_mm import Node, attrd, row

HANDOVER, REMINDER = "sipha-mysql-db-handover", "sipha-mysql-db-reminder"
# What node1's demote published: its binary log stopped at offset 2000.
PUBLISHED = "mariadb-bin.000007:2000 at 2026-11-30T12:00:00.250000Z"
ON_NODE2 = {"OCF_RESKEY_CRM_meta_on_node": "node2"}
EXAMPLE = Path(params.__file__).parent / "example.toml"


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Node:
    """node2, read-only, replicating from node1 (applied and received up to 900)."""
    return Node(tmp_path, monkeypatch)


def promote(node: Node, **params: str) -> OCFCode:
    params = {"catchup_timeout": "5s", **params}
    return mysql_mm.promote(node.cfg(**params), node.ctx("promote", 0, **ON_NODE2))


def waits(node: Node) -> list[str]:
    return node.server.sent("SELECT MASTER_POS_WAIT")


def logged(node: Node, level: str) -> list[str]:
    return [line.split(f" {level}: ", 1)[1].rstrip("\n") for line in node.log.lines
            if f" {level}: " in line]


def test_reached_compares_offsets_and_then_file_numbers():
    target = ("mariadb-bin.000007", 2000)
    assert reached(("mariadb-bin.000007", 2000), target)
    assert not reached(("mariadb-bin.000007", 1999), target)
    assert reached(("mariadb-bin.000010", 4), target)  # numbers, not text order
    assert not reached(("mariadb-bin.000006", 90000), target)
    assert not reached(None, target)


def test_demote_publishes_where_the_writes_stopped_and_promote_clears_it(node: Node):
    node.mark_promoted()
    node.server.variables["read_only"] = 0
    assert node.call("demote") == OCFCode.SUCCESS
    calls = node.recorder.take()
    (published,) = [c for c in calls if c[:3] == ["attrd_updater", "-n", HANDOVER]]
    value = published[-1]
    assert value.startswith("mariadb-bin.000003:4321 at 20")  # SHOW MASTER STATUS
    assert value.endswith("Z")
    # Published once the server is read-only, never before.
    assert node.server.variables["read_only"] == 1
    # Each demote's value differs, even where the position does not.
    node.server.variables["read_only"] = 0
    assert node.call("demote") == OCFCode.SUCCESS
    again = [c[-1] for c in node.recorder.take() if c[:3] == ["attrd_updater", "-n", HANDOVER]]
    assert again and again[0] != value

    assert promote(node) == OCFCode.SUCCESS
    assert ["attrd_updater", "-D", "-n", HANDOVER] in node.recorder.take()


def test_planned_move_waits_for_the_old_masters_final_position(node: Node):
    node.recorder.cluster = {"node1": PUBLISHED}
    assert promote(node) == OCFCode.SUCCESS
    assert waits(node) == [
        "SELECT MASTER_POS_WAIT('mariadb-bin.000007', 900, 5.0) AS waited",  # relay log
        "SELECT MASTER_POS_WAIT('mariadb-bin.000007', 2000, 10.0) AS waited"]
    # Only after that the server takes writes.
    assert node.server.statements.index("SET GLOBAL read_only = OFF") > \
        node.server.statements.index(waits(node)[-1])
    assert ["attrd_updater", "-Q", "-A", "-n", HANDOVER] in node.recorder.calls
    assert any(line.startswith("the old master's final binlog position "
                               "mariadb-bin.000007:2000 (demoted on node1 at "
                               "2026-11-30T12:00:00.250000Z) applied (")
               for line in logged(node, "INFO"))
    assert logged(node, "WARNING") == []


def test_a_position_already_waited_for_is_stale(node: Node):
    """A second promote here (after a demote of this node, with no demote of
    node1 in between) does not wait for the first handover's position again."""
    node.recorder.cluster = {"node1": PUBLISHED}
    assert promote(node) == OCFCode.SUCCESS
    node.server.status = row(read=900, executed=900)  # e.g. node1's binlog was reset
    node.server.statements.clear()
    node.mark_promoted()
    assert node.call("demote") == OCFCode.SUCCESS
    assert promote(node, handover_timeout="10s") == OCFCode.SUCCESS
    assert waits(node) == ["SELECT MASTER_POS_WAIT('mariadb-bin.000007', 900, 5.0) AS waited"]
    assert any("an earlier promote here already waited for it" in line
               for line in logged(node, "INFO"))
    # A newer demote of node1, even at the same position, is a new handover.
    node.recorder.cluster = {"node1": PUBLISHED.replace("00.250000Z", "09.000000Z")}
    node.server.statements.clear()
    assert promote(node) == OCFCode.SUCCESS
    assert len(waits(node)) == 2


def test_only_a_peers_position_counts_and_the_newest(node: Node):
    node.recorder.cluster = {"node2": PUBLISHED.replace(":2000", ":5000"),  # its own
                             "node1": PUBLISHED,
                             "node3": "mariadb-bin.000007:3000 at 2026-11-30T11:00:00.000000Z",
                             "node4": "garbage"}
    assert promote(node) == OCFCode.SUCCESS
    assert waits(node)[-1] == "SELECT MASTER_POS_WAIT('mariadb-bin.000007', 2000, 10.0) " \
                              "AS waited"


@pytest.mark.parametrize(("cluster", "returncode"), [
    ({}, 0),                     # failover: the old master's attributes went with it
    ({"node1": PUBLISHED}, 102),  # no cluster (ocf-tester): attrd cannot say
])
def test_no_published_position_no_wait(node: Node, cluster: dict[str, str], returncode: int):
    node.recorder.cluster = cluster
    node.recorder.returncode = returncode
    assert promote(node) == OCFCode.SUCCESS
    assert len(waits(node)) == 1  # the relay log only
    assert node.server.variables["read_only"] == 0


def test_timeout_is_one_warning_naming_both_positions(node: Node):
    node.recorder.cluster = {"node1": PUBLISHED}
    node.server.pos_wait = -1
    assert promote(node, handover_timeout="3s", catchup_timeout="2s") == OCFCode.SUCCESS
    assert waits(node)[-1] == "SELECT MASTER_POS_WAIT('mariadb-bin.000007', 2000, 3.0) " \
                              "AS waited"
    handover = [line for line in logged(node, "WARNING") if "final binlog position" in line]
    assert handover == [
        "the old master's final binlog position mariadb-bin.000007:2000 (demoted on node1 "
        "at 2026-11-30T12:00:00.250000Z) not applied here (handover_timeout: not reached after "
        f"{handover[0].split('after ')[1].split('s)')[0]}s): applied up to "
        "mariadb-bin.000007:900, received up to mariadb-bin.000007:900; promoting anyway, "
        "the rest is applied after the new writes"]
    assert node.server.variables["read_only"] == 0


def test_the_wait_fits_in_the_promote_timeout(node: Node):
    node.recorder.cluster = {"node1": PUBLISHED}
    node.server.pos_wait = -1
    assert promote(node, handover_timeout="10min", catchup_timeout="1s") == OCFCode.SUCCESS
    seconds = float(waits(node)[-1].split(", ")[-1].split(")")[0])
    # 30 s operation: 3 s framework margin, 6 s kept for connecting and read_only.
    assert 19 < seconds <= 21
    assert node.server.connects[-1]["read_timeout"] <= 30


@pytest.mark.parametrize(("status", "words"), [
    # The IO thread cannot bring node1's last events: waiting would wait on a dead link.
    (row(io="Connecting", lag=None, io_errno=2003), "the IO thread is not connected"),
    (row(io="No", lag=None), "the IO thread is not connected"),
    (row(sql="No", lag=None, sql_errno=1062), "replication is broken"),
])
def test_no_wait_for_what_cannot_arrive(node: Node, status: dict[str, object], words: str):
    node.recorder.cluster = {"node1": PUBLISHED}
    node.server.status = status
    assert promote(node) == OCFCode.SUCCESS
    assert "2000" not in " ".join(waits(node))
    (warning,) = [line for line in logged(node, "WARNING") if "final binlog position" in line]
    assert words in warning
    assert node.server.variables["read_only"] == 0


def test_received_but_not_connected_is_still_applied(node: Node):
    node.recorder.cluster = {"node1": PUBLISHED}
    node.server.status = row(io="Connecting", lag=None, io_errno=2003, read=2400)
    assert promote(node) == OCFCode.SUCCESS
    assert waits(node) == [  # the relay log up to 2400 covers 2000: nothing more to wait for
        "SELECT MASTER_POS_WAIT('mariadb-bin.000007', 2400, 5.0) AS waited"]


def test_already_applied_no_wait(node: Node):
    node.recorder.cluster = {"node1": PUBLISHED}
    node.server.status = row(read=20, executed=20, Master_Log_File="mariadb-bin.000008",
                             Relay_Master_Log_File="mariadb-bin.000008")
    assert promote(node) == OCFCode.SUCCESS
    assert len(waits(node)) == 1
    assert any("is applied here" in line for line in logged(node, "INFO"))


def test_reminder_while_replication_is_not_ok(node: Node, monkeypatch: pytest.MonkeyPatch):
    clock = [1_000_000.0]
    monkeypatch.setattr(mysql_mm.time, "time", lambda: clock[0])
    node.server.status = row(lag=120)
    assert node.call("monitor", reminder_interval="60s") == OCFCode.SUCCESS
    assert REMINDER not in " ".join(" ".join(c) for c in node.recorder.take())  # new state
    clock[0] += 59
    node.call("monitor", reminder_interval="60s")
    assert node.recorder.take() == []
    clock[0] += 1
    node.call("monitor", reminder_interval="60s")
    assert node.recorder.take() == [attrd(REMINDER, "lagging since 1970-01-12T13:46:40Z, "
                                                    "reminder 1")]
    clock[0] += 60
    node.call("monitor", reminder_interval="60s")
    assert node.recorder.take() == [attrd(REMINDER, "lagging since 1970-01-12T13:46:40Z, "
                                                    "reminder 2")]
    # Another bad state starts again (its change alerts by itself); ok clears it.
    node.server.status = row(sql="No", lag=None, sql_errno=1062)
    node.call("monitor", reminder_interval="60s")
    assert ["attrd_updater", "-D", "-n", REMINDER] in node.recorder.take()
    clock[0] += 60
    node.call("monitor", reminder_interval="60s")
    assert attrd(REMINDER, "broken since 1970-01-12T13:48:40Z, reminder 1") in \
        node.recorder.take()
    node.server.status = row()
    node.call("monitor", reminder_interval="60s")
    assert ["attrd_updater", "-D", "-n", REMINDER] in node.recorder.take()
    # 0: never.
    node.server.status = row(lag=120)
    for _ in range(3):
        clock[0] += 3600
        node.call("monitor", reminder_interval="0")
    assert REMINDER not in " ".join(" ".join(c) for c in node.recorder.take())


def test_stop_withdraws_the_reminder(node: Node, monkeypatch: pytest.MonkeyPatch):
    clock = [1_000_000.0]
    monkeypatch.setattr(mysql_mm.time, "time", lambda: clock[0])
    node.server.status = row(lag=120)
    node.call("monitor", reminder_interval="1s")
    clock[0] += 1
    node.call("monitor", reminder_interval="1s")
    node.recorder.take()
    node.pid = None
    assert node.call("stop") == OCFCode.SUCCESS
    assert ["attrd_updater", "-D", "-n", REMINDER] in node.recorder.take()
    assert not (node.tmp / "rsc" / "sipha-mysql-mm-db.reminders").exists()


def test_the_agents_names_are_the_rendered_ones(node: Node):
    """The CIB names the resource SVC-db; the alert and sip-ha read these names."""
    service = params.load(str(EXAMPLE)).services[0]
    ctx = node.ctx(OCF_RESOURCE_INSTANCE=f"{service.name}-db:0")
    assert mysql_mm.attribute_names(ctx)[0] == render.replication_attributes(service)[0]
    assert mysql_mm.reminder_attribute(ctx) == render.replication_reminder_attribute(service)
    assert mysql_mm.handover_attribute(ctx) == render.handover_attribute(service)


def test_handover_timeout_0_neither_reads_nor_waits_nor_warns(node: Node):
    node.recorder.cluster = {"node1": PUBLISHED}
    assert promote(node, handover_timeout="0") == OCFCode.SUCCESS
    assert ["attrd_updater", "-Q", "-A", "-n", HANDOVER] not in node.recorder.calls
    assert waits(node) == ["SELECT MASTER_POS_WAIT('mariadb-bin.000007', 900, 5.0) AS waited"]
    assert logged(node, "WARNING") == []
