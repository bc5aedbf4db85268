"""False membership losses of a two-node Corosync under load, per token.

The price of a short token: a node declared lost while it was only slow
costs a fencing and a failover.  Two Corosync nodes run as in
bench/corosync_token.py (network and mount namespaces, a bridge in a third;
nothing on the host's own network), with the token under test and the
consensus SIP-HA ships with it (cib_templates.totem: 1.2 x the token).  For
BENCH_SOAK_MINUTES (10) per token, while

* BENCH_SOAK_HOGS busy processes (default: twice the CPUs) compete with
  Corosync for the CPUs,
* a UDP flood in each direction fills the nodes' link (one sender per
  node, as fast as it can), and
* netem delays and drops the link's packets (BENCH_SOAK_NETEM, default
  "delay 2ms 2ms loss 1%"; empty, or a kernel without sch_netem as the
  project's machine: none, and the result says so),

each node's log is read for what matters:

* membership changes: memberships formed once both nodes had joined (each
  one a node lost or regained; the goal is none), and "A processor failed";
* near misses: "Token has not been received in N ms", which Corosync logs
  when 75 % of the token passed without it.

    python3 bench/corosync_soak.py [TOKEN_MS ...]   (root; default 500 1000)

Corosync's membership is also polled every 0.2 s (corosync-quorumtool), so a
loss shows even if the log format changes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.corosync_token import NODES, PREFIX, down, members, start, up, wait  # noqa: E402
from cib_templates import totem  # noqa: E402

MINUTES = float(os.environ.get("BENCH_SOAK_MINUTES", "10"))
HOGS = int(os.environ.get("BENCH_SOAK_HOGS", str(2 * (os.cpu_count() or 2))))
NETEM = os.environ.get("BENCH_SOAK_NETEM", "delay 2ms 2ms loss 1%")
FLOOD_PORT = 9      # discard: nothing listens, the receiving kernel drops it
FLOOD = ("import socket, sys\n"
         "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
         "data, peer = b'x' * 1200, (sys.argv[1], int(sys.argv[2]))\n"
         "while True:\n"
         "    try:\n"
         "        s.sendto(data, peer)\n"
         "    except OSError:\n"
         "        pass\n")
FORMED = re.compile(r"A new membership \(\S+\) was formed")
FAILED = "A processor failed"
WARNED = re.compile(r"Token has not been received in (\d+) ms")


@dataclass(frozen=True)
class Soak:
    token: int
    consensus: int
    seconds: float
    changes: int            # memberships formed during the soak, both nodes
    failures: int           # "A processor failed", both nodes
    warnings: int           # token 75 % late, both nodes
    longest_wait_ms: int    # the latest token seen in a warning
    polled_losses: int      # times n1 saw one member
    link: str               # what netem did to the link

    def line(self) -> str:
        return (f"token {self.token:5d} ms, consensus {self.consensus:5d} ms: "
                f"{self.changes} membership change(s), {self.failures} processor failure(s), "
                f"{self.warnings} near miss(es) (token 75 % late; latest "
                f"{self.longest_wait_ms} ms), {self.polled_losses} loss(es) polled, "
                f"in {self.seconds:.0f} s with {HOGS} CPU hog(s), UDP floods and {self.link}")


def netns(node: str) -> list[str]:
    return ["ip", "netns", "exec", f"{PREFIX}-{node}"]


def load(peers: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    """The CPU hogs and one UDP flood from each node to the other."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
             for _ in range(HOGS)]
    for node, peer in peers.items():
        procs.append(subprocess.Popen([*netns(node), sys.executable, "-c", FLOOD,
                                       NODES[peer], str(FLOOD_PORT)],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    return procs


def shape(on: bool) -> str:
    """netem on both nodes' link (on) or off; what the link had, in words."""
    if not NETEM:
        return "no netem"
    for node in NODES:
        verb = ["add", "dev", "eth0", "root", "netem", *NETEM.split()] if on else [
            "del", "dev", "eth0", "root"]
        res = subprocess.run([*netns(node), "tc", "qdisc", *verb], check=False,
                             capture_output=True, text=True)
        if on and res.returncode != 0:
            # A kernel without sch_netem: "Specified qdisc kind is unknown."
            print(f"netem '{NETEM}' not applied: {res.stderr.strip()}", file=sys.stderr)
            shape(False)
            return "no netem (the kernel has none)"
    return f"netem '{NETEM}'"


def log_sizes(folder: str) -> dict[str, int]:
    """Where each node's log ends now: the soak reads only what follows."""
    paths = {node: Path(folder) / f"{node}.log" for node in NODES}
    return {node: path.stat().st_size if path.exists() else 0 for node, path in paths.items()}


def read_logs(folder: str, since: dict[str, int]) -> tuple[int, int, int, int]:
    changes = failures = warnings = longest = 0
    for node in NODES:
        path = Path(folder) / f"{node}.log"
        with open(path, "rb") if path.exists() else open(os.devnull, "rb") as handle:
            handle.seek(since.get(node, 0))
            text = handle.read().decode(errors="replace")
        changes += len(FORMED.findall(text))
        failures += text.count(FAILED)
        late = [int(ms) for ms in WARNED.findall(text)]
        warnings += len(late)
        longest = max([longest, *late])
    return changes, failures, warnings, longest


def soak(token: int, seconds: float) -> Soak:
    consensus = totem.default_consensus(token, len(NODES))
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}-") as folder:
        n1, n2 = start("n1", folder, token), start("n2", folder, token)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            wait(lambda: members(n1) == 2 and members(n2) == 2, 60, 0.2)
            since = log_sizes(folder)
            link = shape(True)
            procs = load({"n1": "n2", "n2": "n1"})
            polled, state, ended = 0, 2, time.monotonic() + seconds
            while time.monotonic() < ended:
                now = members(n1)
                if now == 1 and state != 1:
                    polled += 1
                state = now if now is not None else state
                time.sleep(0.2)
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
            shape(False)
            for proc in (n1, n2):
                proc.send_signal(signal.SIGTERM)
            for proc in (n1, n2):
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        changes, failures, warnings, longest = read_logs(folder, since)
    return Soak(token, consensus, seconds, changes, failures, warnings, longest, polled, link)


def main() -> int:
    if os.geteuid() != 0 or not all(os.access(f"/usr/sbin/{tool}", os.X_OK)
                                    for tool in ("corosync", "tc")):
        print("needs root, corosync and tc (iproute2)", file=sys.stderr)
        return 1
    tokens = [int(arg) for arg in sys.argv[1:]] or [500, 1000]
    up()
    try:
        for token in tokens:
            print(soak(token, MINUTES * 60).line(), flush=True)
    finally:
        down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
