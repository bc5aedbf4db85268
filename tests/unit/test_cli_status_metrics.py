"""sip-ha status (text, --output-as json) and --nagios show the metrics the
agents publish as node attributes (README "Metrics"): each node's SIP
round-trip time and last takeover with its outage, the file sync's lag.
The attributes are named here as the agents name them (their Context), so
a reader looking under another name fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cib_templates import params, render
from ocf_agents import asterisk, filesync, service_ip
from ocf_agents.framework import metrics
from ocf_agents.framework.ocf import Agent, Context
from sip_ha import cluster
from sip_ha.cli import cli
from sipha_runtime.log import Logger
from tests.support.fake_runner import FakeRunner, done
from tests.support.scheduler import Simulation
from tests.unit.test_cli_moves import healthy, synced
from tests.unit.test_cli_output import valid

EXAMPLE = str(Path(params.__file__).parent / "example.toml")
CRM_MON = cluster.CRM_MON_ARGV


def ctx(agent: Agent, instance: str) -> Context:
    """The context an agent's action on INSTANCE (a clone instance) runs in."""
    environ = {"OCF_RESOURCE_INSTANCE": instance}
    return Context(agent, "monitor", environ, Logger(agent.name, instance, environ), 5)


RTT = metrics.rtt_attribute(ctx(asterisk.AGENT, "pbx-asterisk:1"))
TAKEOVER, OUTAGE = metrics.takeover_attributes(ctx(service_ip.AGENT, "pbx-ip"))


def lag(peer: str) -> str:
    resource = ctx(filesync.AGENT, "pbx-filesync:0").resource
    return filesync.health_attribute(resource, peer, metrics.SYNC_LAG_WORD)


def test_the_names_are_those_the_readme_gives():
    assert (RTT, TAKEOVER, OUTAGE, lag("node2")) == (
        "sipha-pbx-asterisk-sip-rtt-ms", "sipha-pbx-ip-last-takeover",
        "sipha-pbx-ip-last-outage-s", "sipha-pbx-filesync-node2-sync-lag-s")


@pytest.fixture
def measured(tmp_path: Path) -> str:
    """crm_mon XML: pbx active on node1, which took over 2.7 s after node2
    released the address and answers SIP in 3 ms; node2 in 12 ms, and the
    pushes from node1 to node2 failing for 40 s."""
    sim = Simulation(render.render(params.load(EXAMPLE)).getroot(), tmp_path)
    healthy(sim, "node1")
    healthy(sim, "node2")
    sim.settle()
    synced(sim, "node1", "node2", state="failing", pending="2", reconciled=None,
           error="cannot list node2: refused")
    sim.set_attrs("node1", **{RTT: "3", TAKEOVER: "2026-11-30T09:00:00Z", OUTAGE: "2.7",
                              lag("node2"): "40"})
    sim.set_attrs("node2", **{RTT: "12"})
    sim.settle()
    return sim.crm_mon()


def invoke(use, xml: str, *args: str):
    use(FakeRunner([(CRM_MON, done(xml))]))
    return CliRunner().invoke(cli, ["status", *args, "--params", EXAMPLE])


@pytest.mark.pacemaker_tools
def test_status_text_shows_each_nodes_metrics(use, measured: str):
    result = invoke(use, measured)
    assert result.exit_code == 5, result.output
    lines = result.stdout.splitlines()
    node1 = lines.index("  node1        Promoted    healthy  gateways 1/1  SIP 3 ms")
    assert lines[node1 + 1] == "      last takeover here 2026-11-30T09:00:00Z, outage 2.7s"
    node2 = lines.index("  node2        Unpromoted  healthy  gateways 1/1  SIP 12 ms")
    assert lines[node2 + 1] == ("      file sync from node1: FAILING: cannot list node2: refused "
                                "(2 change(s) not delivered), lag 40s")


@pytest.mark.pacemaker_tools
def test_status_json_carries_them_and_validates(use, measured: str):
    data = valid("status.json", invoke(use, measured, "--output-as", "json").stdout)
    nodes = {n["node"]: n for n in data["services"][0]["nodes"]}
    assert {k: nodes["node1"][k] for k in ("sip_rtt_ms", "last_takeover", "last_outage_s")} == {
        "sip_rtt_ms": 3, "last_takeover": "2026-11-30T09:00:00Z", "last_outage_s": 2.7}
    assert {k: nodes["node2"][k] for k in ("sip_rtt_ms", "last_takeover", "last_outage_s")} == {
        "sip_rtt_ms": 12, "last_takeover": None, "last_outage_s": None}
    assert nodes["node2"]["sync"]["lag"] == 40
    assert nodes["node1"]["sync"] is None


@pytest.mark.pacemaker_tools
def test_nagios_performance_data_has_them(use, measured: str):
    result = invoke(use, measured, "--nagios")
    assert result.exit_code == 1
    perfdata = result.stdout.splitlines()[0].split(" | ", 1)[1].split()
    assert perfdata[3:] == ["'pbx_node1_db_lag'=0s;;;0", "'pbx_node1_sip_rtt'=3ms;;;0",
                            "'pbx_node1_last_outage'=2.7s;;;0",
                            "'pbx_node2_sync_pending'=2;;;0", "'pbx_node2_sync_lag'=40s;;;0",
                            "'pbx_node2_db_lag'=0s;;;0", "'pbx_node2_sip_rtt'=12ms;;;0"]


@pytest.mark.pacemaker_tools
def test_a_takeover_without_a_known_outage_and_values_not_understood(use, tmp_path: Path):
    sim = Simulation(render.render(params.load(EXAMPLE)).getroot(), tmp_path)
    healthy(sim, "node1")
    healthy(sim, "node2")
    sim.set_attrs("node1", **{RTT: "slow", TAKEOVER: "2026-11-30T09:00:00Z", OUTAGE: "nan"})
    sim.settle()
    result = invoke(use, sim.crm_mon())
    assert result.exit_code == 0, result.output
    assert "      last takeover here 2026-11-30T09:00:00Z, outage unknown" in result.stdout
    assert " ms\n" not in result.stdout
    document = json.loads(invoke(use, sim.crm_mon(), "--output-as", "json").stdout)
    node1 = document["services"][0]["nodes"][0]
    assert (node1["sip_rtt_ms"], node1["last_outage_s"]) == (None, None)
    assert "_sip_rtt" not in invoke(use, sim.crm_mon(), "--nagios").stdout


@pytest.mark.pacemaker_tools
def test_a_node_that_is_not_healthy_shows_no_round_trip_time(use, tmp_path: Path):
    """The attribute holds the last good answer's time: a node whose check
    fails now must not look answered."""
    sim = Simulation(render.render(params.load(EXAMPLE)).getroot(), tmp_path)
    healthy(sim, "node1")
    sim.set_attrs("node1", **{RTT: "3"})
    sim.set_attrs("node2", **{RTT: "12"})
    sim.settle()
    document = json.loads(invoke(use, sim.crm_mon(), "--output-as", "json").stdout)
    nodes = {n["node"]: n for n in document["services"][0]["nodes"]}
    assert nodes["node2"]["healthy"] is False
    assert (nodes["node1"]["sip_rtt_ms"], nodes["node2"]["sip_rtt_ms"]) == (3, None)
    assert "SIP 12 ms" not in invoke(use, sim.crm_mon()).stdout
