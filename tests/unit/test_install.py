"""sip-ha install-agents: shims Pacemaker can run, removed cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sip_ha import install as installer
from sip_ha import tools
from sip_ha.cli import cli
from sipha_runtime.run import Completed
from tests.support.fake_runner import FakeRunner, done


def install(root: Path) -> list[str]:
    return ["install-agents", "--ocf-root", str(root), "--alert-dir", str(root / "alerts"),
            "--tmpfiles-dir", str(root / "tmpfiles.d")]


def made(root: Path) -> list[object]:
    """The command that makes the alert agent's folder from the entry in ROOT."""
    return [installer.SYSTEMD_TMPFILES, "--create", str(root / "tmpfiles.d" / "sip-ha.conf")]


@pytest.fixture
def runners(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[FakeRunner]:
    """Each install's runner: it expects systemd-tmpfiles --create (and succeeds)."""
    given: list[FakeRunner] = []

    def runner(seconds: float) -> FakeRunner:
        given.append(FakeRunner([(made(tmp_path), done())]))
        return given[-1]

    monkeypatch.setattr(tools, "runner", runner)
    return given


def test_install_run_and_uninstall(tmp_path: Path, runners: list[FakeRunner]):
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
    assert len(runners) == 2 and all(r.finished() for r in runners)


def test_the_alert_agents_folder_under_run_is_made(tmp_path: Path, runners: list[FakeRunner]):
    """A venv install gets the entry the Debian package ships, so the alert
    agent's hold-back works there too, after a reboot as well."""
    result = CliRunner().invoke(cli, install(tmp_path))
    assert result.exit_code == 0, result.output
    conf = tmp_path / "tmpfiles.d" / "sip-ha.conf"
    assert f"installed {conf}" in result.output
    assert "d /run/sip-ha-alert 0750 hacluster haclient -" in conf.read_text().splitlines()
    assert oct(conf.stat().st_mode & 0o777) == "0o644"
    [runner] = runners
    assert runner.calls == [made(tmp_path)]
    result = CliRunner().invoke(cli, [*install(tmp_path), "--uninstall"])
    assert f"removed {conf}" in result.output and not conf.exists()
    assert len(runners) == 1  # nothing run to remove it


def test_the_debian_package_ships_the_same_line():
    shipped = (Path(__file__).parents[2] / "debian" / "sip-ha.tmpfiles").read_text()
    assert installer.TMPFILES_LINE in shipped.splitlines()


def test_a_folder_systemd_tmpfiles_cannot_make_is_a_warning(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch):
    """The agents work without it (every alert is sent): exit 0, one line."""
    refused = Completed((), 1, "", "Failed to resolve user 'hacluster': No such process\n", 0)
    monkeypatch.setattr(tools, "runner", lambda seconds: FakeRunner([(made(tmp_path), refused)]))
    result = CliRunner().invoke(cli, install(tmp_path))
    assert result.exit_code == 0
    assert result.stderr == (
        f"warning: {installer.SYSTEMD_TMPFILES} --create {tmp_path}/tmpfiles.d/sip-ha.conf: "
        "Failed to resolve user 'hacluster': No such process; until /run/sip-ha-alert is "
        "made, repeated alerts are not held back\n")


def test_a_private_tree_leaves_the_systems_tmpfiles_alone(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    """As the integration tests and the bench install: no --tmpfiles-dir, an
    --alert-dir of their own: nothing in /etc/tmpfiles.d, nothing run."""
    monkeypatch.setattr(tools, "runner", lambda seconds: FakeRunner([]))
    where = ["--ocf-root", str(tmp_path), "--alert-dir", str(tmp_path / "alerts")]
    result = CliRunner().invoke(cli, ["install-agents", *where])
    assert result.exit_code == 0, result.output
    assert "tmpfiles" not in result.output
    result = CliRunner().invoke(cli, ["install-agents", *where, "--uninstall"])
    assert result.exit_code == 0 and "tmpfiles" not in result.output


def test_alert_agent_runs_as_pacemaker_runs_it(tmp_path: Path, runners: list[FakeRunner]):
    assert CliRunner().invoke(cli, install(tmp_path)).exit_code == 0
    alert = tmp_path / "alerts" / "sip-ha-alert"
    assert os.access(alert, os.X_OK)
    # An alert without recipient: nothing to send, exit 0. A bad one: exit 1.
    env = {"CRM_alert_kind": "node", "CRM_alert_node": "node2", "CRM_alert_desc": "lost"}
    assert subprocess.run([str(alert)], env=env, check=False).returncode == 0
    res = subprocess.run([str(alert)], env={**env, "CRM_alert_recipient": "pager"},
                         capture_output=True, text=True, check=False)
    assert res.returncode == 1 and "recipient 'pager'" in res.stderr


def test_foreign_files_are_never_overwritten_or_removed(tmp_path: Path,
                                                        runners: list[FakeRunner]):
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


def test_the_debian_packages_shims_are_left_alone(tmp_path: Path, runners: list[FakeRunner]):
    """dpkg owns them: install-agents neither replaces nor removes them."""
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


@pytest.mark.parametrize("name", sorted(installer.AGENTS))
def test_meta_data_is_served_stored_without_the_code(tmp_path: Path, name: str):
    """Pacemaker asks before every start: the shim answers from the stored copy
    (marked here, so a generated answer would differ)."""
    libdir = tmp_path / "lib"
    stored = Path(installer.metadata_file(name, str(libdir)))
    stored.parent.mkdir(parents=True)
    stored.write_text(Path(installer.metadata_file(name, installer.code_root())).read_text()
                      + "<!-- stored -->\n")
    files = installer.shims(str(tmp_path), sys.executable, str(tmp_path / "alerts"),
                            libdir=str(libdir))
    shim = tmp_path / "resource.d" / "sipha" / name
    shim.parent.mkdir(parents=True, exist_ok=True)
    shim.write_text(files[str(shim)])
    shim.chmod(0o755)
    meta = subprocess.run([str(shim), "meta-data"], capture_output=True, text=True, check=False)
    assert meta.returncode == 0, meta.stderr
    assert meta.stdout == stored.read_text()



def test_meta_data_without_the_stored_copy_is_the_agents_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The stored copy moved (a venv rebuilt for another Python): the shim
    answers slower, from the agent, never with a traceback."""
    expected = {name: Path(installer.metadata_file(name, installer.code_root())).read_text()
                for name in installer.AGENTS}
    monkeypatch.setattr(installer, "metadata_file",
                        lambda name, root: str(tmp_path / "gone" / f"{name}.xml"))
    files = installer.shims(str(tmp_path), sys.executable, str(tmp_path / "alerts"))
    for name in ("asterisk", "service-ip"):  # a lean shim and a plain one
        shim = tmp_path / "resource.d" / "sipha" / name
        shim.parent.mkdir(parents=True, exist_ok=True)
        shim.write_text(files[str(shim)])
        shim.chmod(0o755)
        meta = subprocess.run([str(shim), "meta-data"], capture_output=True, text=True,
                              check=False)
        assert meta.returncode == 0, meta.stderr
        assert meta.stdout == expected[name]
