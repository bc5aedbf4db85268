from __future__ import annotations

import os
from pathlib import Path

import pytest

from sync_helper.errors import PathEscapeError
from sync_helper.paths import Filters, list_local, locate


def test_a_path_maps_to_its_folder(tmp_path: Path) -> None:
    (tmp_path / "ast" / "sub").mkdir(parents=True)
    folders = (tmp_path / "ast", tmp_path / "vm")
    assert locate(f"{tmp_path}/ast/sub/x.conf", folders) == (tmp_path / "ast", "sub/x.conf")
    assert locate(f"{tmp_path}/ast/sub/../y.conf", folders) == (tmp_path / "ast", "y.conf")


def test_dot_dot_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ast").mkdir()
    with pytest.raises(PathEscapeError, match="not inside a watched folder"):
        locate(f"{tmp_path}/ast/../../etc/passwd", (tmp_path / "ast",))


def test_a_symlinked_folder_leading_out_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ast").mkdir()
    (tmp_path / "secret").mkdir()
    os.symlink(tmp_path / "secret", tmp_path / "ast" / "link")
    with pytest.raises(PathEscapeError, match="symlink"):
        locate(f"{tmp_path}/ast/link/key", (tmp_path / "ast",))


def test_relative_paths_and_the_folder_itself_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PathEscapeError, match="absolute"):
        locate("ast/x", (tmp_path,))
    with pytest.raises(PathEscapeError, match="watched folder itself"):
        locate(str(tmp_path), (tmp_path,))


def test_filters() -> None:
    filters = Filters(include=("*.conf", "sub/*"), exclude=("*.swp", "tmp"))
    assert filters.wanted("sip.conf")
    assert filters.wanted("a/b/sip.conf")
    assert filters.wanted("sub/anything")
    assert not filters.wanted("notes.txt")
    assert not filters.wanted(".sip.conf.swp")
    assert not filters.wanted("tmp/x.conf")
    assert filters.wanted_folder("a/b") and not filters.wanted_folder("a/tmp")


def test_local_listing_follows_filters_and_not_symlinks(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.conf").write_text("a")
    (tmp_path / "b.swp").write_text("b")
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "sub" / "link")
    listing = list_local(tmp_path, Filters(exclude=("*.swp", "outside")))
    assert sorted(listing) == ["sub", "sub/a.conf", "sub/link"]
    assert listing["sub/a.conf"].kind == "f" and listing["sub/a.conf"].size == 1
    assert listing["sub/link"].kind == "l"
    assert sorted(list_local(tmp_path, Filters(), ["sub", "gone"])) == [
        "sub", "sub/a.conf", "sub/link"]
