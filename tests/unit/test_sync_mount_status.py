"""A sync target that is not a node ([service.sync] targets: a mounted
export) in ``sip-ha status``: its state in words and in the JSON document,
and a failing one needs attention, as a failing node's sync does."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cib_templates import params, render
from sip_ha import cluster
from sip_ha.cli import cli
from tests.support.fake_runner import FakeRunner, done
from tests.support.scheduler import Simulation
from tests.unit.test_cli_output import valid

STORAGE = str(Path(__file__).parent / "data" / "storage.toml")
pytestmark = pytest.mark.pacemaker_tools


def crm_mon(tmp_path: Path, **nas: str) -> str:
    """node1 SIP-ACTIVE and pushing; what it publishes about the target nas."""
    sim = Simulation(render.render(params.load(STORAGE)).getroot(), tmp_path)
    for node in ("node1", "node2"):
        sim.set_attrs(node, master_pbx_asterisk="100", master_pbx_filesync="1",
                      sipha_gw_pbx="1", sipha_gw_proxy="1")
    sim.settle()
    sim.set_attrs("node1", **{f"sipha_pbx_filesync_nas_{word}": value
                              for word, value in nas.items()})
    return sim.crm_mon()


def status(use: Callable[[FakeRunner], Any], xml: str, *args: str) -> tuple[int, str]:
    use(FakeRunner([([*cluster.CRM_MON_ARGV], done(xml))]))
    result = CliRunner().invoke(cli, ["status", *args, "--params", STORAGE])
    return result.exit_code, result.stdout


def test_a_missing_mount_shows_in_status_and_needs_attention(
        tmp_path: Path, use: Callable[[FakeRunner], Any]) -> None:
    reason = "target nas: /mnt/nas is not mounted (nothing written into the empty mountpoint)"
    xml = crm_mon(tmp_path, sync="failing", pending="2", error=reason, conflicts="0",
                  kept="0")
    code, text = status(use, xml)
    assert code == 5
    assert f"  nas          sync target FAILING: {reason} (2 change(s) not delivered)" in text
    assert f"  - file sync to nas: FAILING: {reason}" in text
    code, out = status(use, xml, "--output-as", "json")
    document = valid("status.json", out)
    pbx = document["services"][0]
    assert pbx["targets"][0]["name"] == "nas"
    assert pbx["targets"][0]["sync"]["state"] == "failing"
    assert pbx["targets"][0]["sync"]["error"] == reason
    assert document["services"][1]["targets"] == []


def test_a_target_in_sync_needs_nothing(tmp_path: Path, use: Callable[[FakeRunner], Any]) -> None:
    xml = crm_mon(tmp_path, sync="ok", pending="0", conflicts="0", kept="0",
                  reconciled="2026-11-30T09:00:00Z")
    code, text = status(use, xml)
    assert code == 0, text
    assert "nas          sync target in sync (compared whole at 2026-11-30T09:00:00Z)" in text
    assert "file sync to nas" not in text
    code, out = status(use, xml, "--output-as", "json")
    assert code == 0
    assert json.loads(out)["services"][0]["targets"][0]["sync"]["state"] == "ok"
