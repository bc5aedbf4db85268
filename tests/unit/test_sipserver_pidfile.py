"""The profile's default pid file is named after the resource, as every
other state of an agent (Context.resource), whatever clone number the call
carries."""

from __future__ import annotations

from pathlib import Path

from ocf_agents import sipserver
from ocf_agents.framework.ocf import Context
from sipha_runtime.log import Logger


def pidfile(tmp_path: Path, instance: str) -> str:
    ctx = Context(sipserver.AGENT, "monitor", {"OCF_RESOURCE_INSTANCE": instance},
                  Logger("sipserver", instance, {}), 5)
    return sipserver._default_pidfile(str(tmp_path / "{instance}.pid"), ctx)


def test_the_clone_number_does_not_change_the_pid_file(tmp_path: Path) -> None:
    assert pidfile(tmp_path, "sip") == pidfile(tmp_path, "sip:1") == str(tmp_path / "sip.pid")
    assert pidfile(tmp_path, "a/b") == str(tmp_path / "a_b.pid")


def test_a_server_started_under_the_older_name_is_still_found(tmp_path: Path) -> None:
    (tmp_path / "sip-1.pid").write_text("4242\n")
    assert pidfile(tmp_path, "sip:1") == str(tmp_path / "sip-1.pid")
    assert pidfile(tmp_path, "sip") == str(tmp_path / "sip.pid")
