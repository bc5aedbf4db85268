"""The daemons the agents start inherit nothing of the OCF call (issue #12):
OCF_RESKEY_* hold the resource's parameters, a secret among them, and
whatever Asterisk inherits its AGI scripts and System() can read."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocf_agents import asterisk, mysql_mm, sipserver
from ocf_agents.framework import daemon
from ocf_agents.framework.ocf import Context, OCFCode
from sipha_runtime.log import Logger

SECRET = "s3cret-in-the-cib"
CALL = {"OCF_RESKEY_ami_secret": SECRET, "OCF_RESKEY_CRM_meta_timeout": "20000",
        "OCF_RESOURCE_INSTANCE": "pbx", "OCF_ROOT": "/usr/lib/ocf", "HA_LOGFACILITY": "daemon",
        "PCMK_logfile": "/var/log/pacemaker/pacemaker.log", "SBD_WATCHDOG_DEV": "/dev/watchdog",
        "PATH": "/usr/bin:/bin", "TZ": "Europe/Vienna"}
KEPT = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "TZ": "Europe/Vienna"}


def test_a_daemon_gets_path_time_zone_and_the_c_locale_only():
    assert daemon.environment(CALL) == KEPT
    assert daemon.environment({}) == {"PATH": daemon.DEFAULT_PATH, "LC_ALL": "C"}


@pytest.fixture
def call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The agent's environment as Pacemaker's executor sets it (os.environ too)."""
    for name, value in CALL.items():
        monkeypatch.setenv(name, value)
    return {**CALL, "HA_RSCTMP": str(tmp_path / "rsc")}


def dumper(tmp_path: Path) -> Path:
    """A daemon that writes its environment down and fails to start."""
    script = tmp_path / "daemon"
    script.write_text(f"#!/bin/sh\nexec /usr/bin/env > {tmp_path}/seen\n")
    script.chmod(0o755)
    return script


def seen(tmp_path: Path) -> dict[str, str]:
    lines = (tmp_path / "seen").read_text().splitlines()
    pairs = (line.partition("=") for line in lines)
    return {name: value for name, _, value in pairs if name != "PWD"}  # the script's shell


def test_sipserver_starts_its_server_with_the_daemon_environment(
        tmp_path: Path, call: dict[str, str]):
    env = {**call, "OCF_RESKEY_profile": "custom",
           "OCF_RESKEY_start_command": str(dumper(tmp_path)),
           "OCF_RESKEY_pidfile": str(tmp_path / "server.pid"),
           "OCF_RESKEY_control_command": "none", "OCF_RESKEY_CRM_meta_timeout": "3000"}
    assert sipserver.AGENT.dispatch("start", env) == OCFCode.ERR_GENERIC  # no pid file
    assert seen(tmp_path) == KEPT


def test_asterisk_starts_with_the_daemon_environment(tmp_path: Path, call: dict[str, str]):
    (tmp_path / "asterisk.conf").write_text(
        f"[directories]\nastrundir => {tmp_path}\nastetcdir => {tmp_path}\n")
    (tmp_path / "modules.conf").write_text("noload => res_pjsip_outbound_registration.so\n")
    env = {**call, "OCF_RESKEY_binary": str(dumper(tmp_path)),
           "OCF_RESKEY_config": str(tmp_path / "asterisk.conf"), "OCF_RESKEY_user": "root",
           "OCF_RESKEY_group": "root", "OCF_RESKEY_CRM_meta_timeout": "3000"}
    assert asterisk.AGENT.dispatch("start", env) == OCFCode.ERR_GENERIC  # no pid file
    assert seen(tmp_path) == KEPT


def test_mariadbd_starts_with_the_daemon_environment(tmp_path: Path, call: dict[str, str]):
    cfg = mysql_mm.MysqlConfig(config=str(tmp_path / "my.cnf"), binary=str(dumper(tmp_path)),
                               datadir=str(tmp_path), socket=str(tmp_path / "mysqld.sock"),
                               pidfile=str(tmp_path / "mysqld.pid"))
    ctx = Context(mysql_mm.AGENT, "start", call, Logger("mysql-mm", "db", {}), 10)
    mysql_mm._spawn(cfg, ctx).wait()
    assert seen(tmp_path) == KEPT
