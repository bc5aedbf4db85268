"""A Corosync quorum device (``corosync-qnetd`` on a third machine,
``corosync-qdevice`` on the nodes) as the parameter file owns it: what each
node's ``quorum.device`` must hold, and the pcs commands that set it.

Model ``net`` with algorithm ``ffsplit``: in a split of an even cluster the
qnetd gives its one vote to one half; a heuristic that passes where a
service address is configured makes that the SIP-ACTIVE half when both
still reach the qnetd (ffsplit otherwise picks the lowest node id).

The timeouts are corosync-qdevice's (corosync-qdevice(8)): its heartbeat to
the qnetd is 0.8 x ``timeout`` (raised to 1000 ms when below), and the qnetd
drops a silent client 1.5 heartbeats after its last message.  After a power
cut the survivor's vote waits for that drop, so Corosync's default 10000 ms
would add 4-12 s to every node loss; 1250 is the smallest timeout whose
heartbeat is not raised.  The qnetd refuses a sync heartbeat (0.8 x
``sync_timeout``) below 1000 ms too.
"""

from __future__ import annotations

from cib_templates.totem import PCS

# The [timings] defaults (README, Timings): change them here.
DEFAULT_TIMEOUT = 1250
DEFAULT_SYNC_TIMEOUT = 3000
# With a quorum device only the half that keeps quorum fences, so fencing
# the SIP-ACTIVE node need not wait ([timings] fencing_delay's default then).
FENCING_DELAY = "0"
# Both timeouts, in ms: the qnetd takes heartbeats of 1000 to 120000 ms.
TIMEOUT_RANGE = (1250, 150_000)
MODEL = "net"
ALGORITHM = "ffsplit"
HEURISTICS_MODE = "sync"
HEURISTIC = "exec_sipactive"
# The heuristic: exits 0 where one of its arguments is configured
# (sip_ha/holds_address.py; the Debian package and install-agents put it here).
HOLDS_ADDRESS = "/usr/lib/sip-ha/holds-address"


def exec_line(addresses: list[str]) -> str:
    """The heuristic's command: HOLDS_ADDRESS and the service ADDRESSES
    (written as in the parameter file; a /prefix is dropped)."""
    plain = dict.fromkeys(address.partition("/")[0] for address in addresses)
    return " ".join([HOLDS_ADDRESS, *plain])


def options(host: str, timeout: int, sync_timeout: int,
            heuristic: str) -> tuple[list[str], list[str], list[str]]:
    """pcs's generic, model and heuristics options, as NAME=VALUE words
    (HEURISTIC: exec_line's command)."""
    return ([f"timeout={timeout}", f"sync_timeout={sync_timeout}"],
            [f"host={host}", f"algorithm={ALGORITHM}"],
            [f"mode={HEURISTICS_MODE}", f"{HEURISTIC}={heuristic}"])


def update_argv(host: str, timeout: int, sync_timeout: int, heuristic: str,
                pcs: str = PCS) -> list[str]:
    """pcs (0.11 and 0.12) writes corosync.conf on every node through pcsd,
    reloads Corosync and restarts corosync-qdevice there; the cluster keeps
    running.  Options it is not given stay as they are."""
    generic, model, heuristics = options(host, timeout, sync_timeout, heuristic)
    return [pcs, "quorum", "device", "update", *generic, "model", *model,
            "heuristics", *heuristics]


def add_argv(host: str, timeout: int, sync_timeout: int, heuristic: str,
             pcs: str = PCS) -> list[str]:
    """The one-time step on a node (after ``pcs host auth HOST``): pcs sets
    up the certificates through pcsd on the qnetd host and every node,
    removes ``two_node`` and starts corosync-qdevice everywhere."""
    generic, model, heuristics = options(host, timeout, sync_timeout, heuristic)
    return [pcs, "quorum", "device", "add", *generic, "model", MODEL, *model,
            "heuristics", *heuristics]


def setup_argv(pcs: str = PCS) -> list[str]:
    """The one-time step on the qnetd host (packages pcs and corosync-qnetd)."""
    return [pcs, "qdevice", "setup", "model", MODEL, "--enable", "--start"]
