"""sip-ha install-agents: shims Pacemaker can run, removed cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from sip_ha.cli import cli


def test_install_run_and_uninstall(tmp_path: Path):
    result = CliRunner().invoke(cli, ["install-agents", "--ocf-root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    shim = tmp_path / "resource.d" / "sipha" / "sipserver"
    assert os.access(shim, os.X_OK)
    assert shim.read_text().startswith(f"#!{sys.executable} -I\n")
    meta = subprocess.run([str(shim), "meta-data"], capture_output=True, text=True, check=True)
    assert '<resource-agent name="sipserver"' in meta.stdout
    # Running it again replaces our own files.
    assert CliRunner().invoke(cli, ["install-agents", "--ocf-root", str(tmp_path)]).exit_code == 0
    result = CliRunner().invoke(cli, ["install-agents", "--uninstall", "--ocf-root",
                                      str(tmp_path)])
    assert result.exit_code == 0
    assert f"removed {shim}" in result.output
    assert not shim.parent.exists()


def test_foreign_files_are_never_overwritten_or_removed(tmp_path: Path):
    folder = tmp_path / "resource.d" / "sipha"
    folder.mkdir(parents=True)
    foreign = folder / "sipserver"
    foreign.write_text("#!/bin/sh\necho mine\n")
    result = CliRunner().invoke(cli, ["install-agents", "--ocf-root", str(tmp_path)])
    assert result.exit_code == 1
    assert "was not installed by sip-ha" in result.output
    CliRunner().invoke(cli, ["install-agents", "--uninstall", "--ocf-root", str(tmp_path)])
    assert foreign.read_text() == "#!/bin/sh\necho mine\n"
