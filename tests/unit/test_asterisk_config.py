"""Configuration that arrives on a standby is loaded: what counts as changed,
which module reloads which file, what a refusal looks like and how long it
stands."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ocf_agents.clients import asterisk_config
from ocf_agents.clients.asterisk_config import Loaded, changed_since, freshen, module_of


class Console:
    """Stands in for AsteriskCli: records commands, answers module reloads."""

    timeout = 3.0

    def __init__(self, refuses: tuple[str, ...] = ()) -> None:
        self.refuses = refuses
        self.commands: list[str] = []

    def command(self, text: str, timeout: float | None = None) -> str:
        self.commands.append(text)
        if not text.startswith("module reload "):
            return ""
        return "".join(
            f"The module '{m}' reported a reload failure\n" if m in self.refuses else
            f"Module '{m}' reloaded successfully.\n" for m in text.split()[2:])


def touch(path: Path, age: float = 10.0, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    folder = tmp_path / "etc"
    for name in ("extensions.conf", "pjsip.conf", "modules.conf"):
        touch(folder / name, age=100)
    return folder


def test_changed_files_skip_backups_and_editor_files(etc: Path):
    mark = asterisk_config.newest(str(etc))
    for name in ("extensions.conf~", ".extensions.conf.swp", "old.bak",
                 ".sip-ha-backup/extensions.conf"):
        touch(etc / name, age=1)
    touch(etc / "custom" / "queues_custom.conf", age=1)
    changed, newest = changed_since(str(etc), mark)
    assert changed == ["custom/queues_custom.conf"]
    assert newest > mark
    assert changed_since(str(etc), newest) == ([], newest)


def test_modules_by_file_name():
    assert module_of("extensions_additional.conf") == "pbx_config.so"
    assert module_of("pjsip.endpoint.conf") == "res_pjsip.so"
    assert module_of("pjsip_notify.conf") == "res_pjsip_notify.so"
    assert module_of("sub/queues.conf") == "app_queue.so"
    assert module_of("rtp.conf") is None
    assert module_of("extensions.lua") is None


def test_a_first_look_records_without_reloading(etc: Path, tmp_path: Path):
    console, state = Console(), str(tmp_path / "state")
    loaded, done = freshen(console, str(etc), state, settle=2)
    assert (loaded.problem, done, console.commands) == ("", "", [])
    assert Loaded.read(state) == loaded


def test_changes_wait_until_quiet_then_reload_their_modules(etc: Path, tmp_path: Path):
    console, state = Console(), str(tmp_path / "state")
    freshen(console, str(etc), state, settle=2)
    touch(etc / "extensions.conf", age=0)
    assert freshen(console, str(etc), state, settle=2)[1] == ""  # a sync may be writing
    assert console.commands == []
    touch(etc / "extensions.conf", age=3)
    touch(etc / "rtp.conf", age=3)
    loaded, done = freshen(console, str(etc), state, settle=2)
    assert console.commands == ["core reload", "module reload pbx_config.so"]
    assert done == "reloaded 2 changed file(s): extensions.conf, rtp.conf"
    assert loaded.problem == ""
    console.commands.clear()
    assert freshen(console, str(etc), state, settle=2)[1] == ""
    assert console.commands == []


def test_a_refusal_stands_until_its_module_takes_a_later_change(etc: Path, tmp_path: Path):
    state = str(tmp_path / "state")
    freshen(Console(), str(etc), state, settle=0)
    touch(etc / "extensions.conf", age=5)
    loaded, _ = freshen(Console(refuses=("pbx_config.so",)), str(etc), state, settle=0)
    assert loaded.problem == "pbx_config.so refused extensions.conf"
    touch(etc / "pjsip.conf", age=4)
    assert freshen(Console(), str(etc), state, settle=0)[0].problem == loaded.problem
    touch(etc / "extensions.conf", age=3)
    assert freshen(Console(), str(etc), state, settle=0)[0].problem == ""
