"""How long Corosync takes to notice a lost node, per totem token timeout.

Two Corosync nodes run on this host, each in its own network and mount
namespace (a bridge in a third namespace joins them; no address is added on
the host).  One is lost as in a silent power cut (its link cut, then
SIGKILL); the survivor's membership is polled until the lost node is gone.
That time is the floor of every failover after a hard node loss: Pacemaker
cannot fence, promote or move anything before it.  Then both nodes run for a while with every CPU
busy, counting false losses: the price of a short token.

    python3 bench/corosync_token.py [TOKEN_MS ...]   (root; default 1000 3000)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.figures import spread

PREFIX = f"sipct{os.getpid() % 10000}"
NET = "198.51.100"
NODES = {"n1": f"{NET}.41", "n2": f"{NET}.42"}
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
SOAK = float(os.environ.get("BENCH_SOAK", "60"))

CONF = """totem {{
    version: 2
    cluster_name: {prefix}
    transport: knet
    token: {token}
    crypto_cipher: none
    crypto_hash: none
}}
nodelist {{
    node {{
        ring0_addr: {n1}
        name: n1
        nodeid: 1
    }}
    node {{
        ring0_addr: {n2}
        name: n2
        nodeid: 2
    }}
}}
{quorum}
logging {{
    to_stderr: no
    to_logfile: yes
    logfile: {folder}/{node}.log
    to_syslog: no
    timestamp: hires
}}
"""
# The quorum section: two_node, as the shipped two-node clusters run (without
# a quorum device; bench/corosync_qdevice.py writes the device section).
TWO_NODE = """quorum {
    provider: corosync_votequorum
    two_node: 1
}"""


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def up(hosts: dict[str, str] = NODES) -> None:
    """A bridge namespace and one namespace per host on it (PREFIX-host, eth0
    at the host's address)."""
    sh("ip", "netns", "add", f"{PREFIX}-br")
    sh("ip", "-n", f"{PREFIX}-br", "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", f"{PREFIX}-br", "link", "set", "br0", "up")
    for node, address in hosts.items():
        ns = f"{PREFIX}-{node}"
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", f"{PREFIX}{node}", "netns", f"{PREFIX}-br", "type", "veth",
           "peer", "name", "eth0", "netns", ns)
        sh("ip", "-n", f"{PREFIX}-br", "link", "set", f"{PREFIX}{node}", "master", "br0", "up")
        sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")


def down() -> None:
    """Every namespace of this run's prefix, whatever up() got to make."""
    listed = sh("ip", "netns", "list", check=False).stdout.split("\n")
    for ns in (line.split()[0] for line in listed if line.startswith(f"{PREFIX}-")):
        sh("ip", "netns", "del", ns, check=False)


def link(node: str, on: bool) -> None:
    """NODE's port on the bridge up or down (down: its cable pulled)."""
    sh("ip", "-n", f"{PREFIX}-br", "link", "set", f"{PREFIX}{node}", "up" if on else "down")


def power_cut(node: str, *procs: subprocess.Popen[bytes]) -> None:
    """A silent power cut of NODE: its link goes first, so nothing it sends as
    it dies (a TCP FIN or RST as the kernel closes its sockets) reaches anyone,
    then its processes are SIGKILLed.  link(node, True) plugs it back in."""
    link(node, False)
    for proc in procs:
        proc.kill()
    for proc in procs:
        proc.wait()


def start(node: str, folder: str, token: int, quorum: str = TWO_NODE) -> subprocess.Popen[bytes]:
    conf = os.path.join(folder, f"{node}.conf")
    with open(conf, "w", encoding="ascii") as handle:
        handle.write(CONF.format(prefix=PREFIX, token=token, folder=folder, node=node,
                                 quorum=quorum, **NODES))
    state = os.path.join(folder, node)
    os.makedirs(state, exist_ok=True)
    # Private /var/lib/corosync, /run and /dev/shm: corosync's state and IPC.
    script = (f"mount --bind {state} /var/lib/corosync && mount -t tmpfs tmpfs /run && "
              f"mount -t tmpfs tmpfs /dev/shm && exec corosync -f -c {conf}")
    return subprocess.Popen(["ip", "netns", "exec", f"{PREFIX}-{node}", "unshare", "--mount",
                             "--propagation", "private", "sh", "-c", script],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def status(proc: subprocess.Popen[bytes]) -> dict[str, str]:
    """`corosync-quorumtool -s` of the node whose corosync is PROC, asked inside
    its own namespaces (ip netns exec, unshare and sh all exec, so PROC is
    corosync itself): its "Key: value" lines ("Nodes", "Quorate", "Total
    votes", "Flags", ...); empty when it gave no answer within 2 s."""
    try:
        res = subprocess.run(["nsenter", "-t", str(proc.pid), "-n", "-m",
                              "corosync-quorumtool", "-s"], capture_output=True, text=True,
                             check=False, timeout=2)
    except subprocess.TimeoutExpired:
        return {}
    fields = (line.split(":", 1) for line in res.stdout.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in fields}


def members(proc: subprocess.Popen[bytes]) -> int | None:
    """How many votes corosync counts (the members, in a two_node cluster)."""
    votes = status(proc).get("Total votes")
    return int(votes) if votes else None


def busy() -> list[subprocess.Popen[bytes]]:
    """One busy process per CPU."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(os.cpu_count() or 2)]


def wait(predicate: Callable[[], object], timeout: float, step: float = 0.02) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(step)
    raise TimeoutError("condition not reached")


def measure(token: int, folder: str) -> float:
    n1, n2 = start("n1", folder, token), start("n2", folder, token)
    try:
        wait(lambda: members(n1) == 2 and members(n2) == 2, 60, 0.2)
        time.sleep(1)
        killed = time.monotonic()
        power_cut("n2", n2)
        wait(lambda: members(n1) == 1, 60)
        return time.monotonic() - killed
    finally:
        for proc in (n1, n2):
            proc.kill()
            proc.wait()
        link("n2", True)


def soak(token: int, folder: str, seconds: float) -> int:
    """Membership losses seen while both CPUs are busy for SECONDS (should be 0)."""
    n1, n2 = start("n1", folder, token), start("n2", folder, token)
    hogs = []
    try:
        wait(lambda: members(n1) == 2 and members(n2) == 2, 60, 0.2)
        hogs = busy()
        losses, state, ended = 0, 2, time.monotonic() + seconds
        while time.monotonic() < ended:
            now = members(n1)
            if now != state and now == 1:
                losses += 1
            state = now if now is not None else state
            time.sleep(0.1)
        return losses
    finally:
        for proc in (*hogs, n1, n2):
            proc.kill()
            proc.wait()


def main() -> int:
    if os.geteuid() != 0 or not shutil.which("corosync"):
        print("needs root and corosync", file=sys.stderr)
        return 1
    tokens = [int(arg) for arg in sys.argv[1:]] or [1000, 3000]
    signal.signal(signal.SIGTERM, signal.default_int_handler)   # teardown on kill too
    try:
        up()
        for token in tokens:
            times = []
            for _ in range(RUNS):
                with tempfile.TemporaryDirectory(prefix=f"{PREFIX}-") as folder:
                    times.append(measure(token, folder))
            print(f"token {token:5d} ms: lost node noticed after median "
                  f"{spread(times, unit='s')}, {RUNS} runs", flush=True)
            with tempfile.TemporaryDirectory(prefix=f"{PREFIX}-") as folder:
                losses = soak(token, folder, SOAK)
            print(f"token {token:5d} ms: {losses} false membership loss(es) in {SOAK:.0f} s "
                  "with every CPU busy", flush=True)
    finally:
        down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
