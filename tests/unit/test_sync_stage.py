"""The stage a push sends from: the same objects as the watched folder, reached
without following a symlink in the middle of a path."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sync_helper import stage as stage_module
from sync_helper.errors import PathEscapeError
from sync_helper.paths import Entry
from sync_helper.stage import SWAPPED, Stage, open_folder
from tests.support.missing import require_root


@pytest.fixture
def root_only() -> None:
    require_root("keeping owners (chown)")


def tree(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "asterisk"
    (folder / "pjsip.d").mkdir(parents=True)
    (folder / "pjsip.d" / "trunk.conf").write_text("[trunk]\n")
    (folder / "pjsip.d").chmod(0o750)
    os.utime(folder / "pjsip.d" / "trunk.conf", (1_600_000_000, 1_600_000_000))
    os.utime(folder / "pjsip.d", (1_500_000_000, 1_500_000_000))
    (folder / "current").symlink_to("/etc/passwd")
    return folder, tmp_path / "stage"


def test_files_folders_and_links_are_staged_as_they_are(tmp_path: Path) -> None:
    folder, where = tree(tmp_path)
    where.mkdir()
    staged = Stage(folder, where).add(["pjsip.d/trunk.conf", "current"])
    assert staged.refused == {}
    assert staged.entries == {"pjsip.d/trunk.conf": Entry("f", 1_600_000_000, 8),
                              "current": Entry("l", int(os.lstat(folder / "current").st_mtime),
                                               len("/etc/passwd"))}
    file = where / "pjsip.d" / "trunk.conf"
    assert file.stat().st_ino == (folder / "pjsip.d" / "trunk.conf").stat().st_ino  # a hard link
    assert os.readlink(where / "current") == "/etc/passwd"  # the link, not what it names
    parent = (where / "pjsip.d").stat()  # a folder of the path travels with its attributes
    assert (stat.S_IMODE(parent.st_mode), parent.st_mtime) == (0o750, 1_500_000_000)


def test_a_copy_when_no_hard_link_can_be_made(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    folder, where = tree(tmp_path)
    where.mkdir()
    (folder / "pjsip.d" / "trunk.conf").chmod(0o640)

    def cross_device(*_: object, **__: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(stage_module.os, "link", cross_device)
    assert Stage(folder, where).add(["pjsip.d/trunk.conf"]).refused == {}
    copy = (where / "pjsip.d" / "trunk.conf")
    assert copy.stat().st_ino != (folder / "pjsip.d" / "trunk.conf").stat().st_ino
    assert copy.read_text() == "[trunk]\n"
    info = copy.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_mtime) == (0o640, 1_600_000_000)


def test_a_folder_replaced_by_a_symlink_is_not_followed(tmp_path: Path) -> None:
    folder, where = tree(tmp_path)
    where.mkdir()
    secret = tmp_path / "root-only"
    secret.mkdir(mode=0o700)
    (secret / "trunk.conf").write_text("secret\n")
    (folder / "pjsip.d").rename(tmp_path / "moved")
    (folder / "pjsip.d").symlink_to(secret)
    staged = Stage(folder, where).add(["pjsip.d/trunk.conf", "current"])
    assert staged.refused == {"pjsip.d/trunk.conf": SWAPPED}
    assert list(staged.entries) == ["current"]
    assert [p.name for p in where.rglob("*")] == ["current"]


def test_a_removal_stages_only_the_folders_of_its_path(tmp_path: Path) -> None:
    folder, where = tree(tmp_path)
    where.mkdir()
    staged = Stage(folder, where).add(["pjsip.d/gone.conf", "pjsip.d/trunk.conf"],
                                      parents_only=True)
    assert staged.entries == {} and staged.refused == {}
    assert [p.name for p in where.rglob("*")] == ["pjsip.d"]


def test_a_vanished_name_is_left_out(tmp_path: Path) -> None:
    folder, where = tree(tmp_path)
    where.mkdir()
    staged = Stage(folder, where).add(["gone.conf", "gone/x.conf"])
    assert staged.entries == {} and staged.refused == {}


@pytest.mark.usefixtures("root_only")
def test_owners_are_kept(tmp_path: Path) -> None:
    folder, where = tree(tmp_path)
    where.mkdir()
    os.chown(folder / "pjsip.d", 65534, 65534)
    os.chown(folder / "current", 65534, 65534, follow_symlinks=False)
    Stage(folder, where).add(["pjsip.d/trunk.conf", "current"])
    assert (where / "pjsip.d").stat().st_uid == 65534
    assert os.lstat(where / "current").st_uid == 65534


@pytest.mark.usefixtures("root_only")
def test_the_folder_itself_is_reached_only_through_links_root_owns(tmp_path: Path) -> None:
    spool = tmp_path / "spool"  # /var/spool/asterisk: its user may write here
    (tmp_path / "real-voicemail").mkdir()
    spool.mkdir()
    (spool / "voicemail").symlink_to(tmp_path / "real-voicemail")
    fd = open_folder(spool / "voicemail")
    try:
        assert os.fstat(fd).st_ino == (tmp_path / "real-voicemail").stat().st_ino
    finally:
        os.close(fd)
    os.chown(spool / "voicemail", 65534, 65534, follow_symlinks=False)
    with pytest.raises(PathEscapeError, match="symlink that root owns"):
        open_folder(spool / "voicemail")
