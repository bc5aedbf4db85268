"""Every sip-ha command that reads the parameter file: a file that is
missing, unreadable or wrong is bad input, exit 2 with one line on stderr,
and nothing runs (README "Exit codes"); status --nagios says UNKNOWN.  So is
a --service that names no service of the file, or none where it has several."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cib_templates import params
from sip_ha import nagios, tools
from sip_ha.cli import cli
from tests.support.fake_runner import FakeRunner

EXAMPLE_TEXT = (Path(params.__file__).parent / "example.toml").read_text()


def _commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    found = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        elif any(p.name == "params_path" for p in command.params):
            found.append([*prefix, name])
    return found


COMMANDS = _commands()


def test_the_commands_are_all_found():
    assert COMMANDS == [["cib", "apply"], ["cib", "diff"], ["cib", "render"], ["copy-config"],
                        ["failback"], ["failover"], ["logs"], ["status"], ["test-alerts"]]


BAD = ["missing", "folder", "unreadable", "syntax", "value", "secret"]


def _bad_file(path: Path, bad: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make PATH the BAD kind of parameter file; what the error says of it."""
    if bad == "missing":
        return "does not exist"
    if bad == "folder":
        path.mkdir()
        return "cannot be read: Is a directory"
    if bad == "syntax":
        path.write_text("[cluster\n")
        return "is not valid TOML"
    if bad == "value":
        path.write_text(EXAMPLE_TEXT.replace("stickiness = 200", 'stickiness = "x"'))
        return "[cluster] stickiness: write a whole number"
    if bad == "secret":
        path.write_text(EXAMPLE_TEXT.replace(
            'password_script = "cat /etc/sip-ha/secrets/fence-node1"', 'passwd = "x"'))
        path.chmod(0o644)
        return "lets group or others at them"
    path.write_text(EXAMPLE_TEXT)

    def refuse(name: object, *args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied", str(name))

    # root reads any file: refuse it here as the kernel refuses anyone else
    monkeypatch.setattr(params, "open", refuse, raising=False)
    return "cannot be read: Permission denied"


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_bad_parameter_file_exits_2_with_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], bad: str):
    path = tmp_path / "cluster.toml"
    said = _bad_file(path, bad, monkeypatch)
    fake = FakeRunner([])  # nothing may run
    monkeypatch.setattr(tools, "runner", lambda seconds: fake)
    monkeypatch.setattr("sip_ha.history.record", lambda message: None)
    result = CliRunner().invoke(cli, [*command, "--params", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"sip-ha: {path}"), result.stderr
    assert said in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert fake.calls == []


@pytest.mark.parametrize("bad", BAD)
def test_a_bad_parameter_file_is_unknown_to_nagios(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str):
    path = tmp_path / "cluster.toml"
    said = _bad_file(path, bad, monkeypatch)
    fake = FakeRunner([])
    monkeypatch.setattr(tools, "runner", lambda seconds: fake)
    result = CliRunner().invoke(cli, ["status", "--nagios", "--params", str(path)])
    assert result.exit_code == nagios.UNKNOWN
    assert result.stdout.startswith(f"SIPHA UNKNOWN - {path}"), result.stdout
    assert said in result.stdout and result.stdout.count("\n") == 1
    assert fake.calls == []


@pytest.mark.parametrize(("service", "said"), [
    (None, "the cluster runs several services (pbx, proxy): name one with --service"),
    ("fax", "there is no service 'fax' in the parameter file (known: pbx, proxy)"),
])
@pytest.mark.parametrize("command", ["failover", "failback"])
def test_a_service_not_named_or_not_there_is_wrong_usage(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, service: str | None,
        said: str):
    fence = EXAMPLE_TEXT.index("# Fence devices")
    path = tmp_path / "cluster.toml"
    path.write_text(EXAMPLE_TEXT[:fence] + '[[service]]\nname = "proxy"\nserver = "sipserver"\n'
                    'ip = ["198.51.100.101/24"]\n[service.options]\nsip_uris = "sip:127.0.0.1"'
                    "\n\n" + EXAMPLE_TEXT[fence:])
    fake = FakeRunner([])
    monkeypatch.setattr(tools, "runner", lambda seconds: fake)
    result = CliRunner().invoke(cli, [command, "--params", str(path),
                                      *(["--service", service] if service else [])])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"sip-ha: {said}\n"
    assert fake.calls == []
