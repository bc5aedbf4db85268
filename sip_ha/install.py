"""Install the OCF agents where Pacemaker looks for them, and the alert agent.

Each agent becomes a small executable in ``<ocf_root>/resource.d/sipha/``
that runs the agent with the interpreter this package is installed into, so
``pcs resource describe ocf:sipha:NAME`` and ``crm_resource`` find it.  The
alert agent goes beside Pacemaker's sample alerts, where the rendered CIB's
``sipha-alert`` points (``[alerts] path`` in the parameter file).
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
    "mysql-mm": "ocf_agents.mysql_mm",
}
ALERT_DIR = "/usr/share/pacemaker/alerts"
ALERT_NAME = "sip-ha-alert"
ALERT_MAIN = "from sip_ha.alert.agent import main\n\nmain()\n"
MARKER = "# Installed by 'sip-ha install-agents'"


class InstallError(Exception):
    """Installing or removing an agent shim failed; the message says why."""


def shim_text(module: str, python: str) -> str:
    return _shim(python, f"from {module} import AGENT\n\nAGENT.main()\n")


def _shim(python: str, body: str) -> str:
    # -I: neither PYTHONPATH nor the current folder may change what Pacemaker runs.
    return f"#!{python} -I\n{MARKER}; remove with 'sip-ha install-agents --uninstall'.\n{body}"


def provider_dir(ocf_root: str) -> str:
    return os.path.join(ocf_root, "resource.d", PROVIDER)


def install(ocf_root: str, python: str = sys.executable,
            alert_dir: str = ALERT_DIR) -> list[str]:
    folder = provider_dir(ocf_root)
    files = {os.path.join(folder, name): shim_text(module, python)
             for name, module in AGENTS.items()}
    files[os.path.join(alert_dir, ALERT_NAME)] = _shim(python, ALERT_MAIN)
    for path in files:  # all checked before anything is written
        if os.path.exists(path) and not _ours(path):
            raise InstallError(f"{path} exists and was not installed by sip-ha; "
                               "move it away first")
    for path, text in files.items():
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        tmp = f"{path}.sip-ha-new"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o755)  # noqa: S103 - Pacemaker must execute it
        os.replace(tmp, path)
    return list(files)


def uninstall(ocf_root: str, alert_dir: str = ALERT_DIR) -> list[str]:
    folder = provider_dir(ocf_root)
    removed = []
    for path in [*(os.path.join(folder, name) for name in AGENTS),
                 os.path.join(alert_dir, ALERT_NAME)]:
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
