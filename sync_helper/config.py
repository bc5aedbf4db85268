"""The sync configuration: a small TOML file, validated once when loaded.

Example (``/etc/sip-ha/sync.toml``)::

    folders = ["/etc/asterisk", "/var/lib/asterisk/sounds/custom",
               "/var/spool/asterisk/voicemail"]
    exclude = ["*.swp", "*~", ".#*"]
    role_file = "/run/sip-ha/role"          # "active" or "standby"
    state_dir = "/var/lib/sip-ha/sync"
    backup_dir = "/var/backups/sip-ha"      # where pulls keep what they replace
    backup_keep_days = 30                   # this node prunes older dated folders there

    [ssh]
    identity_file = "/etc/sip-ha/sync_ed25519"

    [[peers]]
    name = "pbx-b"
    host = "10.0.0.12"

    [[peers]]                               # a mounted export (NFS, NAS)
    name = "nas"
    mount = "/mnt/nas"                      # must be a mountpoint before every push
    fstype = "nfs4"                         # optional: and of this type
    marker = ".sip-ha-target"               # optional: and hold this file
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync_helper.errors import ConfigError, PeerError
from sync_helper.mount import FSTYPE, MARKER, MountTarget

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
_PEER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
DEFAULT_EXCLUDES = ("*.swp", "*.swx", "*~", ".#*", "4913")
# sun_path holds 108 bytes: the folder, "/", 16 characters, and the ".<16>" ssh binds first
CONTROL_DIR_MAX = 70


def check_host(host: str) -> str:
    """A host name or an IP address; anything else (options, spaces) is refused."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(host):
        raise PeerError(f"peer host {host!r} is not a host name or an IP address")
    return host


def check_peer_name(name: str) -> str:
    if not _PEER_NAME.fullmatch(name):
        raise PeerError(f"peer name {name!r} must be letters, digits, '.', '_' or '-'")
    return name


def _one_word(value: str) -> bool:
    # rsync splits -e on white space; a control character is never meant
    return not any(ch.isspace() or not ch.isprintable() for ch in value)


def absolute_dir(value: object, what: str) -> Path:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ConfigError(f"{what} must be an absolute path, not {value!r}")
    if not _one_word(value):
        raise ConfigError(f"{what} {value!r} contains white space or a control character")
    return Path(os.path.normpath(value))


@dataclass(frozen=True)
class Peer:
    """A receiver: a node (or a NAS reached over ssh), or, with ``mount``, a
    mounted export written as a local path (sync_helper.mount).

    ``root`` prefixes every folder on the receiver ("/" on a cluster node, a
    share on a NAS, the mountpoint or a folder in it); ``backup_dir`` is where
    the receiver keeps, in a dated folder per transfer, whatever a transfer
    replaces or removes there.
    """

    name: str
    host: str
    user: str = "root"
    port: int = 22
    root: Path = Path("/")
    backup_dir: Path = Path("/var/backups/sip-ha")
    mount: MountTarget | None = None

    def destination(self, folder: Path) -> Path:
        return Path(os.path.normpath(f"{self.root}/{folder}"))

    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user}@{host}"


@dataclass(frozen=True)
class SshSettings:
    ssh: str = "/usr/bin/ssh"
    identity_file: str = ""
    known_hosts_file: str = ""
    connect_timeout: int = 10
    strict_host_key_checking: str = "yes"
    # where the shared connections' sockets live (sync_helper.multiplex); "": none
    control_dir: str = "/run/sip-ha/ssh"


@dataclass(frozen=True)
class SyncConfig:
    folders: tuple[Path, ...]
    peers: tuple[Peer, ...]
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDES
    role_file: Path = Path("/run/sip-ha/sync-role")
    state_dir: Path = Path("/var/lib/sip-ha/sync")
    backup_dir: Path = Path("/var/backups/sip-ha")
    backup_keep_days: float = 30.0
    debounce: float = 0.1
    max_delay: float = 5.0
    reconcile_interval: float = 60.0
    timeout: float = 300.0
    bwlimit: str = ""
    rsync: str = "/usr/bin/rsync"
    ssh: SshSettings = field(default_factory=SshSettings)

    def peer(self, name: str) -> Peer:
        for peer in self.peers:
            if peer.name == name:
                return peer
        known = ", ".join(p.name for p in self.peers) or "none"
        raise PeerError(f"no peer named {name!r} in the configuration (known: {known})")

    def check_folders(self) -> None:
        """Every watched folder must exist on the node that watches or pushes."""
        for folder in self.folders:
            if not folder.is_dir():
                raise ConfigError(f"watched folder {folder} does not exist or is not a folder")
            if not os.access(folder, os.R_OK | os.X_OK):
                raise ConfigError(f"watched folder {folder} is not readable")


def load_config(path: str | Path) -> SyncConfig:
    return config_from_mapping(read_config(path), source=str(path))


def read_config(path: str | Path) -> dict[str, Any]:
    """The file's table, not yet checked (``config_from_mapping`` checks it)."""
    import tomllib

    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"configuration {path} does not exist") from None
    except PermissionError:
        raise ConfigError(f"configuration {path} is not readable") from None
    except OSError as exc:
        raise ConfigError(f"configuration {path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration {path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"configuration {path}: arrays or tables nested too deeply") from None
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        raise ConfigError(f"configuration {path} is not UTF-8 text "
                          f"(byte 0x{exc.object[exc.start]:02x} on line {line})") from None
    return data


def local_node_name() -> str:
    import socket

    return socket.gethostname().split(".")[0]


def config_from_mapping(data: dict[str, Any], source: str = "configuration",
                        local: str | None = None) -> SyncConfig:
    """The checked configuration.  A peer named like this node (LOCAL, default
    the short host name) is not a peer here, so one file serves every node."""
    known = {"folders", "peers", "include", "exclude", "role_file", "state_dir", "backup_dir",
             "backup_keep_days", "debounce", "max_delay", "reconcile_interval", "timeout",
             "bwlimit", "rsync", "ssh"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown setting(s) {', '.join(unknown)}")
    folders = data.get("folders")
    if not isinstance(folders, list) or not folders:
        raise ConfigError(f"{source}: 'folders' must list at least one folder")
    parsed_folders = tuple(absolute_dir(f, "watched folder") for f in folders)
    for a in parsed_folders:
        for b in parsed_folders:
            if a != b and b.is_relative_to(a):
                raise ConfigError(f"{source}: watched folder {b} is inside {a}")
    ssh = _ssh_settings(data.get("ssh", {}), source)
    peers = tuple(_peer(p, source) for p in _list_of_tables(data.get("peers", []), "peers",
                                                            source))
    if len({p.name for p in peers}) != len(peers):
        raise ConfigError(f"{source}: two peers have the same name")
    local = local or local_node_name()
    peers = tuple(p for p in peers if p.name != local)
    values: dict[str, Any] = {"folders": parsed_folders, "peers": peers, "ssh": ssh}
    for key in ("include", "exclude"):
        if key in data:
            patterns = data[key]
            if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
                raise ConfigError(f"{source}: '{key}' must be a list of glob patterns")
            values[key] = tuple(patterns)
    for key in ("role_file", "state_dir", "backup_dir"):
        if key in data:
            values[key] = absolute_dir(data[key], key)
    for key, unit in (("debounce", "seconds"), ("max_delay", "seconds"),
                      ("reconcile_interval", "seconds"), ("timeout", "seconds"),
                      ("backup_keep_days", "days")):
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or \
                    not 0 <= value < math.inf:
                raise ConfigError(f"{source}: '{key}' must be a number of {unit} >= 0")
            values[key] = float(value)
    for key in ("bwlimit", "rsync"):
        if key in data:
            if not isinstance(data[key], str) or not _one_word(data[key]):
                raise ConfigError(f"{source}: '{key}' must be one word")
            values[key] = data[key]
    config = SyncConfig(**values)
    if config.max_delay < config.debounce:
        raise ConfigError(f"{source}: max_delay must not be shorter than debounce")
    return config


def _list_of_tables(value: object, key: str, source: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{source}: '{key}' must be a list of tables ([[{key}]])")
    return value


def _peer(table: dict[str, Any], source: str) -> Peer:
    mounted = "mount" in table
    known = {"name", "root", "backup_dir", *(("mount", "fstype", "marker") if mounted
                                             else ("host", "user", "port"))}
    unknown = sorted(set(table) - known)
    if unknown:
        what = "of a mounted target" if mounted else "(fstype and marker go with mount)"
        raise ConfigError(f"{source}: peer setting(s) {', '.join(unknown)} unknown {what}")
    name = table.get("name")
    if not isinstance(name, str):
        raise ConfigError(f"{source}: every peer needs a name")
    check_peer_name(name)
    if mounted:
        return _mounted_peer(name, table, source)
    host = table.get("host", name)
    if not isinstance(host, str):
        raise PeerError(f"peer {name}: host must be text")
    user = table.get("user", "root")
    if not isinstance(user, str) or not _USER.fullmatch(user):
        raise PeerError(f"peer {name}: user {user!r} is not a user name")
    port = table.get("port", 22)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise PeerError(f"peer {name}: port {port!r} is not a TCP port")
    return Peer(name=name, host=check_host(host), user=user, port=port,
                root=absolute_dir(table.get("root", "/"), f"peer {name} root"),
                backup_dir=absolute_dir(table.get("backup_dir", "/var/backups/sip-ha"),
                                         f"peer {name} backup_dir"))


def _mounted_peer(name: str, table: dict[str, Any], source: str) -> Peer:
    """A mounted export: its tree and its backups both inside the mount."""
    mount = absolute_dir(table["mount"], f"peer {name} mount")
    if mount == Path("/"):
        raise ConfigError(f"{source}: peer {name}: mount must be the export's mountpoint, not /")
    target: dict[str, str] = {}
    for key, pattern in (("fstype", FSTYPE), ("marker", MARKER)):
        value = table.get(key, "")
        if not isinstance(value, str) or (value and not pattern.fullmatch(value)) \
                or value in (".", ".."):
            raise ConfigError(f"{source}: peer {name}: {key} {value!r} is not "
                              + ("a file system type such as nfs4" if key == "fstype"
                                 else "a file name at the top of the export"))
        target[key] = value
    root = absolute_dir(table.get("root", str(mount)), f"peer {name} root")
    backup_dir = absolute_dir(table.get("backup_dir", f"{mount}/.sip-ha-backups"),
                              f"peer {name} backup_dir")
    for key, path in (("root", root), ("backup_dir", backup_dir)):
        if not path.is_relative_to(mount):
            raise ConfigError(f"{source}: peer {name}: {key} {path} is not inside its "
                              f"mount {mount}")
    return Peer(name=name, host="", root=root, backup_dir=backup_dir,
                mount=MountTarget(mount, **target))


def _ssh_settings(table: object, source: str) -> SshSettings:
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [ssh] must be a table")
    unknown = sorted(set(table) - {"ssh", "identity_file", "known_hosts_file",
                                   "connect_timeout", "strict_host_key_checking",
                                   "control_dir"})
    if unknown:
        raise ConfigError(f"{source}: ssh setting(s) {', '.join(unknown)} unknown")
    values: dict[str, Any] = {}
    for key in ("ssh", "identity_file", "known_hosts_file"):
        if key in table:
            values[key] = str(absolute_dir(table[key], f"ssh {key}"))
    if "connect_timeout" in table:
        timeout = table["connect_timeout"]
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
            raise ConfigError(f"{source}: ssh connect_timeout must be whole seconds > 0")
        values["connect_timeout"] = timeout
    if "strict_host_key_checking" in table:
        value = table["strict_host_key_checking"]
        if value not in ("yes", "accept-new"):
            raise ConfigError(f"{source}: strict_host_key_checking must be yes or accept-new")
        values["strict_host_key_checking"] = value
    if "control_dir" in table:
        values["control_dir"] = _control_dir(table["control_dir"], source)
    return SshSettings(**values)


def _control_dir(value: object, source: str) -> str:
    """Empty (no shared connections) or an absolute folder whose sockets'
    paths fit in a socket address."""
    if value == "":
        return ""
    folder = str(absolute_dir(value, "ssh control_dir"))
    if len(folder.encode()) > CONTROL_DIR_MAX:
        raise ConfigError(f"{source}: ssh control_dir {folder} is longer than "
                          f"{CONTROL_DIR_MAX} bytes (a socket's path must fit in 108)")
    return folder
