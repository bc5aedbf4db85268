"""sip-ha install-agents: shims Pacemaker can run, removed cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from sip_ha.cli import cli


def install(root: Path) -> list[str]:
    return ["install-agents", "--ocf-root", str(root), "--alert-dir", str(root / "alerts")]


def test_install_run_and_uninstall(tmp_path: Path):
    result = CliRunner().invoke(cli, install(tmp_path))
    assert result.exit_code == 0, result.output
    shim = tmp_path / "resource.d" / "sipha" / "sipserver"
    assert os.access(shim, os.X_OK)
    # A monitor without the site module; everything else with it (lxml).
    assert shim.read_text().startswith(f"#!{sys.executable} -IS\n")
    meta = subprocess.run([str(shim), "meta-data"], capture_output=True, text=True, check=True)
    assert '<resource-agent name="sipserver"' in meta.stdout
    monitor = subprocess.run([str(shim), "monitor"], capture_output=True, text=True, check=False,
                             env={"HA_RSCTMP": str(tmp_path), "OCF_RESKEY_sip_uris": ""})
    assert monitor.returncode == 7, monitor.stderr
    mysql = tmp_path / "resource.d" / "sipha" / "mysql-mm"   # its monitor needs pymysql
    assert mysql.read_text().startswith(f"#!{sys.executable} -I\n")
    # Running it again replaces our own files.
    assert CliRunner().invoke(cli, install(tmp_path)).exit_code == 0
    result = CliRunner().invoke(cli, [*install(tmp_path), "--uninstall"])
    assert result.exit_code == 0
    assert f"removed {shim}" in result.output
    assert f"removed {tmp_path / 'alerts' / 'sip-ha-alert'}" in result.output
    assert not shim.parent.exists()
    assert not (tmp_path / "alerts" / "sip-ha-alert").exists()


def test_alert_agent_runs_as_pacemaker_runs_it(tmp_path: Path):
    assert CliRunner().invoke(cli, install(tmp_path)).exit_code == 0
    alert = tmp_path / "alerts" / "sip-ha-alert"
    assert os.access(alert, os.X_OK)
    # An alert without recipient: nothing to send, exit 0. A bad one: exit 1.
    env = {"CRM_alert_kind": "node", "CRM_alert_node": "node2", "CRM_alert_desc": "lost"}
    assert subprocess.run([str(alert)], env=env, check=False).returncode == 0
    res = subprocess.run([str(alert)], env={**env, "CRM_alert_recipient": "pager"},
                         capture_output=True, text=True, check=False)
    assert res.returncode == 1 and "recipient 'pager'" in res.stderr


def test_foreign_files_are_never_overwritten_or_removed(tmp_path: Path):
    folder = tmp_path / "resource.d" / "sipha"
    folder.mkdir(parents=True)
    foreign = folder / "sipserver"
    foreign.write_text("#!/bin/sh\necho mine\n")
    result = CliRunner().invoke(cli, install(tmp_path))
    assert result.exit_code == 1
    assert "was not installed by sip-ha" in result.output
    assert sorted(p.name for p in folder.iterdir()) == ["sipserver"]  # nothing half-done
    CliRunner().invoke(cli, [*install(tmp_path), "--uninstall"])
    assert foreign.read_text() == "#!/bin/sh\necho mine\n"


def test_the_debian_packages_shims_are_left_alone(tmp_path: Path):
    """dpkg owns them: install-agents neither replaces nor removes them."""
    from sip_ha import install as installer

    files = installer.shims(str(tmp_path), sys.executable, str(tmp_path / "alerts"),
                            libdir="/usr/share/sip-ha", marker=installer.PACKAGE_MARKER)
    shim = tmp_path / "resource.d" / "sipha" / "sipserver"
    shim.parent.mkdir(parents=True)
    shim.write_text(files[str(shim)])
    assert "sys.path.insert(0, '/usr/share/sip-ha')\n" in shim.read_text()
    result = CliRunner().invoke(cli, install(tmp_path))
    assert result.exit_code == 1
    assert "belongs to the sip-ha Debian package" in result.output
    assert sorted(p.name for p in shim.parent.iterdir()) == ["sipserver"]
    assert CliRunner().invoke(cli, [*install(tmp_path), "--uninstall"]).exit_code == 0
    assert shim.read_text() == files[str(shim)]
