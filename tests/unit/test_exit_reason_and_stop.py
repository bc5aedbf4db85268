"""An exit reason is one line whatever a value held; stop of mysql-mm works
without its configuration (a failed stop gets the node fenced)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocf_agents import mysql_mm
from ocf_agents.framework import ocf
from ocf_agents.framework.ocf import Agent, Config, Context, GenericError, OCFCode, param


class Params(Config):
    name: str = param("x", shortdesc="Name")


def monitor(cfg: Params, ctx: Context) -> OCFCode:
    raise GenericError(f"no such thing: {cfg.name}")


AGENT = Agent("demo", version="1.0", shortdesc="Demo", longdesc="Demo agent.",
              config=Params, handlers={"monitor": monitor}, operations=())


def reasons(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("ocf-exit-reason:")]


def test_control_characters_in_an_exit_reason_are_escaped(capsys: pytest.CaptureFixture[str]):
    env = {"OCF_RESKEY_name": "a\nocf-exit-reason:forged\r\x01\u2028b"}
    assert AGENT.dispatch("monitor", env) == OCFCode.ERR_GENERIC
    err = capsys.readouterr().err
    assert reasons(err) == [r"ocf-exit-reason:no such thing: a\nocf-exit-reason:forged\r\x01"
                            r"\u2028b"]
    # The log line (stderr here) is one line too.
    assert len(err.splitlines()) == 2


def test_one_line_keeps_printable_text():
    assert ocf.one_line("über 'quoted' & <tagged> 50%") == "über 'quoted' & <tagged> 50%"
    assert ocf.one_line("tab\there\x7f\x85") == r"tab\there\x7f\x85"


@pytest.fixture
def node(tmp_path: Path) -> dict[str, str]:
    """A node where mariadbd never ran here: no pid file, nothing recorded."""
    return {"OCF_RESOURCE_INSTANCE": "db", "HA_RSCTMP": str(tmp_path / "rsc"),
            "OCF_RESKEY_pidfile": str(tmp_path / "mysqld.pid"),
            "OCF_RESKEY_binary": str(tmp_path / "mariadbd")}


def test_validate_exit_reason_with_a_newline_in_a_value_is_one_line(
        node: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    binary = tmp_path / "mariadbd"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    env = {**node, "OCF_RESKEY_config": "/etc/my\nsecond line.cnf"}
    assert mysql_mm.AGENT.dispatch("validate-all", env) == OCFCode.ERR_INSTALLED
    assert reasons(capsys.readouterr().err) == [
        r"ocf-exit-reason:config /etc/my\nsecond line.cnf not found on this node"]


def test_stop_without_config_of_a_server_never_started_succeeds(node: dict[str, str]):
    assert mysql_mm.AGENT.dispatch("stop", node) == OCFCode.SUCCESS
    assert mysql_mm.AGENT.dispatch("stop", {**node, "OCF_RESKEY_config": ""}) == 0
    bad = {**node, "OCF_RESKEY_query_timeout": "soon", "OCF_RESKEY_user": ""}
    assert mysql_mm.AGENT.dispatch("stop", bad) == OCFCode.SUCCESS


def test_start_and_monitor_still_need_config(node: dict[str, str],
                                             capsys: pytest.CaptureFixture[str]):
    for action in ("start", "monitor", "validate-all"):
        assert mysql_mm.AGENT.dispatch(action, node) == OCFCode.ERR_CONFIGURED
    assert "ocf-exit-reason:parameter config is required" in capsys.readouterr().err
