"""Install the OCF agents where Pacemaker looks for them, and the alert agent.

Each agent becomes a small executable in ``<ocf_root>/resource.d/sipha/``
that runs the agent with the interpreter this package is installed into, so
``pcs resource describe ocf:sipha:NAME`` and ``crm_resource`` find it.  The
alert agent goes beside Pacemaker's sample alerts, where the rendered CIB's
``sipha-alert`` points (``[alerts] path`` in the parameter file).

The Debian package writes the same shims at build time (``package_files``),
for ``/usr/bin/python3`` with its private module folder put on ``sys.path``
(``-I`` leaves it out), and marked as the package's, so this command neither
overwrites nor removes them.

Every agent's shim answers ``meta-data`` from the stored copy in
``ocf_agents/metadata`` without importing anything: Pacemaker's controller
asks for it before every start, so it lies on each failover's path (0.1-0.3 s
of Python and lxml before the service address could start).

The agents in ``LEAN_MONITOR`` need nothing outside the standard library
and this package for a monitor, the call Pacemaker makes every few seconds:
their shims start Python without the site module (``-IS``: no site-packages,
no .pth files, no sitecustomize; about 3 ms of each call) and load it for
every other action (lxml for meta-data, click for options), where a
monitor finds the code in the folder it was installed from.
``tests/unit/test_monitor_imports.py`` runs those monitors without
site-packages.

The alert agent counts repeated alerts in a folder under /run that only
hacluster writes (``sip_ha.alert.repeats``); a tmpfiles.d entry makes it at
every boot, and ``systemd-tmpfiles --create`` now.  The Debian package ships
the same line (debian/sip-ha.tmpfiles) in /usr/lib/tmpfiles.d.  Without the
folder every alert is sent, so failing to make it is a warning.
"""

from __future__ import annotations

import os
import sys

from cib_templates.qdevice import HOLDS_ADDRESS
from sip_ha.alert import repeats
from sipha_runtime.run import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sipha_runtime.run import Runner

PROVIDER = "sipha"
AGENTS = {
    "asterisk": "ocf_agents.asterisk",
    "sipserver": "ocf_agents.sipserver",
    "service-ip": "ocf_agents.service_ip",
    "filesync": "ocf_agents.filesync",
    "mysql-mm": "ocf_agents.mysql_mm",
}
LEAN_MONITOR = ("asterisk", "sipserver")
ALERT_DIR = "/usr/share/pacemaker/alerts"
ALERT_NAME = "sip-ha-alert"
ALERT_MAIN = "from sip_ha.alert.agent import main\n\nmain()\n"
TMPFILES_DIR = "/etc/tmpfiles.d"
HELPER_DIR, HELPER_NAME = os.path.split(HOLDS_ADDRESS)
HELPER_MAIN = "from sip_ha.holds_address import main\n\nsys.exit(main(sys.argv[1:]))\n"
TMPFILES_NAME = "sip-ha.conf"
TMPFILES_LINE = f"d {repeats.STATE_DIR} 0750 hacluster haclient -"
SYSTEMD_TMPFILES = "/usr/bin/systemd-tmpfiles"
MARKER = "# Installed by 'sip-ha install-agents'"
PACKAGE_MARKER = "# Installed by the sip-ha Debian package"


class InstallError(Exception):
    """Installing or removing an agent shim failed; the message says why."""


def shim_text(name: str, module: str, python: str, libdir: str | None = None,
              marker: str = MARKER, lean: bool = False) -> str:
    body = f"from {module} import AGENT\n\nAGENT.main()\n"
    stored = metadata_file(name, libdir or code_root())
    if not lean:
        return _shim(python, body, libdir, marker, stored)
    # Without libdir the code is where site finds it: for a monitor, its folder.
    path = (f"sys.path.insert(0, {libdir!r})\n" if libdir else
            f"else:\n    sys.path.append({code_root()!r})\n")
    return (f"#!{python} -IS\n{marker}; {_remove(marker)}.\nimport sys\n\n"
            f"{_metadata_text(stored)}"
            'if sys.argv[1:] != ["monitor"]:  # -S: site-packages only where needed\n'
            f"    import site\n\n    site.main()\n{path}{body}")


def metadata_file(name: str, root: str) -> str:
    """Where agent NAME's meta-data is stored under ROOT, the folder holding
    ocf_agents (tests/unit/test_metadata.py keeps it equal to the agent's)."""
    return os.path.join(root, "ocf_agents", "metadata", f"{name}.xml")


def _metadata_text(stored: str) -> str:
    # Pacemaker's controller asks for the meta-data before every start (the
    # agent may have been updated): on a failover's path, so no imports.
    # Without the stored copy (a venv rebuilt for another Python moves it)
    # the agent's own answer below, slower but never a traceback.
    return ('if sys.argv[1:] == ["meta-data"]:  # stored: asked before every start\n'
            "    try:\n"
            f"        with open({stored!r}, 'rb') as stored:\n"
            "            text = stored.read()\n"
            "    except OSError:\n"
            "        pass\n"
            "    else:\n"
            "        sys.stdout.buffer.write(text)\n"
            "        sys.exit(0)\n")


def helper_text(python: str, libdir: str | None = None, marker: str = MARKER) -> str:
    """holds-address: Python without site (-IS), the package's folder on sys.path."""
    path = libdir or code_root()
    return (f"#!{python} -IS\n{marker}; {_remove(marker)}.\nimport sys\n\n"
            f"sys.path.insert(0, {path!r})\n{HELPER_MAIN}")


def code_root() -> str:
    """The folder that holds this installation's ocf_agents and sipha_runtime."""
    import ocf_agents

    return os.path.dirname(os.path.dirname(os.path.abspath(ocf_agents.__file__)))


def script_text(entry_point: str, python: str, libdir: str | None = None,
                marker: str = MARKER) -> str:
    """A console script for ENTRY_POINT ("module:function"), as pip writes one."""
    module, function = entry_point.split(":")
    body = f"from {module} import {function}\n\nsys.exit({function}())\n"
    if not libdir:  # else _shim imports sys
        body = f"import sys\n\n{body}"
    return _shim(python, body, libdir, marker)


def _shim(python: str, body: str, libdir: str | None = None, marker: str = MARKER,
          stored: str | None = None) -> str:
    # -I: neither PYTHONPATH nor the current folder may change what Pacemaker runs.
    head = "import sys\n\n" if libdir or stored else ""
    fast = _metadata_text(stored) if stored else ""
    path = f"sys.path.insert(0, {libdir!r})\n" if libdir else ""
    return f"#!{python} -I\n{marker}; {_remove(marker)}.\n{head}{fast}{path}{body}"


def _remove(marker: str) -> str:
    return ("remove with 'sip-ha install-agents --uninstall'" if marker == MARKER
            else "dpkg -S shows which")


def provider_dir(ocf_root: str) -> str:
    return os.path.join(ocf_root, "resource.d", PROVIDER)


def shims(ocf_root: str, python: str, alert_dir: str = ALERT_DIR, libdir: str | None = None,
          marker: str = MARKER) -> dict[str, str]:
    """Every agent's shim and the alert agent's, by path."""
    folder = provider_dir(ocf_root)
    files = {os.path.join(folder, name): shim_text(name, module, python, libdir, marker,
                                                   lean=name in LEAN_MONITOR)
             for name, module in AGENTS.items()}
    files[os.path.join(alert_dir, ALERT_NAME)] = _shim(python, ALERT_MAIN, libdir, marker)
    return files


def package_files(python: str, libdir: str) -> dict[str, str]:
    """The shims the Debian package ships, by absolute path."""
    return {**shims("/usr/lib/ocf", python, ALERT_DIR, libdir, PACKAGE_MARKER),
            HOLDS_ADDRESS: helper_text(python, libdir, PACKAGE_MARKER)}


def tmpfiles_text() -> str:
    return (f"{MARKER}; {_remove(MARKER)}.\n# sip-ha-alert's counts of repeated alerts "
            f"held back; Pacemaker runs it as hacluster.\n{TMPFILES_LINE}\n")


def install(ocf_root: str, python: str = sys.executable, alert_dir: str = ALERT_DIR,
            tmpfiles_dir: str = "", helper_dir: str = "") -> list[str]:
    """Write the shims, with TMPFILES_DIR the tmpfiles.d entry of the alert
    agent's folder, with HELPER_DIR the quorum device's heuristic; the paths
    written."""
    files = shims(ocf_root, python, alert_dir)
    if helper_dir:
        files[os.path.join(helper_dir, HELPER_NAME)] = helper_text(python)
    tmpfiles = os.path.join(tmpfiles_dir, TMPFILES_NAME) if tmpfiles_dir else ""
    if tmpfiles:
        files[tmpfiles] = tmpfiles_text()
    for path in files:  # all checked before anything is written
        if os.path.exists(path) and _marked(path, PACKAGE_MARKER):
            raise InstallError(f"{path} belongs to the sip-ha Debian package, "
                               "which installs every agent; nothing to do")
        if os.path.exists(path) and not _ours(path):
            raise InstallError(f"{path} exists and was not installed by sip-ha; "
                               "move it away first")
    for path, text in files.items():
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        tmp = f"{path}.sip-ha-new"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        # Pacemaker must execute the shims; systemd-tmpfiles only reads its entry.
        os.chmod(tmp, 0o644 if path == tmpfiles else 0o755)
        os.replace(tmp, path)
    return list(files)


def make_state_folder(runner: Runner, tmpfiles_dir: str) -> str | None:
    """Make the alert agent's folder from the entry in TMPFILES_DIR now (at
    boot systemd does); None, or a warning that says why not."""
    tmpfiles = os.path.join(tmpfiles_dir, TMPFILES_NAME)
    try:
        made = runner.run([SYSTEMD_TMPFILES, "--create", tmpfiles], timeout=30)
        why = None if made.ok else made.summary()
    except CommandError as err:
        why = err.reason
    if why is None:
        return None
    return (f"{SYSTEMD_TMPFILES} --create {tmpfiles}: {why}; until {repeats.STATE_DIR} "
            "is made, repeated alerts are not held back")


def uninstall(ocf_root: str, alert_dir: str = ALERT_DIR, tmpfiles_dir: str = "",
              helper_dir: str = "") -> list[str]:
    folder = provider_dir(ocf_root)
    removed = []
    for path in [*(os.path.join(folder, name) for name in AGENTS),
                 os.path.join(alert_dir, ALERT_NAME),
                 *([os.path.join(tmpfiles_dir, TMPFILES_NAME)] if tmpfiles_dir else []),
                 *([os.path.join(helper_dir, HELPER_NAME)] if helper_dir else [])]:
        if os.path.exists(path) and _ours(path):
            os.unlink(path)
            removed.append(path)
    for empty in (folder, helper_dir):
        if empty and os.path.isdir(empty) and not os.listdir(empty):
            os.rmdir(empty)
    return removed


def _ours(path: str) -> bool:
    return _marked(path, MARKER)


def _marked(path: str, marker: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return marker in handle.read(4096)
    except OSError:
        return False
