"""The Corosync timing each node runs, against the parameter file's
``[timings]`` (``corosync_token``, ``corosync_consensus``).

Read with ``corosync-cmapctl``: the token and consensus Corosync runs
(``runtime.config.totem.*``), and the nodelist and ``token_coefficient`` that
turn the configured token into the running one.  ``status`` reads this node
only (it runs on every node, also as a monitoring check without root's ssh
key); ``cib diff`` and ``cib apply`` read every online node, the others over
root ssh (as ``sip-ha logs`` reads the journals).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, replace

from cib_templates import totem
from sip_ha import tools
from sip_ha.errors import Interrupted
from sip_ha.interrupt import shielded
from sipha_runtime.run import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from lxml import etree

    from cib_templates.params import ClusterParams, Timings
    from sip_ha.cluster import ClusterState
    from sipha_runtime.run import Runner

CMAPCTL = "/usr/sbin/corosync-cmapctl"
RUNTIME = "runtime.config.totem."
COEFFICIENT = "totem.token_coefficient"
NODELIST = "nodelist.node."
# corosync-cmapctl PREFIX... lists every key under each prefix.
CMAP_ARGV = [CMAPCTL, f"{RUNTIME}token", f"{RUNTIME}consensus", COEFFICIENT, NODELIST]
LINE = re.compile(r"(\S+) \(\w+\) = (.*)")
# What corosync-cmapctl showed on a node (cmapctl()): its output, and why it
# could not be read (None: it was).
Shown = tuple[str, str | None]
_MEMBER = re.compile(r"nodelist\.node\.(\d+)\.")


@dataclass(frozen=True)
class NodeTiming:
    """What one node's Corosync runs and what the parameter file means there."""

    node: str
    token: int | None = None            # runtime.config.totem.token
    consensus: int | None = None        # runtime.config.totem.consensus
    wanted_token: int | None = None     # corosync_token with this node's nodelist
    wanted_consensus: int | None = None
    error: str | None = None            # could not read it

    @property
    def differs(self) -> bool:
        return self.error is None and (self.token, self.consensus) != (
            self.wanted_token, self.wanted_consensus)

    def describe(self) -> str:
        if self.error is not None:
            return f"could not read Corosync's timing on {self.node}: {self.error}"
        return (f"{self.node} runs Corosync token {self.token} ms, consensus "
                f"{self.consensus} ms; the parameter file says {self.wanted_token} ms and "
                f"{self.wanted_consensus} ms")


def parse(text: str, node: str, timings: Timings) -> NodeTiming:
    values = {}
    for line in text.splitlines():
        match = LINE.fullmatch(line.strip())
        if match:
            values[match[1]] = match[2]
    members = len({m[1] for key in values if (m := _MEMBER.match(key))})
    try:
        coefficient = int(values.get(COEFFICIENT, totem.TOKEN_COEFFICIENT))
        token, consensus = (int(values[RUNTIME + key]) if RUNTIME + key in values else None
                            for key in ("token", "consensus"))
    except ValueError:
        return NodeTiming(node, error="corosync-cmapctl printed a value that is not a number")
    if token is None or consensus is None:
        return NodeTiming(node, error="corosync-cmapctl shows no running totem token or "
                                      "consensus (is Corosync running?)")
    return NodeTiming(node, token, consensus,
                      totem.running_token(timings.corosync_token, members, coefficient),
                      timings.corosync_consensus)


def cmapctl(runner: Runner, argv: list[str], node: str, local: str) -> Shown:
    """corosync-cmapctl ARGV on NODE (over root ssh unless it is LOCAL): its
    output, and why it could not be read (None: it was).  It exits 1 with
    nothing on stderr when no key has any of the prefixes asked for: none is
    set (with keys under some of them it lists those and exits 0)."""
    try:
        result = runner.run(argv if node == local else tools.on_node(node, argv), timeout=15)
    except CommandError as err:
        return "", err.reason
    if result.returncode != 0 and (result.returncode != 1 or result.stderr.strip()):
        return "", result.summary()
    return result.stdout, None


def reading(shown: Shown, node: str, timings: Timings) -> NodeTiming:
    """NODE's timing from what corosync-cmapctl SHOWN there of CMAP_ARGV's keys."""
    text, error = shown
    return NodeTiming(node, error=error) if error else parse(text, node, timings)


def read(runner: Runner, node: str, timings: Timings, local: str) -> NodeTiming:
    return reading(cmapctl(runner, CMAP_ARGV, node, local), node, timings)


def local_name(runner: Runner) -> str:
    """This node's Pacemaker name, as the CIB and crm_mon name it (the host
    name may be the FQDN where the node is the short name, or another)."""
    return tools.run(runner, [tools.CRM_NODE, "-n"], "name this node",
                     "Is Pacemaker running on this node?", timeout=10).stdout.strip()


def survey(runner: Runner, timings: Timings, nodes: Iterable[str],
           local: str | None = None) -> tuple[NodeTiming, ...]:
    """NODES' timing (the online ones: ssh to a lost node would only wait)."""
    nodes = list(nodes)
    if nodes and local is None:
        local = local_name(runner)
    return tuple(read(runner, node, timings, local or "") for node in nodes)


def update_argv(timings: Timings) -> list[str]:
    return totem.update_argv(timings.corosync_token, timings.corosync_consensus)


def notes(found: Iterable[NodeTiming], timings: Timings) -> list[str]:
    """What needs attention: each node that runs other values, each node
    that could not be read."""
    command = shlex.join(update_argv(timings))
    return [f"{item.describe()}: run 'sip-ha cib apply' (it runs '{command}')"
            if item.error is None else item.describe()
            for item in found if item.differs or item.error is not None]


# What corosync-cmapctl (and corosync-quorumtool) say to a user Corosync's
# IPC does not let in: only root and the uids and gids of its uidgid
# entries, and the haclient group is not among them by default.
ACCESS_DENIED = "CS_ERR_ACCESS"


def denied(error: str | None) -> bool:
    """Whether ERROR is Corosync refusing this user, not a fault of the node."""
    return error is not None and ACCESS_DENIED in error


def attend(params: ClusterParams, state: ClusterState, local: str,
           shown: Shown) -> ClusterState:
    """STATE with a note of attention when this node's (LOCAL's) Corosync runs
    other timing than PARAMS, or could not be read; SHOWN: what
    corosync-cmapctl showed here (status reads it once with the quorum
    device: sip_ha.qdevice.HERE_ARGV).  This node only: no ssh, so a
    monitoring check (run on every node, as a haclient user) answers in time.
    Such a user may not read Corosync at all: then there is nothing to say
    (root's status and cib diff check it)."""
    found = reading(shown, local, params.timings)
    if denied(found.error):
        return state
    return replace(state, attention=(*state.attention, *notes([found], params.timings)))


def online(cib: etree._Element) -> list[str]:
    """The nodes a CIB's status section shows as cluster members with a
    running controller.  Pacemaker 3.0 writes the times they joined
    (0: not), 2.1 true/false and online/offline."""
    return [state.get("uname", "") for state in cib.iterfind("status/node_state")
            if state.get("in_ccm", "").lower() not in _NOT
            and state.get("crmd", "").lower() not in _NOT]


_NOT = ("", "0", "false", "no", "off", "offline")


@dataclass(frozen=True)
class Pending:
    """What 'cib apply' does about Corosync's timing."""

    command: list[str] | None            # None: every node read runs the file's values
    found: tuple[NodeTiming, ...]

    def describe(self) -> list[str]:
        """One line per node that differs, then the command."""
        lines = [item.describe() for item in self.found if item.differs]
        if self.command:
            lines.append(f"Corosync: {shlex.join(self.command)}")
        return lines

    def unread(self) -> list[str]:
        return [item.describe() for item in self.found if item.error is not None]


def pending(runner: Runner, timings: Timings, live: etree._Element,
            local: str | None = None) -> Pending:
    """Whether any online node of the LIVE CIB runs other timing than TIMINGS."""
    found = survey(runner, timings, online(live), local)
    return Pending(update_argv(timings) if any(item.differs for item in found) else None,
                   found)


def apply(runner: Runner, timings: Timings) -> None:
    """Set TIMINGS on every node with pcs.  Ctrl-C does not cut pcs short
    while it pushes corosync.conf node by node; should one still arrive,
    the message says what is installed."""
    try:
        with shielded():
            tools.run(runner, update_argv(timings),
                      "set Corosync's token and consensus on every node",
                      "The Pacemaker configuration is in place; Corosync keeps its old "
                      "values. Is pcsd running and authenticated on every node (pcs host "
                      "auth)?", timeout=120)
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted: the Pacemaker configuration is installed; Corosync's token and "
            "consensus may be set on some nodes only: 'sip-ha cib diff' shows what "
            "differs, 'sip-ha cib apply' sets them") from None
