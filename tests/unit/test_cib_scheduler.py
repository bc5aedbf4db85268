"""Pacemaker's real scheduler (crm_simulate) on the rendered CIBs: the
service starts on its preferred node, fails over when that node is lost or
loses its gateway, does not fail back on its own, goes back when an
operator moves it and stays there once the move constraint is cleared; on
three nodes two services spread over their own nodes."""

from __future__ import annotations

from pathlib import Path

import pytest

from cib_templates import params, render
from tests.support.scheduler import Simulation

HERE = Path(__file__).parent
EXAMPLE = Path(params.__file__).parent / "example.toml"
THREE = HERE / "data" / "three-nodes.toml"

pytestmark = pytest.mark.pacemaker_tools


def healthy(sim: Simulation, node: str, **extra: str) -> None:
    """What the agents publish on a healthy node with its gateway reachable."""
    sim.set_attrs(node, **{"master-pbx-asterisk": "100", "sipha-gw-pbx": "1",
                           "master-pbx-filesync": "1", "master-pbx-db": "10", **extra})


@pytest.fixture
def two(tmp_path: Path) -> Simulation:
    sim = Simulation(render.render(params.load(str(EXAMPLE))).getroot(), tmp_path)
    for node in ("node1", "node2"):
        healthy(sim, node)
    sim.settle()
    return sim


def placement(sim: Simulation) -> tuple[list[str], dict[str, str], dict[str, str]]:
    return sim.promoted("pbx-asterisk-clone"), sim.roles("pbx-ip"), sim.roles("pbx-web")


def test_starts_on_the_preferred_node(two: Simulation):
    assert placement(two) == (["node1"], {"node1": "Started"}, {"node1": "Started"})
    assert two.roles("pbx-asterisk-clone") == {"node1": "Promoted", "node2": "Unpromoted"}


def test_the_preferred_node_wins_when_the_other_ping_reports_first(tmp_path: Path):
    """At cluster start the standby's ping may report before the preferred
    node's: a node that has not reported yet is not the worse choice."""
    sim = Simulation(render.render(params.load(str(EXAMPLE))).getroot(), tmp_path)
    healthy(sim, "node2")
    sim.set_attrs("node1", **{"master-pbx-asterisk": "100", "master-pbx-filesync": "1",
                              "master-pbx-db": "10"})
    sim.settle()
    assert placement(sim) == (["node1"], {"node1": "Started"}, {"node1": "Started"})
    # node1's ping then finds no gateway: the role goes to node2.
    sim.set_attrs("node1", sipha_gw_pbx="0")
    sim.settle()
    assert placement(sim)[0] == ["node2"]


def test_a_node_whose_ping_is_stopped_counts_as_reaching_the_gateway(two: Simulation):
    """ocf:pacemaker:ping's stop deletes the attribute: unknown, not lost.
    The active node that reaches no gateway gives the role to it; while the
    active node reaches them, nothing moves."""
    two.delete_attr("node2", "sipha-gw-pbx")
    assert two.settle() == []
    assert placement(two)[0] == ["node1"]
    two.set_attrs("node1", sipha_gw_pbx="0")
    two.settle()
    assert placement(two)[0] == ["node2"]


def test_lost_node_is_fenced_and_the_standby_takes_over_without_failback(two: Simulation):
    actions = two.settle("--node-fail", "node1")
    assert any(a.startswith("Fence (reboot) node1") for a in actions), actions
    assert placement(two) == (["node2"], {"node2": "Started"}, {"node2": "Started"})
    # The old master comes back healthy: it becomes the hot standby, no failback.
    two.settle("--node-up", "node1")
    healthy(two, "node1")
    actions = two.settle()
    assert two.roles("pbx-asterisk-clone") == {"node1": "Unpromoted", "node2": "Promoted"}
    assert placement(two)[0] == ["node2"]
    assert not any("Promote" in a and "node1" in a for a in actions), actions


def move_constraint(sim: Simulation, node: str, present: bool) -> None:
    sim.move("pbx-asterisk-clone", node if present else None, "Promoted")


def test_a_planned_move_drains_with_the_address_up(two: Simulation):
    """The old active demotes (and drains its calls) while the service address
    is still up; the address moves only then, and comes up after the promote."""
    move_constraint(two, "node2", present=True)
    before = two.graph()
    assert "pbx-asterisk_demote_0 node1" in before["pbx-ip_stop_0 node1"]
    assert "pbx-ip_stop_0 node1" not in before["pbx-asterisk_demote_0 node1"]
    assert "pbx-asterisk_promote_0 node2" in before["pbx-ip_start_0 node2"]
    two.settle()
    assert placement(two) == (["node2"], {"node2": "Started"}, {"node2": "Started"})


def test_a_planned_move_hands_over_the_last_files_before_the_promote(two: Simulation):
    """The old active's final push (its file sync's demote) comes before the
    new active's Asterisk promote, which loads what arrived; the address
    leaving does not wait for it (a lost node's demote is no wait:
    test_lost_node_is_fenced_and_the_standby_takes_over_without_failback)."""
    move_constraint(two, "node2", present=True)
    before = two.graph()
    assert "pbx-filesync_demote_0 node1" in before["pbx-asterisk_promote_0 node2"]
    assert "pbx-filesync_demote_0 node1" not in before["pbx-ip_stop_0 node1"]
    two.settle()
    assert two.roles("pbx-filesync-clone") == {"node1": "Unpromoted", "node2": "Promoted"}


def test_move_then_clear_keeps_the_service_where_it_was_moved(two: Simulation):
    move_constraint(two, "node2", present=True)
    two.settle()
    assert placement(two) == (["node2"], {"node2": "Started"}, {"node2": "Started"})
    move_constraint(two, "node2", present=False)
    assert two.settle() == []
    assert placement(two)[0] == ["node2"]
    # The failback the operator approves: the same, towards the preferred node.
    move_constraint(two, "node1", present=True)
    two.settle()
    move_constraint(two, "node1", present=False)
    assert two.settle() == []
    assert placement(two)[0] == ["node1"]


def test_gateway_loss_moves_the_active_role_but_never_stops_the_service(two: Simulation):
    two.set_attrs("node1", sipha_gw_pbx="0")
    two.settle()
    assert placement(two) == (["node2"], {"node2": "Started"}, {"node2": "Started"})
    # The standby still runs Asterisk: a lost gateway is no reason to stop it.
    assert two.roles("pbx-asterisk-clone")["node1"] == "Unpromoted"
    # Every node lost the gateway: the service stays where it is, running.
    two.set_attrs("node2", sipha_gw_pbx="0")
    assert two.settle() == []
    assert placement(two) == (["node2"], {"node2": "Started"}, {"node2": "Started"})
    # The gateway is back on node1: nothing moves (stickiness), no flapping.
    two.set_attrs("node1", sipha_gw_pbx="1")
    two.set_attrs("node2", sipha_gw_pbx="1")
    assert two.settle() == []
    assert placement(two)[0] == ["node2"]


def test_file_sync_pushes_from_the_sip_active_node_and_never_moves_it(two: Simulation):
    assert two.roles("pbx-filesync-clone") == {"node1": "Promoted", "node2": "Unpromoted"}
    two.settle("--node-fail", "node1")
    assert two.roles("pbx-filesync-clone") == {"node2": "Promoted"}
    two.settle("--node-up", "node1")
    healthy(two, "node1")
    two.settle()
    assert two.roles("pbx-filesync-clone") == {"node1": "Unpromoted", "node2": "Promoted"}
    # File sync cannot push from node2 any more: the SIP service stays there.
    two.set_attrs("node2", master_pbx_filesync="-INFINITY")
    two.settle()
    assert placement(two) == (["node2"], {"node2": "Started"}, {"node2": "Started"})
    assert two.promoted("pbx-filesync-clone") == []


def test_the_writable_database_follows_the_sip_active_node_and_never_moves_it(
        two: Simulation):
    assert two.roles("pbx-db-clone") == {"node1": "Promoted", "node2": "Unpromoted"}
    two.settle("--node-fail", "node1")
    assert two.roles("pbx-db-clone") == {"node2": "Promoted"}
    two.settle("--node-up", "node1")
    healthy(two, "node1")
    two.settle()
    assert two.roles("pbx-db-clone") == {"node1": "Unpromoted", "node2": "Promoted"}
    # The database cannot be promoted on node2 any more (e.g. its server is
    # gone for good): no writable database, the SIP service stays where it is.
    two.set_attrs("node2", master_pbx_db="-INFINITY")
    two.settle()
    assert placement(two) == (["node2"], {"node2": "Started"}, {"node2": "Started"})
    assert two.promoted("pbx-db-clone") == []


def test_the_database_is_writable_before_the_address_comes_up(two: Simulation):
    """No CDR of a call taken by the new active fails for a read-only database."""
    two.set_attrs("node1", master_pbx_asterisk="-INFINITY")  # Asterisk sick on node1
    graph = two.graph()
    assert "pbx-db_promote_0 node2" in graph["pbx-ip_start_0 node2"]
    two.settle()
    assert placement(two)[0] == ["node2"]
    assert two.promoted("pbx-db-clone") == ["node2"]


def test_unhealthy_standby_is_not_promoted(two: Simulation):
    """The agent withdraws its promotion score when Asterisk is unhealthy."""
    two.set_attrs("node2", master_pbx_asterisk="-INFINITY")
    two.settle("--node-fail", "node1")
    assert placement(two) == ([], {}, {})


REFUSED = {"master-pbx-asterisk": "10", "sipha-pbx-asterisk-config":
           "pbx_config.so refused extensions.conf"}


def test_a_standby_that_refused_its_configuration_takes_over_only_when_alone(two: Simulation):
    two.set_attrs("node2", **REFUSED)
    two.settle()
    assert two.promoted("pbx-asterisk-clone") == ["node1"]
    assert two.roles("pbx-asterisk-clone")["node2"] == "Unpromoted"  # still a standby
    two.settle("--node-fail", "node1")
    assert placement(two)[0] == ["node2"]  # better than no PBX


def test_a_healthy_standby_wins_over_one_that_refused_its_configuration(tmp_path: Path):
    """Even when the refusing node is the preferred one."""
    three = tmp_path / "three.toml"
    three.write_text(EXAMPLE.read_text().replace('nodes = ["node1", "node2"]',
                                                 'nodes = ["node1", "node2", "node3"]', 1))
    three.chmod(0o600)
    sim = Simulation(render.render(params.load(str(three))).getroot(), tmp_path)
    for node in ("node1", "node2", "node3"):
        healthy(sim, node)
    sim.settle()
    sim.move("pbx-asterisk-clone", "node2", "Promoted")
    sim.settle()
    sim.move("pbx-asterisk-clone", None)
    sim.set_attrs("node1", **REFUSED)
    sim.settle()
    assert sim.promoted("pbx-asterisk-clone") == ["node2"]
    sim.settle("--node-fail", "node2")
    assert sim.promoted("pbx-asterisk-clone") == ["node3"]
    assert sim.roles("pbx-ip") == {"node3": "Started"}


def test_three_nodes_two_services_spread(tmp_path: Path):
    sim = Simulation(render.render(params.load(str(THREE))).getroot(), tmp_path)
    for node in ("node1", "node2", "node3"):
        sim.set_attrs(node, master_pbx_asterisk="100", sipha_gw_pbx="2", sipha_gw_proxy="1")
    sim.settle()
    assert sim.roles("pbx-asterisk-clone") == {"node1": "Promoted", "node2": "Unpromoted"}
    assert sim.roles("pbx-ip") == {"node1": "Started"}
    assert sim.roles("proxy-sipserver-clone") == {"node2": "Started", "node3": "Started"}
    assert sim.roles("proxy-ip") == {"node3": "Started"}
    # node2 is the standby of both; losing node1 leaves proxy untouched.
    actions = sim.settle("--node-fail", "node1")
    assert not any("proxy" in a for a in actions), actions
    assert sim.promoted("pbx-asterisk-clone") == ["node2"]
    assert sim.roles("proxy-ip") == {"node3": "Started"}
    # node1 back (no failback), then node3 lost: both services on node2.
    sim.settle("--node-up", "node1")
    sim.set_attrs("node1", master_pbx_asterisk="100", sipha_gw_pbx="2", sipha_gw_proxy="1")
    sim.settle()
    assert sim.promoted("pbx-asterisk-clone") == ["node2"]
    sim.settle("--node-fail", "node3")
    assert sim.roles("proxy-ip") == {"node2": "Started"}
    assert sim.promoted("pbx-asterisk-clone") == ["node2"]
