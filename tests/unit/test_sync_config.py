from __future__ import annotations

from pathlib import Path

import pytest

from sync_helper.config import check_host, config_from_mapping, load_config
from sync_helper.errors import ConfigError, PeerError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sync.toml"
    path.write_text(text)
    return path


def test_a_full_configuration_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
folders = ["/etc/asterisk", "/var/spool/asterisk/voicemail/"]
exclude = ["*.swp"]
include = ["*.conf", "msg*"]
debounce = 0.2
max_delay = 3
[ssh]
identity_file = "/etc/sip-ha/sync_ed25519"
[[peers]]
name = "pbx-b"
host = "198.51.100.12"
port = 2222
[[peers]]
name = "nas"
host = "nas.example.org"
user = "backup"
root = "/srv/pbx"
"""))
    assert [str(f) for f in config.folders] == ["/etc/asterisk", "/var/spool/asterisk/voicemail"]
    assert config.exclude == ("*.swp",)
    assert config.debounce == 0.2 and config.max_delay == 3.0
    assert config.peer("pbx-b").port == 2222
    nas = config.peer("nas")
    assert nas.address() == "backup@nas.example.org"
    assert str(nas.destination(Path("/etc/asterisk"))) == "/srv/pbx/etc/asterisk"


def test_missing_configuration_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_unreadable_configuration_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot be read|not readable"):
        load_config(tmp_path)  # a folder, not a file


def test_broken_toml_says_where(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "folders = [\n"))


def test_bytes_that_are_not_utf8_are_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "sync.toml"
    path.write_bytes(b'folders = ["/etc/asterisk"]\n# caf\xe9\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.reason == f"configuration {path} is not UTF-8 text (byte 0xe9 on line 2)"


@pytest.mark.parametrize("host", ["-oProxyCommand=touch /tmp/x", "a b", "host;reboot", "",
                                  "x" * 300])
def test_a_bad_peer_host_is_refused(host: str) -> None:
    with pytest.raises(PeerError):
        check_host(host)


def test_ipv6_peer_is_bracketed() -> None:
    config = config_from_mapping({"folders": ["/etc/asterisk"],
                                  "peers": [{"name": "b", "host": "2001:db8::12"}]})
    assert config.peer("b").address() == "root@[2001:db8::12]"


@pytest.mark.parametrize("peer", [{"name": "-b"}, {"name": "b c"}, {"name": "b", "user": "-x"},
                                  {"name": "b", "port": 0}, {"name": "b", "colour": "red"},
                                  {"name": "b\n"}, {"name": "b", "host": "pbx-b\n"},
                                  {"name": "b", "user": "root\n"}])
def test_a_bad_peer_entry_is_refused(peer: dict[str, object]) -> None:
    with pytest.raises((PeerError, ConfigError)):
        config_from_mapping({"folders": ["/etc/asterisk"], "peers": [peer]})


def test_an_unknown_peer_is_named() -> None:
    config = config_from_mapping({"folders": ["/etc/asterisk"], "peers": [{"name": "b"}]})
    with pytest.raises(PeerError, match=r"no peer named 'c'.*known: b"):
        config.peer("c")


@pytest.mark.parametrize("data, message", [
    ({}, "at least one folder"),
    ({"folders": ["etc/asterisk"]}, "absolute"),
    ({"folders": ["/etc", "/etc/asterisk"]}, "inside"),
    ({"folders": ["/etc/asterisk"], "debounce": -1}, "seconds"),
    ({"folders": ["/etc/asterisk"], "debounce": 5, "max_delay": 1}, "max_delay"),
    ({"folders": ["/etc/asterisk"], "exclude": "*.swp"}, "list of glob"),
    ({"folders": ["/etc/asterisk"], "folder": ["/x"]}, "unknown setting"),
    ({"folders": ["/etc/asterisk"], "ssh": {"identity_file": "/a b"}}, "white space"),
    ({"folders": ["/etc/aster\x00isk"]}, "control character"),
    ({"folders": ["/etc/asterisk"], "rsync": "/usr/bin/rsync\x1b"}, "one word"),
    ({"folders": ["/etc/asterisk"], "timeout": float("inf")}, "seconds"),
    ({"folders": ["/etc/asterisk"], "debounce": float("nan")}, "seconds"),
])
def test_bad_settings_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_mapping(data)


def test_a_missing_watched_folder_is_reported(tmp_path: Path) -> None:
    config = config_from_mapping({"folders": [str(tmp_path / "gone")]})
    with pytest.raises(ConfigError, match="does not exist"):
        config.check_folders()


def test_one_file_for_every_node_this_node_is_not_its_own_peer(tmp_path: Path) -> None:
    data = {"folders": [str(tmp_path)],
            "peers": [{"name": "node1"}, {"name": "node2"}, {"name": "node3"}]}
    on_node2 = config_from_mapping(data, local="node2")
    assert [p.name for p in on_node2.peers] == ["node1", "node3"]
    assert len(config_from_mapping(data, local="elsewhere").peers) == 3
