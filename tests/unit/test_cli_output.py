"""--output-as json: every command's real output (from crm_mon XML that
Pacemaker's scheduler produced, and real crm_verify) validates against the
JSON Schema shipped for it, and the schemas are valid JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cib_templates import params, render
from sip_ha import cluster, history, output, tools
from sip_ha.cli import cli
from tests.support.fake_runner import FakeRunner, done
from tests.support.missing import missing
from tests.support.scheduler import Simulation
from tests.unit.test_cli_cib import LIVE, QUERY, VERIFY, real
from tests.unit.test_cli_moves import CLEAR, MOVE, gate_state, healthy, synced

EXAMPLE = str(Path(params.__file__).parent / "example.toml")
CRM_MON = cluster.CRM_MON_ARGV
SCHEMAS = sorted(Path(output.SCHEMA_DIR).glob("*.json"))
README = Path(__file__).resolve().parents[2] / "README.rst"


def validator(name: str):
    try:
        import jsonschema
    except ImportError:
        missing("jsonschema (pip install '.[test]', or Debian's python3-jsonschema)")
    schema = json.loads(Path(output.schema_path(name)).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def valid(name: str, text: str) -> dict:
    document = json.loads(text)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator(name).iter_errors(document)]
    assert errors == [], errors
    return document


def invoke(*args: str):
    return CliRunner().invoke(cli, [*args, "--params", EXAMPLE])


def test_every_schema_is_valid_and_documented():
    assert {p.name for p in SCHEMAS} == {"status.json", "move.json", "logs.json",
                                         "cib-diff.json"}
    readme = README.read_text()
    for path in SCHEMAS:
        validator(path.name)
        assert f"sip_ha/schemas/{path.name}" in readme
    # the schemas are strict: a field they do not describe, or of another type, fails
    move = {"api_version": 1, "action": "failover", "service": "pbx", "source": "node1",
            "target": "node2", "took": 3.5, "outage": None, "probed": False, "warnings": []}
    assert not list(validator("move.json").iter_errors(move))
    assert list(validator("move.json").iter_errors({**move, "extra": 1}))
    assert list(validator("move.json").iter_errors({**move, "took": "3.5"}))
    assert list(validator("move.json").iter_errors({**move, "api_version": 2}))


def story(tmp_path: Path) -> dict[str, str]:
    """crm_mon XML: healthy; conflicts and files only on node2; node1 lost;
    node1 back with its sync failing and a lagging replica; nothing promoted
    and a refused configuration."""
    out = {}
    (tmp_path / "a").mkdir(parents=True)
    sim = Simulation(render.render(params.load(EXAMPLE)).getroot(), tmp_path / "a")
    healthy(sim, "node1")
    healthy(sim, "node2")
    sim.settle()
    out["healthy"] = sim.crm_mon()
    synced(sim, "node1", "node2", state="conflicts", conflicts="2", kept="1",
           kept_names="/etc/asterisk/x.conf")
    sim.settle()
    out["conflicts"] = sim.crm_mon()
    sim.settle("--node-fail", "node1")
    out["lost"] = sim.crm_mon()
    out["failing"] = gate_state(tmp_path / "b", state="failing", pending="3",
                                reconciled=None, error="cannot list node1: refused",
                                sipha_mysql_pbx_db_replication="lagging",
                                sipha_mysql_pbx_db_lag="12")
    (tmp_path / "c").mkdir()
    sim = Simulation(render.render(params.load(EXAMPLE)).getroot(), tmp_path / "c")
    healthy(sim, "node1")
    sim.set_attrs("node1", master_pbx_asterisk="-INFINITY",
                  sipha_pbx_asterisk_config="pbx_config.so refused extensions.conf")
    sim.set_attrs("node2", master_pbx_asterisk="-INFINITY")
    sim.settle()
    out["nothing-active"] = sim.crm_mon()
    return out


@pytest.mark.pacemaker_tools
def test_status_json_validates_in_every_state(tmp_path, use):
    seen = set()
    for name, xml in story(tmp_path).items():
        use(FakeRunner([(CRM_MON, done(xml))]))
        result = invoke("status", "--output-as", "json")
        assert result.exit_code in (0, 5), (name, result.output)
        data = valid("status.json", result.stdout)
        assert data["api_version"] == 1
        seen |= {(n["sync"] or {}).get("state") for s in data["services"] for n in s["nodes"]}
        seen |= {s["active_node"] is None for s in data["services"]}
    assert {"ok", "failing", "conflicts", True, False} <= seen   # the story covers them
    # the old flag still gives the same document
    use(FakeRunner([(CRM_MON, done(story(tmp_path / "again")["healthy"]))]))
    assert json.loads(invoke("status", "--json").stdout)["api_version"] == 1


@pytest.mark.pacemaker_tools
def test_failover_and_failback_json(tmp_path, use):
    states = story(tmp_path)
    ready = gate_state(tmp_path / "ready")
    use(FakeRunner([(CRM_MON, done(ready)), (MOVE, done()), (CRM_MON, done(states["healthy"])),
                    (CLEAR, done())]))
    result = invoke("failback", "--no-probe", "--output-as", "json")
    assert result.exit_code == 0, result.output
    data = valid("move.json", result.stdout)
    assert (data["action"], data["source"], data["target"], data["outage"],
            data["probed"]) == ("failback", "node2", "node1", None, False)
    move = [tools.PCS, "resource", "move", "pbx-asterisk-clone", "node2", "--promoted",
            "--wait=120"]
    use(FakeRunner([(CRM_MON, done(states["healthy"])), (move, done()),
                    (CRM_MON, done(ready)),
                    (CLEAR, done(returncode=1, stderr="Error: cib is busy\n"))]))
    result = invoke("failover", "--no-probe", "--output-as", "json")
    assert result.exit_code == 0, result.output
    data = valid("move.json", result.stdout)
    assert data["action"] == "failover"
    assert data["warnings"] == ["the move constraint may still be there (pcs resource "
                                "clear: Error: cib is busy): run 'pcs resource clear "
                                "pbx-asterisk-clone'"]


@pytest.mark.pacemaker_tools
def test_refused_move_prints_no_document(use, tmp_path):
    use(FakeRunner([(CRM_MON, done(gate_state(tmp_path, state="behind", pending="2")))]))
    result = invoke("failback", "--no-probe", "--output-as", "json")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1].startswith("sip-ha: not moving pbx to node1: ")


@pytest.mark.parametrize("output_as", ["text", "json"])
def test_logs(use, monkeypatch, output_as):
    monkeypatch.setattr("sip_ha.history.socket.gethostname", lambda: "node1")
    argv = history.journal_argv("-1d")
    node1 = ("2026-11-25T10:00:05.000000+0000 node1 pacemaker-controld[9]: Result of "
             "demote operation for pbx-asterisk on node1: ok\n")
    use(FakeRunner([(argv, done(node1)),
                    (tools.on_node("node2", argv),
                     done(returncode=255, stderr="ssh: connect to host node2: refused\n"))]))
    result = invoke("logs", "--since", "-1d", "--output-as", output_as)
    assert result.exit_code == 0, result.output
    if output_as == "text":
        assert result.stdout == ("2026-11-25T10:00:05.000000+0000 node1 Result of demote "
                                 "operation for pbx-asterisk on node1: ok\n")
        assert result.stderr == ("warning: no history from node2 (ssh: connect to host "
                                 "node2: refused)\n")
        return
    data = valid("logs.json", result.stdout)
    assert data["entries"] == [{"time": "2026-11-25T10:00:05.000000+0000", "node": "node1",
                                "message": "Result of demote operation for pbx-asterisk on "
                                           "node1: ok"}]
    assert data["missing"] == ["node2 (ssh: connect to host node2: refused)"]


@pytest.mark.pacemaker_tools
def test_cib_diff_json(use):
    use(FakeRunner([(QUERY, done(LIVE)), (VERIFY, real)]))
    result = invoke("cib", "diff", "--output-as", "json")
    assert result.exit_code == 0, result.output
    data = valid("cib-diff.json", result.stdout)
    assert data["changed"] is True
    assert data["foreign"] == ["resource old-ip"]
    assert {"section": "resources", "id": "old-ip", "change": "removed"} in data["changes"]
    assert {"section": "resources", "id": "pbx-asterisk-clone",
            "change": "added"} in data["changes"]
    assert {"section": "rsc_defaults", "id": "build-resource-defaults",
            "change": "removed"} in data["changes"]
    assert data["diff"].startswith("--- live configuration\n+++ SIP-HA configuration\n")
