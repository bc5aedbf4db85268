"""sip-ha's help never breaks a path or an option at a hyphen, at any
terminal width a path fits in (a word longer than its column is cut
wherever it must be)."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from sip_ha.cli import cli


def commands(group: click.Group, path: tuple[str, ...] = ()):
    yield path
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name)


@pytest.mark.parametrize("width", [60, 80, 100])
def test_no_word_is_broken_at_a_hyphen(width, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(width))
    helps = []
    for path in commands(cli):
        result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=width)
        assert result.exit_code == 0, result.output
        helps.append(result.output)
        broken = [line for line in result.output.splitlines() if re.search(r"\w-$", line)]
        assert broken == [], (path, broken)
        assert "\u2011" not in result.output
    text = "\n".join(helps)
    for whole in ("/etc/sip-ha/cluster.toml", "/usr/share/pacemaker/alerts", "--output-as",
                  "NAME.sip-ha-TIMESTAMP-RANDOM~"):
        assert whole in text
