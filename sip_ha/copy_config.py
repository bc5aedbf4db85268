"""Put the SIP-HA parameter file and agent configuration on every node."""

from __future__ import annotations

import os
import socket

from sip_ha import tools

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocf_agents.ocf import Runner

CONFIG_DIR = "/etc/sip-ha"


def files(folder: str = CONFIG_DIR) -> list[str]:
    """Every regular file below FOLDER, sorted."""
    found = []
    for top, _, names in os.walk(folder):
        found += [os.path.join(top, name) for name in names
                  if os.path.isfile(os.path.join(top, name))]
    return sorted(found)


def copy_to(runner: Runner, nodes: tuple[str, ...], paths: list[str],
            local: str | None = None) -> tuple[list[str], list[str]]:
    """Copy PATHS to the same place on every other node: (done, failed) nodes."""
    local = local or socket.gethostname()
    done, failed = [], []
    for node in nodes:
        if node == local:
            continue
        folders = sorted({os.path.dirname(p) for p in paths})
        mkdir = runner.run([tools.SSH, *tools.SSH_OPTIONS, f"root@{node}", "mkdir", "-p",
                            *folders], timeout=30)
        result = mkdir if not mkdir.ok else None
        for path in paths:
            if result is not None:
                break
            copied = runner.run([tools.SCP, "-p", "-q", *tools.SSH_OPTIONS, path,
                                 f"root@{node}:{path}"], timeout=60)
            if not copied.ok:
                result = copied
        if result is None:
            done.append(node)
        else:
            failed.append(f"{node}: {result.summary()}")
    return done, failed
