"""The cluster tools the operator library runs, and one way to run them.

Every call goes through a runner (``sipha_runtime.run.Runner``: argument lists,
``LC_ALL=C``, deadlines); tests pass a fake runner that checks the exact
commands.
"""

from __future__ import annotations

import shlex
import time

from sip_ha.errors import SipHaError
from sipha_runtime.run import CommandError, Completed, Runner
from sync_helper.config import SshSettings
from sync_helper.rsync_argv import ssh_options

ATTRD_UPDATER = "/usr/sbin/attrd_updater"
CRM_MON = "/usr/sbin/crm_mon"
CRM_NODE = "/usr/sbin/crm_node"
CRM_RESOURCE = "/usr/sbin/crm_resource"
CRM_VERIFY = "/usr/sbin/crm_verify"
CIBADMIN = "/usr/sbin/cibadmin"
PCS = "/usr/sbin/pcs"
SSH = "/usr/bin/ssh"
RSYNC = "/usr/bin/rsync"
JOURNALCTL = "/usr/bin/journalctl"
# the file sync's own host-key checks, from the one place that says what they are
SSH_OPTIONS = tuple(ssh_options(SshSettings(ssh=SSH, connect_timeout=5)))


def on_node(node: str, argv: list[str]) -> list[str]:
    """ARGV run as root on NODE over ssh (quoted: ssh hands the remote shell
    one command line)."""
    return [SSH, *SSH_OPTIONS, f"root@{node}", shlex.join(argv)]


def runner(seconds: float) -> Runner:
    """A runner whose commands must all finish within SECONDS from now."""
    return Runner(time.monotonic() + seconds)


def run(runner_: Runner, argv: list[str], what: str, fix: str, timeout: float = 60,
        ok_codes: tuple[int, ...] = (0,)) -> Completed:
    """Run ARGV; on failure raise a sentence naming WHAT failed and the FIX."""
    try:
        result = runner_.run(argv, timeout=timeout)
    except CommandError as err:
        raise SipHaError(f"could not {what}: {err.reason}. {fix}") from None
    if result.returncode not in ok_codes:
        raise SipHaError(f"could not {what}: {result.summary()}. {fix}")
    return result
