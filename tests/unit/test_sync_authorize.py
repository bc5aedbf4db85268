"""``sip-ha-sync authorized-key``: the line that confines the sync key on a node."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync_helper.cli import main

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ7x0L5tq4Lr1H0bWq5d2qj6Xz6Qv3x1m0e2s3YbZx1c root@pbx-a"


def config(tmp_path: Path, peers: str, key: str | None = KEY) -> Path:
    identity = tmp_path / "sync_ed25519"
    if key is not None:
        Path(f"{identity}.pub").write_text(f"{key}\n")
    path = tmp_path / "sync.toml"
    path.write_text(f'folders = ["/etc/asterisk"]\n[ssh]\nidentity_file = "{identity}"\n'
                    f"{peers}")
    return path


THREE = ('[[peers]]\nname = "pbx-a"\nhost = "10.0.0.11"\n'
         '[[peers]]\nname = "pbx-b"\nhost = "10.0.0.12"\n'
         '[[peers]]\nname = "pbx-c"\nhost = "2001:db8::13"\n')


def line(capsys: pytest.CaptureFixture[str], path: Path, *args: str) -> tuple[int, str, str]:
    status = main(["-c", str(path), "authorized-key", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_the_line_allows_rrsync_below_the_receive_root_from_the_other_nodes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = line(capsys, config(tmp_path, THREE), "--peer", "pbx-b",
                          "--dir", "/var/lib/sip-ha/receive/")
    assert status == 0
    assert out == ('restrict,from="10.0.0.11,2001:db8::13",'
                   'command="/usr/bin/rrsync /var/lib/sip-ha/receive" '
                   f"{' '.join(KEY.split()[:2])} sip-ha-sync\n")


def test_the_receiver_is_this_node_unless_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sync_helper.config.local_node_name", lambda: "pbx-c")
    status, out, _ = line(capsys, config(tmp_path, THREE), "--dir", "/srv/receive")
    assert status == 0 and out.startswith('restrict,from="10.0.0.11,10.0.0.12",')


def test_from_replaces_the_addresses_of_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    peers = '[[peers]]\nname = "pbx-a"\nhost = "pbx-a.example.net"\n' \
            '[[peers]]\nname = "pbx-b"\nhost = "10.0.0.12"\n'
    path = config(tmp_path, peers)
    status, _, err = line(capsys, path, "--peer", "pbx-b", "--dir", "/srv/receive")
    assert status == 2
    assert err == ("error: peer pbx-a: host pbx-a.example.net is a name and sshd matches "
                   "from= against addresses; give them with --from\n")
    status, out, _ = line(capsys, path, "--peer", "pbx-b", "--dir", "/srv/receive",
                          "--from", "10.0.0.11", "--from", "192.0.2.0/28")
    assert status == 0 and out.startswith('restrict,from="10.0.0.11,192.0.2.0/28",')


@pytest.mark.parametrize(("args", "message"), [
    (["--peer", "pbx-b", "--dir", "/"], "a receive root of / confines nothing"),
    (["--peer", "pbx-b", "--dir", "receive"], "receive root must be an absolute path"),
    (["--peer", "pbx-b", "--dir", '/srv/"x'], "contains a quote or a backslash"),
    (["--peer", "pbx-b", "--dir", "/srv/a b"], "contains white space"),
    (["--peer", "pbx-z", "--dir", "/srv/r"], "no peer named 'pbx-z'"),
    (["--peer", "pbx-b", "--dir", "/srv/r", "--from", "10.0.0.11,10.0.0.0/8"],
     "'10.0.0.11,10.0.0.0/8' is not an IP address or network"),
])
def test_bad_input_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
        message: str) -> None:
    status, out, err = line(capsys, config(tmp_path, THREE), *args)
    assert (status, out) == (2, "")
    assert message in err and err.count("\n") == 1


def test_a_node_alone_in_the_file_needs_from(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, '[[peers]]\nname = "pbx-b"\nhost = "10.0.0.12"\n')
    status, _, err = line(capsys, path, "--peer", "pbx-b", "--dir", "/srv/r")
    assert status == 2 and "give the senders' addresses with --from" in err


def test_without_the_public_key_it_says_how_to_make_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = line(capsys, config(tmp_path, THREE, key=None), "--peer", "pbx-b",
                          "--dir", "/srv/r")
    assert status == 2
    assert f"ssh-keygen -y -f {tmp_path}/sync_ed25519 > {tmp_path}/sync_ed25519.pub" in err


def test_a_public_key_file_holding_something_else_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, THREE, key="-----BEGIN OPENSSH PRIVATE KEY-----")
    status, _, err = line(capsys, path, "--peer", "pbx-b", "--dir", "/srv/r")
    assert status == 2 and "not an ssh public key" in err
