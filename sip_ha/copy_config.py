"""Put the SIP-HA parameter file and agent configuration on every node.

rsync over ssh, compared by content: files that are the same are left
alone, a file that differs is replaced and the node's old copy kept beside
it (``NAME.sip-ha-YYYYmmddTHHMMSS-RANDOM~``), so nothing on a node is lost.
Files keep their mode, except those holding secrets: root's alone there.
"""

from __future__ import annotations

import os
import secrets
import shlex
import socket
import time
from dataclasses import dataclass

from sip_ha import tools

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sipha_runtime.run import Runner

CONFIG_DIR = "/etc/sip-ha"


@dataclass(frozen=True)
class Copied:
    node: str
    new: tuple[str, ...]          # paths that did not exist there
    replaced: tuple[str, ...]     # paths that differed (old copy kept)
    backup_suffix: str


def files(folder: str = CONFIG_DIR) -> list[str]:
    """Every regular file below FOLDER, sorted (earlier backups excluded)."""
    found = []
    for top, _, names in os.walk(folder):
        found += [os.path.join(top, name) for name in names
                  if os.path.isfile(os.path.join(top, name)) and not _is_backup(name)]
    return sorted(found)


def _is_backup(name: str) -> bool:
    return ".sip-ha-" in name and name.endswith("~")


def backup_suffix(now: float | None = None) -> str:
    """Unique per run: rsync overwrites a backup of the same name, and two
    runs can start within the same second."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
    return f".sip-ha-{stamp}-{secrets.token_hex(4)}~"


def rsync_argv(paths: list[str], suffix: str, destination: str,
               private: bool = False) -> list[str]:
    """rsync PATHS to DESTINATION ("root@NODE:/"), keeping their full paths;
    PRIVATE ones arrive readable by their owner (root) alone."""
    ssh = shlex.join([tools.SSH, *tools.SSH_OPTIONS])
    # F: files only; --relative also sends the folders above (/etc itself).
    chmod = ["--chmod=Fgo-rwx"] if private else []
    return [tools.RSYNC, "--relative", "--checksum", "--times", "--perms", *chmod,
            "--backup", f"--suffix={suffix}", "--itemize-changes", "-e", ssh,
            *paths, destination]


def _changes(itemized: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(new, replaced) absolute paths from rsync's --itemize-changes output."""
    new: list[str] = []
    replaced: list[str] = []
    for line in itemized.splitlines():
        flags, _, path = line.partition(" ")
        # "<f" a file sent to a remote node, ">f" one written locally.
        if flags[:2] not in ("<f", ">f"):
            continue
        (new if flags[2:].startswith("+++") else replaced).append("/" + path.lstrip("/"))
    return tuple(new), tuple(replaced)


def copy_to(runner: Runner, nodes: tuple[str, ...], paths: list[str],
            local: str | None = None, suffix: str | None = None,
            private: frozenset[str] = frozenset()) -> tuple[list[Copied], list[str]]:
    """Copy PATHS to the same place on every other node: (copied, failures).
    Those also in PRIVATE (holding secrets) become mode 0600 there."""
    local = local or socket.gethostname()
    suffix = suffix or backup_suffix()
    shared = [path for path in paths if path not in private]
    hidden = [path for path in paths if path in private]
    batches = [(batch, secret) for batch, secret in ((shared, False), (hidden, True)) if batch]
    copied, failed = [], []
    for node in nodes:
        if node == local:
            continue
        new: list[str] = []
        replaced: list[str] = []
        for batch, secret in batches:
            result = runner.run(rsync_argv(batch, suffix, f"root@{node}:/", secret),
                                timeout=120)
            if not result.ok:
                failed.append(f"{node}: {result.summary()}")
                break
            added, changed = _changes(result.stdout)
            new += added
            replaced += changed
        else:
            copied.append(Copied(node, tuple(new), tuple(replaced), suffix))
    return copied, failed
