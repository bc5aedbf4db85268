"""The ``authorized_keys`` line that confines the sync key on a receiver.

With it the key runs nothing but ``rrsync`` (rsync's restricted-rsync script,
``/usr/bin/rrsync`` in Debian's rsync package since 3.2.4), only from the
other nodes' addresses (``from=``), with no pty and no forwarding
(``restrict``).  rrsync runs only rsync's server side, with a checked set of
options, and reads every path a client names (the backup folder too) as
inside one folder, the receive root: "/" is that folder.  So a peer's
``root`` and ``backup_dir`` in sync.toml are what the key sees, and the
defaults ("/" and /var/backups/sip-ha) fit a receive root that holds the
watched folders and the backup folder at their own paths.  They must be in
it, on one file system: moving a replaced file into the backup folder
across a mount point fails under rrsync 3.5 (it hands rsync /proc/self/fd
paths, which rsync's copy fallback refuses to open), so bind-mount from the
receive root to the usual paths, not the other way round.

What the sync asks of it, and why no stricter rrsync option fits: it lists
and pulls (reads: not ``-wo``), pushes (writes: not ``-ro``), moves replaced
and removed files into the backup folder (backup mode and
``--delete-missing-args``: not ``-no-overwrite``, not ``-no-del``), and
keeps symlinks as they are (not ``-munge``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sync_helper.config import absolute_dir, config_from_mapping
from sync_helper.errors import ConfigError, PeerError

RRSYNC = "/usr/bin/rrsync"
COMMENT = "sip-ha-sync"
_KEY_TYPES = ("ssh-", "ecdsa-", "sk-")


def receive_root(value: str) -> Path:
    """The folder rrsync confines the key to: absolute, one word, not "/"."""
    path = absolute_dir(value, "receive root")
    if '"' in str(path) or "\\" in str(path):
        raise ConfigError(f"receive root {value!r} contains a quote or a backslash")
    if path == Path("/"):
        raise ConfigError("a receive root of / confines nothing (the key could write "
                          "/root/.ssh); bind-mount the sync folders into a folder of their own")
    return path


def source_address(value: str) -> str:
    """An address or network, the only ``from=`` patterns sshd matches without DNS."""
    try:
        return str(ipaddress.ip_network(value, strict=False)) if "/" in value else \
            str(ipaddress.ip_address(value))
    except ValueError:
        raise PeerError(f"{value!r} is not an IP address or network") from None


def senders(data: dict[str, Any], receiver: str, source: str) -> list[str]:
    """The address of every node but the receiver: any of them may become
    the active one and push to it."""
    config = config_from_mapping(data, source=source, local=receiver)
    if receiver not in {table.get("name") for table in data.get("peers", [])}:
        raise PeerError(f"no peer named {receiver!r} in {source}")
    addresses = []
    for peer in config.peers:
        if peer.mount is not None:  # an export pushes nothing
            continue
        try:
            addresses.append(source_address(peer.host))
        except PeerError:
            raise PeerError(f"peer {peer.name}: host {peer.host} is a name and sshd matches "
                            "from= against addresses; give them with --from") from None
    if not addresses:
        raise PeerError(f"no other node than {receiver} in {source}; give the senders' "
                        "addresses with --from")
    return addresses


def authorized_key_line(public_key: str, root: Path, sources: Sequence[str],
                        rrsync: str = RRSYNC) -> str:
    fields = public_key.split()
    if len(fields) < 2 or not fields[0].startswith(_KEY_TYPES):
        raise ConfigError("the sync key's public half is not an ssh public key")
    return (f'restrict,from="{",".join(sources)}",command="{rrsync} {root}" '
            f"{fields[0]} {fields[1]} {COMMENT}")
