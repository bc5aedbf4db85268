"""One ssh connection per peer, shared by every rsync run to it (OpenSSH
connection multiplexing): a push lists the peer's side and then transfers,
two runs per folder, and a new connection costs a key exchange and a login
each time.

The first run to a peer becomes the master (``ControlMaster=auto``) and stays
``PERSIST`` seconds after its last session (the watcher's reconcile keeps it
alive while the node is active).  ``auto`` also makes a stale socket (a
master that was killed) harmless: ssh removes it and connects anew.  The
master checks the peer's host key when it connects, as every connection
does; the sessions it carries run the key's forced command each, so a
confined key (rrsync) is as confined.  Each master pings the peer
(``ServerAliveInterval``), so a peer that goes away ends its master within
about ``connect_timeout`` and the sessions waiting on it fail, rather than
wait for rsync's own timeout.

The control socket lets whoever can reach it use the peer's login, so it
lives in a folder only this user (root) can enter; its name is a digest of
everything that decides the connection (user, host, port, key, known hosts,
checking), so a configuration that trusts another host key never rides on a
connection made under the old one.

Ending them (``Syncer.close``) goes by the sockets there, not by who opened
them: a master that a run started over a stale socket, or that outlived a
run cut by its deadline, is as much there.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from sync_helper.config import Peer, SshSettings
from sync_helper.errors import ConfigError

PERSIST = 120
ALIVE_COUNT = 3
# ``ssh -O exit`` is answered by the master on this host at once; one that is
# wedged must not hold up a stop or demote longer than this, each
EXIT_WITHIN = 2.0


def control_path(settings: SshSettings, peer: Peer) -> Path | None:
    """The peer's control socket, or None without sharing (or a mounted target)."""
    if not settings.control_dir or peer.mount is not None:
        return None
    decides = "\0".join((peer.user, peer.host, str(peer.port), settings.ssh,
                         settings.identity_file, settings.known_hosts_file,
                         settings.strict_host_key_checking, str(settings.connect_timeout)))
    return Path(settings.control_dir) / hashlib.sha256(decides.encode()).hexdigest()[:16]


def alive_interval(settings: SshSettings) -> int:
    return max(1, settings.connect_timeout // ALIVE_COUNT)


def options(settings: SshSettings, peer: Peer) -> list[str]:
    """What rsync's ssh adds to share the peer's connection (none without)."""
    path = control_path(settings, peer)
    if path is None:
        return []
    return ["-o", "ControlMaster=auto", "-o", f"ControlPath={path}",
            "-o", f"ControlPersist={PERSIST}",
            "-o", f"ServerAliveInterval={alive_interval(settings)}",
            "-o", f"ServerAliveCountMax={ALIVE_COUNT}"]


def control_argv(settings: SshSettings, peer: Peer, path: Path, command: str) -> list[str]:
    """``ssh -O COMMAND`` to the peer's master: ``check``; ``exit``: end
    now, with the sessions it carries; ``stop``: take no new session, end
    after the ones it carries."""
    return [settings.ssh, "-o", "BatchMode=yes", "-o", f"ControlPath={path}", "-O", command,
            "-p", str(peer.port), peer.address()]


def sockets(settings: SshSettings, peers: Iterable[Peer]) -> list[tuple[Peer, Path]]:
    """The peers' control sockets there now, each once (peers may share
    one), whoever opened them; none without a control folder."""
    if not settings.control_dir or not os.path.lexists(settings.control_dir):
        return []
    _check(Path(settings.control_dir))
    found: dict[Path, Peer] = {}
    for peer in peers:
        path = control_path(settings, peer)
        if path is not None and path not in found and _is_socket(path):
            found[path] = peer
    return [(peer, path) for path, peer in found.items()]


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.lstat().st_mode)
    except FileNotFoundError:
        return False


def prepare(folder: Path) -> None:
    """Make the control folder (mode 0700) or check the one there."""
    try:
        folder.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot make the ssh control folder {folder}: {exc.strerror}") \
            from None
    _check(folder)


def _check(folder: Path) -> None:
    """A folder, not a symlink, owned by this user and closed to everyone
    else: a socket in it is ours to use."""
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or \
            info.st_mode & 0o077:
        raise ConfigError(f"ssh control folder {folder} must be a folder of uid "
                          f"{os.geteuid()} with mode 0700 (it holds the peers' connections)")
