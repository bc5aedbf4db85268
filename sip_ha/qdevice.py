"""The quorum device each node runs (Corosync's ``quorum.device``), against
the parameter file's ``[cluster] quorum_device`` and ``[timings]
qdevice_timeout``, ``qdevice_sync_timeout`` (``cib_templates.qdevice``).

Read with ``corosync-cmapctl quorum.device.``.  As for Corosync's timing
(``sip_ha.corosync``), ``status`` reads this node only, and also whether its
corosync-qdevice casts the device's vote (``corosync-quorumtool -s``);
``cib diff`` and ``cib apply`` read every online node, the others over root
ssh.  ``apply`` changes an existing device with pcs; adding one (or moving
it to another machine) needs pcsd on the qnetd host and its credentials,
which SIP-HA does not hold, so it prints the operator's steps instead.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, replace

from cib_templates import qdevice
from cib_templates.params import Timings
from sip_ha import corosync, tools
from sip_ha.errors import Interrupted
from sip_ha.interrupt import shielded
from sipha_runtime.run import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lxml import etree

    from cib_templates.params import ClusterParams
    from sip_ha.cluster import ClusterState
    from sipha_runtime.run import Runner

PREFIX = "quorum.device."
CMAP_ARGV = [corosync.CMAPCTL, PREFIX]
# What status reads of this node, in one corosync-cmapctl run: Corosync's
# timing (sip_ha.corosync) and the quorum device.
HERE_ARGV = [*corosync.CMAP_ARGV, PREFIX]
QUORUMTOOL = "/usr/sbin/corosync-quorumtool"
QUORUM_ARGV = [QUORUMTOOL, "-s"]
# corosync-qdevice's own defaults, for keys corosync.conf leaves out.
DEFAULTS = {"timeout": "10000", "sync_timeout": "30000", "net.algorithm": "ffsplit",
            "heuristics.mode": "off"}
# A member line of corosync-quorumtool -s: node id, votes, the qdevice's
# flags there (alive, casts its vote, master wins) or NR (none registered).
_FLAGS = re.compile(r"(N?A),(N?V),N?MW")


@dataclass(frozen=True)
class Wanted:
    """The quorum device the parameter file describes (host None: none)."""

    host: str | None
    timeout: int
    sync_timeout: int
    heuristic: str

    @classmethod
    def of(cls, params: ClusterParams) -> Wanted:
        addresses = [ip for service in params.services for ip in service.ip]
        return cls(params.quorum_device, params.timings.qdevice_timeout,
                   params.timings.qdevice_sync_timeout, qdevice.exec_line(addresses))

    def items(self) -> dict[str, str]:
        """quorum.device's keys (below PREFIX) as the file wants them."""
        return {"model": qdevice.MODEL, "net.host": self.host or "",
                "net.algorithm": qdevice.ALGORITHM, "timeout": str(self.timeout),
                "sync_timeout": str(self.sync_timeout),
                "heuristics.mode": qdevice.HEURISTICS_MODE,
                f"heuristics.{qdevice.HEURISTIC}": self.heuristic}


@dataclass(frozen=True)
class NodeDevice:
    """One node's quorum.device keys (below PREFIX) and how they differ."""

    node: str
    keys: dict[str, str]
    differences: tuple[str, ...] = ()   # ("timeout 10000 (the file: 1250)", ...)
    error: str | None = None            # could not read it

    @property
    def configured(self) -> bool:
        return "model" in self.keys

    @property
    def host(self) -> str | None:
        return self.keys.get("net.host")

    @property
    def differs(self) -> bool:
        return bool(self.differences)

    def describe(self, wanted: Wanted) -> str:
        if self.error is not None:
            return f"could not read the quorum device on {self.node}: {self.error}"
        if not self.configured:
            return (f"{self.node} has no quorum device; the parameter file names "
                    f"{wanted.host}")
        if wanted.host is None:
            return (f"{self.node} has a quorum device (host {self.host}) the parameter file "
                    "does not name ([cluster] quorum_device)")
        return f"{self.node} runs another quorum device: {', '.join(self.differences)}"


def parse(text: str, node: str, wanted: Wanted) -> NodeDevice:
    keys = {}
    for line in text.splitlines():
        match = corosync.LINE.fullmatch(line.strip())
        if match and match[1].startswith(PREFIX):
            keys[match[1].removeprefix(PREFIX)] = match[2]
    return NodeDevice(node, keys, _differences(keys, wanted))


def _differences(keys: dict[str, str], wanted: Wanted) -> tuple[str, ...]:
    if "model" not in keys:
        return ("none",) if wanted.host else ()
    if wanted.host is None:
        return ("not in the parameter file",)
    running = {**DEFAULTS, **keys}
    return tuple(f"{key} {running.get(key, 'unset')} (the file: {value})"
                 for key, value in wanted.items().items() if running.get(key) != value)


def reading(shown: corosync.Shown, node: str, wanted: Wanted) -> NodeDevice:
    """NODE's device from what corosync-cmapctl SHOWN there of PREFIX's keys."""
    text, error = shown
    return NodeDevice(node, {}, error=error) if error else parse(text, node, wanted)


def read(runner: Runner, node: str, wanted: Wanted, local: str) -> NodeDevice:
    return reading(corosync.cmapctl(runner, CMAP_ARGV, node, local), node, wanted)


# read()'s name for the node sip-ha runs on, where it needs no other.
HERE = "this node"


def until_in_place(runner: Runner, params: ClusterParams
                   ) -> tuple[ClusterParams, str | None, NodeDevice | None]:
    """PARAMS as they may be installed now, a line saying why when that is
    not as written, and this node's device when it was read (for pending()).
    A fencing delay the file left to the device's default stays the
    two-node one until this node's Corosync runs the device the file names.
    Before the operator's one-time steps (or after a move, which brings
    two_node back) the cluster has no third vote, and no delay would let a
    cut link fence both nodes."""
    if not params.fencing_delay_from_device:
        return params, None, None
    found = read(runner, HERE, Wanted.of(params), HERE)
    if found.error is None and found.configured and found.host == params.quorum_device:
        return params, None, found
    delay = Timings().fencing_delay
    return (replace(params, timings=replace(params.timings, fencing_delay=delay)),
            f"fencing_delay stays {delay} until the quorum device on {params.quorum_device} "
            "is in place (then 'sip-ha cib apply' again sets it to "
            f"{qdevice.FENCING_DELAY})", found)


def update_argv(wanted: Wanted) -> list[str]:
    return qdevice.update_argv(wanted.host or "", wanted.timeout, wanted.sync_timeout,
                               wanted.heuristic)


def setup_steps(params: ClusterParams, replacing: str | None = None) -> list[str]:
    """What the operator runs once, in order: the lines apply prints when
    the cluster has no quorum device (or one on another machine, REPLACING)."""
    wanted = Wanted.of(params)
    host = wanted.host or ""
    add = qdevice.add_argv(host, wanted.timeout, wanted.sync_timeout, wanted.heuristic,
                           pcs="pcs")
    steps = [f"on {host} (packages pcs, corosync-qnetd): "
             f"{shlex.join(qdevice.setup_argv(pcs='pcs'))}",
             "on every node: apt install corosync-qdevice"]
    if replacing:
        steps.append(f"on one node: pcs quorum device remove (the device on {replacing}; "
                     f"if that is {host} by another name, write quorum_device = "
                     f"\"{replacing}\" instead)")
    steps += [f"on one node: pcs host auth {host}", f"on one node: {shlex.join(add)}"]
    return steps


@dataclass(frozen=True)
class Pending:
    """What 'cib apply' does about the quorum device."""

    wanted: Wanted
    command: list[str] | None            # the update apply runs; None: none
    steps: list[str]                     # what only the operator can do, in order
    found: tuple[NodeDevice, ...]

    @property
    def changed(self) -> bool:
        return bool(self.command or self.steps or self.foreign)

    @property
    def foreign(self) -> str | None:
        """The host of a device the parameter file does not name."""
        if self.wanted.host is not None:
            return None
        return next((item.host or "?" for item in self.found if item.configured), None)

    def describe(self) -> list[str]:
        """One line per node that differs, then the command or the steps."""
        lines = [item.describe(self.wanted) for item in self.found if item.differs]
        if self.command:
            lines.append(f"quorum device: {shlex.join(self.command)}")
        if self.steps:
            lines.append("quorum device: 'sip-ha cib apply' cannot add it (pcs needs pcsd "
                         "on the qnetd host); once:")
            lines += [f"  {step}" for step in self.steps]
        if self.foreign:
            lines.append(f"quorum device: name it in [cluster] quorum_device = "
                         f"\"{self.foreign}\" (SIP-HA then sets its timeouts and "
                         "heuristic), or remove it: pcs quorum device remove")
        return lines

    def unread(self) -> list[str]:
        return [item.describe(self.wanted) for item in self.found if item.error is not None]


def pending(runner: Runner, params: ClusterParams, live: etree._Element,
            local: str | None = None, here: NodeDevice | None = None) -> Pending:
    """What the online nodes of the LIVE CIB run against PARAMS; HERE: this
    node's device as until_in_place() read it, not read again (the fencing
    delay it may change is not part of Wanted)."""
    wanted = Wanted.of(params)
    nodes = corosync.online(live)
    if nodes and local is None:
        local = corosync.local_name(runner)
    found = tuple(replace(here, node=node) if here is not None and node == local
                  else read(runner, node, wanted, local or "") for node in nodes)
    devices = [item for item in found if item.configured]
    command, steps = None, []
    if wanted.host is not None and any(item.differs for item in found):
        moved = next((item.host for item in devices
                      if item.keys.get("model") != qdevice.MODEL or item.host != wanted.host),
                     None)
        if not devices or moved:
            steps = setup_steps(params, replacing=moved)
        else:
            command = update_argv(wanted)
    return Pending(wanted, command, steps, found)


def apply(runner: Runner, command: list[str]) -> None:
    """Run COMMAND (Pending.command).  Ctrl-C does not cut pcs short while it
    pushes corosync.conf node by node and restarts corosync-qdevice."""
    try:
        with shielded():
            tools.run(runner, command, "change the quorum device on every node",
                      "The Pacemaker configuration is in place; the quorum device keeps "
                      "its old settings. Is pcsd running and authenticated on every node "
                      "(pcs host auth)?", timeout=180)
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted: the Pacemaker configuration is installed; the quorum device may "
            "be changed on some nodes only: 'sip-ha cib diff' shows what differs, "
            "'sip-ha cib apply' changes it") from None


# -- sip-ha status: this node only ---------------------------------------------


def voting(text: str) -> str | None:
    """From corosync-quorumtool -s: None when this node's corosync-qdevice
    casts the device's vote, else why not."""
    local = next((line.split() for line in text.splitlines()
                  if line.rstrip().endswith("(local)")), None)
    if local is None:
        return "corosync-quorumtool shows no local node"
    match = _FLAGS.fullmatch(local[2]) if len(local) > 2 else None
    if match is None:
        return "corosync-qdevice does not run there (systemctl start corosync-qdevice)"
    if match[1] != "A" or match[2] != "V":
        return "its corosync-qdevice casts no vote (not connected to the qnetd?)"
    return None


def missing_heuristic(found: NodeDevice) -> str | None:
    """The heuristic's program when this node's device runs one that is not
    here: corosync-qdevice counts a heuristic it cannot run as failed, so in
    a split where both halves reach the qnetd the SIP-ACTIVE half would
    lose its advantage, silently."""
    line = found.keys.get(f"heuristics.{qdevice.HEURISTIC}", "")
    program = line.split()[0] if line.split() else ""
    return program if program and not os.access(program, os.X_OK) else None


def notes(found: NodeDevice, wanted: Wanted, vote: str | None = None) -> list[str]:
    """What needs attention about this node's quorum device (VOTE: why it
    does not vote, from voting())."""
    lines = []
    program = missing_heuristic(found)
    if program:
        lines.append(f"the quorum device's heuristic {program} is not installed on "
                     f"{found.node}: in a split where both nodes reach the qnetd this one "
                     "cannot win it ('sip-ha install-agents' or the Debian package puts "
                     "it there)")
    if found.differs or found.error is not None:
        hint = ": run 'sip-ha cib apply' (it says what it runs or what to do)"
        lines.append(found.describe(wanted) + ("" if found.error else hint))
    if vote is not None:
        lines.append(f"the quorum device (host {found.host}) does not vote on {found.node}: "
                     f"{vote}; losing a node now can leave this one without quorum, "
                     "stopping its services")
    return lines


def attend(runner: Runner, params: ClusterParams, state: ClusterState, local: str,
           shown: corosync.Shown) -> ClusterState:
    """STATE with notes of attention when this node's (LOCAL's) quorum device
    differs from PARAMS or does not vote; SHOWN: what corosync-cmapctl showed
    here (HERE_ARGV).  This node only (see corosync.attend)."""
    wanted = Wanted.of(params)
    found = reading(shown, local, wanted)
    if corosync.denied(found.error):
        return state
    vote = None
    if found.configured:
        try:
            members = runner.run(QUORUM_ARGV, timeout=15)
        except CommandError as err:
            vote = f"could not run corosync-quorumtool: {err.reason}"
        else:
            # 2: this node has no quorum; the membership is shown all the same.
            vote = (voting(members.stdout) if members.returncode in (0, 2)
                    else f"corosync-quorumtool: {members.summary()}")
    return replace(state, attention=(*state.attention, *notes(found, wanted, vote)))
