"""Pruning a node's backup folder: what goes, and that nothing else does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sync_helper.cli import main
from sync_helper.config import config_from_mapping
from sync_helper.errors import ConfigError, PathEscapeError
from sync_helper.prune import DAY, empty_after, prune
from sync_helper.rsync_argv import backup_stamp

NOW = 1_800_000_000.0
HOUR = 3600.0


def dated(backups: Path, age: float, content: str | None = "kept\n") -> Path:
    """A dated folder as a transfer leaves it: the folder's path mirrored,
    with a file in it (or, content None, the empty path rrsync 3.5 makes)."""
    folder = backups / backup_stamp(NOW - age) / "etc" / "asterisk"
    folder.mkdir(parents=True)
    if content is not None:
        (folder / "sip.conf").write_text(content)
    return backups / backup_stamp(NOW - age)


def test_dated_folders_older_than_the_retention_go(tmp_path: Path) -> None:
    old, young = dated(tmp_path, 31 * DAY), dated(tmp_path, 29 * DAY)
    assert prune(tmp_path, 30, NOW, HOUR) == [old.name]
    assert not old.exists() and (young / "etc/asterisk/sip.conf").exists()


def test_a_dated_folder_holding_no_file_goes_once_no_transfer_can_write_into_it(
        tmp_path: Path) -> None:
    empty_old, empty_new = dated(tmp_path, 2 * HOUR, None), dated(tmp_path, 10 * 60, None)
    with_link = dated(tmp_path, 2 * HOUR + 1, None)
    (with_link / "etc/asterisk/moh").symlink_to("/var/lib/asterisk/moh")  # a kept symlink
    assert prune(tmp_path, 30, NOW, HOUR) == [empty_old.name]
    assert empty_new.exists() and with_link.exists()
    assert empty_after(300) == HOUR and empty_after(7200) == 4 * HOUR


def test_zero_days_keeps_every_backup(tmp_path: Path) -> None:
    old = dated(tmp_path, 3650 * DAY)
    empty = dated(tmp_path, 3651 * DAY, None)
    assert prune(tmp_path, 0, NOW, HOUR) == [empty.name]
    assert old.exists()


def test_a_dry_run_removes_nothing(tmp_path: Path) -> None:
    old = dated(tmp_path, 40 * DAY)
    assert prune(tmp_path, 30, NOW, HOUR, dry_run=True) == [old.name]
    assert old.exists()


def test_nothing_but_dated_folders_is_touched(tmp_path: Path) -> None:
    """Other names, a file or a symlink named like a dated folder, and what a
    symlink inside an expired folder points at all stay."""
    backups, outside = tmp_path / "backups", tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "precious.conf").write_text("not a backup\n")
    old = dated(backups, 60 * DAY)
    (old / "etc/asterisk/escape").symlink_to(outside)
    stamp = backup_stamp(NOW - 60 * DAY)
    others = {"README": "notes\n", f"{stamp[:-1]}": "near miss\n", f"x{stamp}": "prefix\n"}
    for name, text in others.items():
        (backups / name).write_text(text)
    linked = backups / backup_stamp(NOW - 61 * DAY)
    linked.symlink_to(outside)
    as_file = backups / backup_stamp(NOW - 62 * DAY)
    as_file.write_text("a file, not a folder\n")
    assert prune(backups, 30, NOW, HOUR) == [old.name]
    assert (outside / "deep" / "precious.conf").read_text() == "not a backup\n"
    assert all((backups / name).read_text() == text for name, text in others.items())
    assert linked.is_symlink() and as_file.read_text() == "a file, not a folder\n"


def test_a_missing_backup_folder_is_nothing_to_prune(tmp_path: Path) -> None:
    assert prune(tmp_path / "never-made", 30, NOW, HOUR) == []


def test_a_backup_folder_reached_through_a_users_symlink_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    dated(real, 40 * DAY)
    link = tmp_path / "backups"
    link.symlink_to(real)
    if os.geteuid() == 0:
        os.lchown(link, 65534, 65534)
        with pytest.raises(PathEscapeError, match="not a folder or a symlink that root owns"):
            prune(link, 30, NOW, HOUR)
        assert len(list(real.iterdir())) == 1


def test_the_retention_is_a_setting_of_30_days_by_default() -> None:
    assert config_from_mapping({"folders": ["/etc/asterisk"]}).backup_keep_days == 30
    assert config_from_mapping({"folders": ["/etc/asterisk"],
                                "backup_keep_days": 7}).backup_keep_days == 7
    for bad in (-1, "30", True, float("inf")):
        with pytest.raises(ConfigError, match="'backup_keep_days' must be a number of days"):
            config_from_mapping({"folders": ["/etc/asterisk"], "backup_keep_days": bad})


def test_the_prune_command(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    backups = tmp_path / "backups"
    old, young = dated(backups, 45 * DAY), dated(backups, 5 * DAY)
    path = tmp_path / "sync.toml"
    path.write_text(f'folders = ["/etc/asterisk"]\nbackup_dir = "{backups}"\n'
                    "backup_keep_days = 40\n")
    monkeypatch.setattr("time.time", lambda: NOW)
    assert main(["-c", str(path), "prune", "--dry-run"]) == 0
    assert capsys.readouterr().out == f"would remove {old}\n"
    assert main(["-c", str(path), "prune"]) == 0
    assert capsys.readouterr().out == f"removed {old}\n"
    assert main(["-c", str(path), "prune"]) == 0
    assert capsys.readouterr().out == "nothing to prune\n"
    assert young.exists()
