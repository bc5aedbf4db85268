"""Install the OCF agents where Pacemaker looks for them.

Each agent becomes a small executable in ``<ocf_root>/resource.d/sipha/``
that runs the agent with the interpreter this package is installed into, so
``pcs resource describe ocf:sipha:NAME`` and ``crm_resource`` find it.
"""

from __future__ import annotations

import os
import sys

PROVIDER = "sipha"
AGENTS = {
    "asterisk": "ocf_agents.asterisk",
    "sipserver": "ocf_agents.sipserver",
    "service-ip": "ocf_agents.service_ip",
    "filesync": "ocf_agents.filesync",
}
MARKER = "# Installed by 'sip-ha install-agents'"


class InstallError(Exception):
    """Installing or removing an agent shim failed; the message says why."""


def shim_text(module: str, python: str) -> str:
    # -I: neither PYTHONPATH nor the current folder may change what Pacemaker runs.
    return (f"#!{python} -I\n{MARKER}; remove with 'sip-ha install-agents --uninstall'.\n"
            f"from {module} import AGENT\n\nAGENT.main()\n")


def provider_dir(ocf_root: str) -> str:
    return os.path.join(ocf_root, "resource.d", PROVIDER)


def install(ocf_root: str, python: str = sys.executable) -> list[str]:
    folder = provider_dir(ocf_root)
    os.makedirs(folder, mode=0o755, exist_ok=True)
    written = []
    for name, module in AGENTS.items():
        path = os.path.join(folder, name)
        if os.path.exists(path) and not _ours(path):
            raise InstallError(f"{path} exists and was not installed by sip-ha; "
                               "move it away first")
        tmp = f"{path}.sip-ha-new"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(shim_text(module, python))
        os.chmod(tmp, 0o755)  # noqa: S103 - Pacemaker must execute it
        os.replace(tmp, path)
        written.append(path)
    return written


def uninstall(ocf_root: str) -> list[str]:
    folder = provider_dir(ocf_root)
    removed = []
    for name in AGENTS:
        path = os.path.join(folder, name)
        if os.path.exists(path) and _ours(path):
            os.unlink(path)
            removed.append(path)
    if os.path.isdir(folder) and not os.listdir(folder):
        os.rmdir(folder)
    return removed


def _ours(path: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return MARKER in handle.read(4096)
    except OSError:
        return False
