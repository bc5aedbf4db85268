from __future__ import annotations

from pathlib import Path

import pytest

from sync_helper.cli import main


def config(tmp_path: Path, folder: Path, role: str = "active") -> Path:
    (tmp_path / "role").write_text(role)
    path = tmp_path / "sync.toml"
    path.write_text(f'folders = ["{folder}"]\nrole_file = "{tmp_path}/role"\n'
                    f'state_dir = "{tmp_path}/state"\n'
                    '[[peers]]\nname = "b"\nhost = "198.51.100.12"\n')
    return path


def test_unreadable_configuration_exits_2(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", str(tmp_path / "missing.toml"), "resync"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_configuration_nested_too_deeply_exits_2_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sync.toml"
    path.write_text("a = " + "[" * 3000 + "]" * 3000 + "\n")
    assert main(["-c", str(path), "role"]) == 2
    assert capsys.readouterr().err == (f"error: configuration {path}: arrays or tables "
                                       "nested too deeply\n")


def test_missing_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, tmp_path / "gone")
    assert main(["-c", str(path), "push", str(tmp_path / "gone" / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_path_outside_the_folders_exits_2(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ast").mkdir()
    path = config(tmp_path, tmp_path / "ast")
    assert main(["-c", str(path), "push", f"{tmp_path}/ast/../role"]) == 2
    assert "not inside a watched folder" in capsys.readouterr().err


def test_unknown_peer_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ast").mkdir()
    path = config(tmp_path, tmp_path / "ast")
    assert main(["-c", str(path), "resync", "--dry-run", "--peer", "zz"]) == 2
    assert "no peer named 'zz'" in capsys.readouterr().err


def test_standby_refuses_to_push_with_exit_3(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ast").mkdir()
    (tmp_path / "ast" / "x.conf").write_text("x")
    path = config(tmp_path, tmp_path / "ast", role="standby")
    assert main(["-c", str(path), "push", str(tmp_path / "ast" / "x.conf")]) == 3
    assert main(["-c", str(path), "resync"]) == 3
    assert "not the active one" in capsys.readouterr().err


def test_role_command_shows_and_sets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ast").mkdir()
    path = config(tmp_path, tmp_path / "ast", role="standby")
    assert main(["-c", str(path), "role"]) == 0
    assert main(["-c", str(path), "role", "active"]) == 0
    assert capsys.readouterr().out.split() == ["standby", "active"]
    assert main(["-c", str(path), "role", "master"]) == 2


def test_a_command_that_cannot_run_is_one_line_and_exit_1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ast").mkdir()
    path = config(tmp_path, tmp_path / "ast")
    path.write_text(path.read_text().replace(
        "[[peers]]", 'rsync = "/nonexistent/rsync"\n[ssh]\nssh = "/nonexistent/ssh"\n[[peers]]'))
    assert main(["-c", str(path), "resync"]) == 1
    err = capsys.readouterr().err
    assert "/nonexistent/" in err and "Traceback" not in err
