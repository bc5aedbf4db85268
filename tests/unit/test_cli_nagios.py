"""sip-ha status --nagios: one plugin line, the plugin exit code (0 OK,
1 WARNING, 2 CRITICAL, 3 UNKNOWN) for each kind of state, read from real
crm_mon XML of the scheduler's states; OK exactly when status exits 0."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cib_templates import params, render
from sip_ha import cluster, nagios
from sip_ha.cli import cli
from sipha_runtime.run import CommandNotFound
from tests.support.fake_runner import FakeRunner, done
from tests.support.scheduler import CRM_SIMULATE, Simulation
from tests.unit.test_cli_moves import gate_state, healthy
from tests.unit.test_cli_not_running import NOT_RUNNING

EXAMPLE = str(Path(params.__file__).parent / "example.toml")
CRM_MON = cluster.CRM_MON_ARGV
PLUGIN_LINE = re.compile(r"SIPHA (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]+( \| [^\n]+)?")


def check(use, xml: str, returncode: int = 0, params_path: str = EXAMPLE):
    use(FakeRunner([(CRM_MON, done(xml, returncode=returncode))]))
    result = CliRunner().invoke(cli, ["status", "--nagios", "--params", params_path])
    first, *rest = result.stdout.splitlines()
    assert PLUGIN_LINE.fullmatch(first), first
    assert result.stderr == ""
    return result.exit_code, first, rest


def simulation(tmp_path: Path, name: str) -> Simulation:
    (tmp_path / name).mkdir(parents=True)
    sim = Simulation(render.render(params.load(EXAMPLE)).getroot(), tmp_path / name)
    healthy(sim, "node1")
    healthy(sim, "node2")
    sim.settle()
    return sim


def failed_monitor(sim: Simulation, node: str) -> str:
    """crm_mon XML right after the asterisk monitor failed on NODE (before recovery)."""
    out = sim.folder / "failed.xml"
    subprocess.run([CRM_SIMULATE, "--xml-file", str(sim.path), "--save-output", str(out),
                    "-i", f"pbx-asterisk_monitor_10000@{node}=1"], check=True,
                   capture_output=True, env={**os.environ, "LC_ALL": "C"})
    sim.path = out
    return sim.crm_mon()


@pytest.mark.pacemaker_tools
def test_healthy_is_ok_with_perfdata(tmp_path, use):
    code, line, rest = check(use, simulation(tmp_path, "ok").crm_mon())
    assert code == nagios.OK == 0
    assert line == ("SIPHA OK - pbx SIP-ACTIVE on node1; 2/2 nodes online | "
                    "'services_active'=1;;1:;0;1 'nodes_online'=2;;;0;2 'attention'=0;0;;0 "
                    "'pbx_node1_db_lag'=0s;;;0 'pbx_node2_sync_pending'=0;;;0 "
                    "'pbx_node2_db_lag'=0s;;;0")
    assert rest == []


@pytest.mark.pacemaker_tools
@pytest.mark.parametrize(("change", "first_note"), [
    ({"state": "failing", "pending": "3", "reconciled": None, "error": "refused"},
     "file sync to node1: FAILING: refused (3 change(s) not delivered)"),
    ({"state": "conflicts", "conflicts": "2"},
     "file sync to node1: 2 CONFLICT(S)"),
    ({"sipha_mysql_pbx_db_replication": "lagging", "sipha_mysql_pbx_db_lag": "12"},
     "the database on node1: replica lagging, 12s behind"),
    ({"sipha_mysql_pbx_db_replication": "broken"}, "the database on node1: replica broken"),
])
def test_degraded_sync_or_replica_is_a_warning(tmp_path, use, change, first_note):
    code, line, rest = check(use, gate_state(tmp_path, **change))
    assert code == nagios.WARNING == 1
    assert line.startswith("SIPHA WARNING - pbx SIP-ACTIVE on node2; 1 need(s) attention: "
                           + first_note)
    assert "'attention'=1;0;;0" in line
    assert rest[0].startswith(first_note)


@pytest.mark.pacemaker_tools
def test_refused_configuration_is_a_warning(tmp_path, use):
    sim = simulation(tmp_path, "refused")
    sim.set_attrs("node2", sipha_pbx_asterisk_config="pbx_config.so refused extensions.conf")
    sim.settle()
    code, line, _ = check(use, sim.crm_mon())
    assert code == nagios.WARNING
    assert "Asterisk on node2 refused configuration it was given" in line


@pytest.mark.pacemaker_tools
def test_a_lost_node_is_a_warning_while_the_service_runs(tmp_path, use):
    sim = simulation(tmp_path, "lost")
    sim.settle("--node-fail", "node2")
    code, line, _ = check(use, sim.crm_mon())
    assert code == nagios.WARNING
    assert line.startswith("SIPHA WARNING - pbx SIP-ACTIVE on node1; ")
    assert "'nodes_online'=1;;;0;2" in line


@pytest.mark.pacemaker_tools
def test_no_sip_active_node_is_critical(tmp_path, use):
    sim = simulation(tmp_path, "none")
    sim.set_attrs("node1", master_pbx_asterisk="-INFINITY")
    sim.set_attrs("node2", master_pbx_asterisk="-INFINITY")
    sim.settle()
    code, line, _ = check(use, sim.crm_mon())
    assert code == nagios.CRITICAL == 2
    assert line.startswith("SIPHA CRITICAL - pbx has no SIP-ACTIVE node; ")
    assert "'services_active'=0;;1:;0;1" in line


@pytest.mark.pacemaker_tools
def test_a_failed_resource_is_critical(tmp_path, use):
    code, line, _ = check(use, failed_monitor(simulation(tmp_path, "failed"), "node2"))
    assert code == nagios.CRITICAL
    assert line.startswith("SIPHA CRITICAL - asterisk of pbx failed on node2; "
                           "pbx SIP-ACTIVE on node1; ")


def test_cluster_not_running_is_critical(use):
    code, line, rest = check(use, NOT_RUNNING, returncode=102)
    assert code == nagios.CRITICAL
    assert line == ("SIPHA CRITICAL - the cluster is not running on this node (crm_mon: "
                    "Connection to cluster failed: Connection refused): start it with 'pcs "
                    "cluster start' (or 'systemctl start corosync pacemaker'), or run sip-ha "
                    "on a node where it runs")
    assert rest == []


def test_a_check_that_cannot_run_is_unknown(use, tmp_path):
    code, line, _ = check(use, "", params_path=str(tmp_path / "nowhere.toml"))
    assert code == nagios.UNKNOWN == 3
    assert line.startswith("SIPHA UNKNOWN - ")
    assert "nowhere.toml" in line

    def gone(argv):
        raise CommandNotFound(f"{argv[0]} not found")

    use(FakeRunner([(CRM_MON, gone)]))
    result = CliRunner().invoke(cli, ["status", "--nagios", "--params", EXAMPLE])
    assert result.exit_code == nagios.UNKNOWN
    assert result.stdout == ("SIPHA UNKNOWN - could not read the cluster status: "
                             "/usr/sbin/crm_mon not found. Try 'pcs status'.\n")


def test_nagios_takes_no_output_format():
    result = CliRunner().invoke(cli, ["status", "--nagios", "--output-as", "json"])
    assert result.exit_code == nagios.UNKNOWN
    assert result.stdout == "SIPHA UNKNOWN - --nagios takes no --output-as\n"


@pytest.mark.pacemaker_tools
def test_ok_exactly_when_status_exits_0(tmp_path, use):
    states = [simulation(tmp_path, "a").crm_mon(), gate_state(tmp_path / "b"),
              gate_state(tmp_path / "c", state="behind", pending="1")]
    for xml in states:
        code, _, _ = check(use, xml)
        use(FakeRunner([(CRM_MON, done(xml))]))
        status = CliRunner().invoke(cli, ["status", "--params", EXAMPLE]).exit_code
        assert (code == nagios.OK) == (status == 0), (code, status)
