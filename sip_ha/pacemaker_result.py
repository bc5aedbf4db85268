"""What Pacemaker's tools say when they fail: the ``<pacemaker-result>``
error document of ``--output-as xml`` (crm_mon) or a line on stderr
(cibadmin), turned into one sentence and, when the cluster does not run on
this node, the exit code that says so (``NotRunning``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sip_ha import tools
from sip_ha.errors import NotRunning, SipHaError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sipha_runtime.run import Completed, Runner

# Pacemaker's CRM_EX_DISCONNECT ("Not connected"): no daemon answered.
NOT_CONNECTED = 102
START = ("start it with 'pcs cluster start' (or 'systemctl start corosync pacemaker'), "
         "or run sip-ha on a node where it runs")


def run(runner: Runner, argv: list[str], what: str, fix: str, timeout: float = 30) -> str:
    """ARGV's standard output; its failure as one sentence (NotRunning when
    the cluster does not run here)."""
    result = tools.run(runner, argv, what, fix, timeout=timeout,
                       ok_codes=tuple(range(256)))
    if result.returncode == 0:
        return result.stdout
    raise failure(argv[0], result, what, fix)


def failure(tool: str, result: Completed, what: str, fix: str) -> SipHaError:
    code, message, errors = _document(result.stdout)
    code = result.returncode if code is None else code
    detail = errors[-1] if errors else (message or result.summary())
    if code == NOT_CONNECTED:
        return NotRunning(f"the cluster is not running on this node "
                          f"({tool.rsplit('/', 1)[-1]}: {detail}): {START}")
    return SipHaError(f"could not {what}: {detail}. {fix}")


def _document(text: str) -> tuple[int | None, str | None, list[str]]:
    """(status code, its message, the error lines) of a pacemaker-result
    document; (None, None, []) when TEXT is none."""
    try:
        root = ET.fromstring(text)  # noqa: S314 - our own Pacemaker tool's output
    except ET.ParseError:
        return None, None, []
    status = root.find("status") if root.tag == "pacemaker-result" else None
    if status is None:
        return None, None, []
    code = status.get("code", "")
    errors = [(e.text or "").strip() for e in status.iterfind("errors/error")]
    return (int(code) if code.isdigit() else None, status.get("message"),
            [e.removeprefix("crm_mon: ") for e in errors if e])
