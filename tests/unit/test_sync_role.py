from __future__ import annotations

from pathlib import Path

import pytest

from sync_helper.role import ACTIVE, STANDBY, RoleFile, is_active


def test_only_the_word_active_makes_a_node_active(tmp_path: Path) -> None:
    role = RoleFile(tmp_path / "role")
    assert role() == STANDBY  # no file: do not push
    role.set(ACTIVE)
    assert role() == ACTIVE and is_active(role)
    for text in ("standby\n", "ACTIVE-ish", "", "\xff"):
        (tmp_path / "role").write_text(text)
        assert role() == STANDBY
    (tmp_path / "role").write_text(" Active \n")
    assert role() == ACTIVE


def test_setting_an_unknown_role_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="active or standby"):
        RoleFile(tmp_path / "role").set("master")
