"""How long a two-node Corosync with a quorum device takes to be quorate again
after a silent power cut, per token and device timeout, beside two_node.

The nodes run as in bench/corosync_token.py (network and mount namespaces, a
bridge in a third; nothing on the host's own network).  A fourth namespace on
the bridge, PREFIX-qn at 198.51.100.43, runs corosync-qnetd as user coroqnetd;
each node's corosync.conf has a quorum device (model net, algorithm ffsplit,
votes 1, no two_node) and the node runs corosync-qdevice in its corosync's
network and mount namespaces (it talks to corosync over IPC in the node's
private /run).  qnetd runs with ``-s off`` and the nodes with ``tls: off``:
TLS costs a handshake at connect, not a round trip per vote, and certificates
are not what is measured.  qnetd's lock and socket, the qdevices' and every
log stay in the run's temporary folder.

Per run, n2 is lost in a silent power cut (its link cut, then corosync and
corosync-qdevice SIGKILLed: qnetd hears nothing and must notice the dead
client itself), at a random point of its qdevice's echo cycle.  n1's
``corosync-quorumtool -s`` is polled (about every 50 ms) until it shows one
node and "Quorate: Yes": the floor of any failover, as Pacemaker cannot fence
while inquorate.  Until the device votes, votequorum holds the new
membership's sync open ("waiting for quorum device Qdevice poll"), so n1 shows
the old view (2 nodes, 2 votes, quorate) rather than "not quorate", and
quorumtool may not answer at all for a while.  qnetd holds the survivor's vote
("Membership ... is not yet stable") until it drops the dead client, 1.5
heartbeats (0.8 x timeout, at least 1 s) after its last message.  Runs with
two_node (bench/corosync_token.py's measure) are interleaved with them, at the
same token.  Then, per token and device timeout, a soak with every CPU busy
counts false membership losses, samples where a node was not quorate or
lacked the device's vote, drops of qnetd's client count, and qnetd's
"Disconnecting" log lines.

    python3 bench/corosync_qdevice.py [--device MS[:SYNC_MS] ...] [TOKEN_MS ...]
    (root; default tokens 500 1000, devices 1250:3000 10000; a device without
    SYNC_MS keeps Corosync's default sync_timeout, 30000)

BENCH_RUNS (5) runs per configuration, BENCH_SOAK (60) seconds per soak.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import corosync_token as ct  # noqa: E402
from bench.figures import spread  # noqa: E402

QNETD = f"{ct.NET}.43"
USER = "coroqnetd"
DEVICE = """quorum {{
    provider: corosync_votequorum
    device {{
        model: net
        votes: 1
        timeout: {timeout}
{sync}        net {{
            host: {host}
            algorithm: ffsplit
            tls: off
        }}
    }}
}}"""
CLIENT = re.compile(r"^\s+Node ID \d+:", re.MULTILINE)
DISCONNECT = "Disconnecting"    # qnetd: a client silent too long, or a broken connection


@dataclass(frozen=True)
class Device:
    timeout: int
    sync_timeout: int | None    # None: Corosync's default

    @classmethod
    def parse(cls, text: str) -> Device:
        timeout, _, sync = text.partition(":")
        return cls(int(timeout), int(sync) if sync else None)

    def conf(self) -> str:
        sync = f"        sync_timeout: {self.sync_timeout}\n" if self.sync_timeout else ""
        return DEVICE.format(timeout=self.timeout, sync=sync, host=QNETD)

    def heartbeat(self) -> float:
        """Seconds between qdevice's echoes to qnetd (0.8 x timeout, at least
        1 s); qnetd drops a client silent for 1.5 of them."""
        return max(0.8 * self.timeout, 1000) / 1000

    def label(self) -> str:
        sync = self.sync_timeout or "default"
        return f"qdevice timeout {self.timeout}, sync_timeout {sync}"


@dataclass(frozen=True)
class Cut:
    noticed: float          # s after the cut: n1's view first changed (new membership)
    quorate: float          # s after the cut: n1 shows one node and is quorate
    between: Counter[str]   # what n1 showed between the two, samples per state


@dataclass
class Cluster:
    """qnetd and both nodes (corosync and corosync-qdevice) of one run."""
    folder: Path
    procs: dict[str, subprocess.Popen[bytes]]

    def qnetd_socket(self) -> Path:
        return self.folder / "qnetd" / "qnetd.sock"

    def clients(self) -> int | None:
        """Clients qnetd has (None when it gave no answer)."""
        try:
            res = subprocess.run(["corosync-qnetd-tool", "-l", "-v", "-p",
                                  str(self.qnetd_socket())],
                                 capture_output=True, text=True, check=False, timeout=2)
        except subprocess.TimeoutExpired:
            return None
        return len(CLIENT.findall(res.stdout)) if res.returncode == 0 else None

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.kill()
        for proc in self.procs.values():
            proc.wait()


def spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as handle:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=handle, stderr=handle)


def start_qnetd(folder: Path) -> subprocess.Popen[bytes]:
    home = folder / "qnetd"
    home.mkdir()
    shutil.chown(home, USER, USER)
    folder.chmod(0o711)     # coroqnetd reaches its own folder, nothing else
    options = (f"nss_db_dir={home}/nssdb,lock_file={home}/qnetd.pid,"
               f"local_socket_file={home}/qnetd.sock")
    return spawn(["ip", "netns", "exec", f"{ct.PREFIX}-qn", "setpriv", f"--reuid={USER}",
                  f"--regid={USER}", "--init-groups", "corosync-qnetd", "-f", "-d", "-s", "off",
                  "-4", "-l", QNETD, "-S", options], folder / "qnetd.log")


def start_qdevice(node: str, corosync: subprocess.Popen[bytes],
                  folder: Path) -> subprocess.Popen[bytes]:
    """corosync-qdevice in COROSYNC's namespaces, its files in the node's own
    /run (nsenter execs, so the process is qdevice itself)."""
    return spawn(["nsenter", "-t", str(corosync.pid), "-n", "-m", "corosync-qdevice", "-f",
                  "-d", "-S", "lock_file=/run/qdevice.pid,local_socket_file=/run/qdevice.sock"],
                 folder / f"{node}-qdevice.log")


def voting(proc: subprocess.Popen[bytes]) -> bool:
    """Two nodes and the device's vote: three votes, quorate."""
    now = ct.status(proc)
    return now.get("Total votes") == "3" and now.get("Quorate") == "Yes"


def cluster(token: int, device: Device, folder: Path) -> Cluster:
    """qnetd and both nodes, up and voting; stopped again if that fails."""
    running = Cluster(folder, {})
    try:
        running.procs["qnetd"] = start_qnetd(folder)
        ct.wait(running.qnetd_socket().exists, 10, 0.05)
        for node in ct.NODES:
            running.procs[node] = ct.start(node, str(folder), token, device.conf())
        ct.wait(lambda: all(ct.status(running.procs[node]).get("Nodes") == "2"
                            for node in ct.NODES), 60, 0.2)
        for node in ct.NODES:
            running.procs[f"{node}-qdevice"] = start_qdevice(node, running.procs[node], folder)
        ct.wait(lambda: all(voting(running.procs[node]) for node in ct.NODES), 60, 0.2)
        ct.wait(lambda: running.clients() == 2, 10, 0.2)
    except BaseException:
        running.stop()
        raise
    return running


def state(now: dict[str, str]) -> str:
    if not now:
        return "no answer"
    return f"{now.get('Nodes')} node(s), {now.get('Total votes')} vote(s), " + (
        "quorate" if now.get("Quorate") == "Yes" else "not quorate")


def cut(token: int, device: Device, folder: Path) -> Cut:
    running = cluster(token, device, folder)
    try:
        # The cut comes at a random point of the dead node's echo cycle, after
        # its first echo: qnetd's wait for it is then what a long-running
        # cluster would see (a fixed delay would always cut at one phase).
        time.sleep(random.uniform(1, 2) * device.heartbeat())
        full = state(ct.status(running.procs["n1"]))
        started = time.monotonic()
        ct.power_cut("n2", running.procs["n2"], running.procs["n2-qdevice"])
        noticed, between = None, Counter[str]()
        while time.monotonic() - started < 90:
            now = ct.status(running.procs["n1"])
            elapsed = time.monotonic() - started
            if now.get("Nodes") == "1" and now.get("Quorate") == "Yes":
                return Cut(elapsed if noticed is None else noticed, elapsed, between)
            if state(now) != full:
                noticed = elapsed if noticed is None else noticed
                between[state(now)] += 1
            time.sleep(0.02)
        raise TimeoutError(f"n1 not quorate alone 90 s after the cut: {state(now)}")
    finally:
        running.stop()
        ct.link("n2", True)


@dataclass(frozen=True)
class Soak:
    samples: int
    losses: int             # a node saw one member
    inquorate: int          # samples where a node answered "not quorate"
    unanswered: int         # samples where a node gave no answer within 2 s
    vote_drops: int         # a node counted fewer than three votes
    client_drops: int       # qnetd's clients fell below two
    disconnects: int        # qnetd's "Disconnecting" log lines


def soak(token: int, device: Device, folder: Path, seconds: float) -> Soak:
    running = cluster(token, device, folder)
    hogs: list[subprocess.Popen[bytes]] = []
    log = folder / "qnetd.log"
    try:
        since = log.stat().st_size
        hogs = ct.busy()
        counts: Counter[str] = Counter()
        was = {"votes": True, "members": True, "clients": True}
        ended = time.monotonic() + seconds
        while time.monotonic() < ended:
            counts["samples"] += 1
            now = {node: ct.status(running.procs[node]) for node in ct.NODES}
            clients = running.clients()
            ok = {"members": all(n.get("Nodes") != "1" for n in now.values()),
                  "votes": all(n.get("Total votes") in ("3", None) for n in now.values()),
                  "clients": clients in (2, None)}
            for key, good in ok.items():
                counts[key] += was[key] and not good
                was[key] = good
            counts["inquorate"] += sum(n.get("Quorate") == "No" for n in now.values())
            counts["unanswered"] += sum(not n for n in now.values()) + (clients is None)
            time.sleep(0.1)
    finally:
        for proc in hogs:
            proc.kill()
            proc.wait()
        running.stop()
    text = log.read_bytes()[since:].decode(errors="replace")
    return Soak(counts["samples"], counts["members"], counts["inquorate"],
                counts["unanswered"], counts["votes"], counts["clients"],
                text.count(DISCONNECT))


def run(tokens: list[int], devices: list[Device]) -> None:
    for token in tokens:
        plain: list[float] = []
        cuts: dict[Device, list[Cut]] = {device: [] for device in devices}
        for _ in range(ct.RUNS):     # interleaved: every configuration sees the same load
            with tempfile.TemporaryDirectory(prefix=f"{ct.PREFIX}-") as folder:
                plain.append(ct.measure(token, folder))
            for device in devices:
                with tempfile.TemporaryDirectory(prefix=f"{ct.PREFIX}-") as folder:
                    cuts[device].append(cut(token, device, Path(folder)))
        base = statistics.median(plain)
        print(f"token {token:5d} ms, two_node: new membership (still quorate) after "
              f"median {spread(plain, unit='s')}, {ct.RUNS} runs", flush=True)
        for device, runs in cuts.items():
            quorate = [c.quorate for c in runs]
            between = sum((c.between for c in runs), Counter[str]())
            print(f"token {token:5d} ms, {device.label()}: n1's view changed after median "
                  f"{spread([c.noticed for c in runs], unit='s')}; quorate again after median "
                  f"{spread(quorate, unit='s')}, {statistics.median(quorate) / base:.2f} x "
                  f"two_node, {ct.RUNS} runs; n1 showed in between: "
                  f"{', '.join(f'{k} ({n})' for k, n in between.items()) or 'nothing'}",
                  flush=True)
        for device in devices:
            with tempfile.TemporaryDirectory(prefix=f"{ct.PREFIX}-") as folder:
                result = soak(token, device, Path(folder), ct.SOAK)
            print(f"token {token:5d} ms, {device.label()}, {ct.SOAK:.0f} s with every CPU busy "
                  f"({result.samples} samples): {result.losses} membership loss(es), "
                  f"{result.vote_drops} vote drop(s), {result.inquorate} inquorate and "
                  f"{result.unanswered} unanswered sample(s), {result.client_drops} qnetd "
                  f"client drop(s), {result.disconnects} qnetd disconnect(s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tokens", nargs="*", type=int, default=[500, 1000], metavar="TOKEN_MS")
    parser.add_argument("--device", action="append", type=Device.parse, metavar="MS[:SYNC_MS]",
                        help="quorum.device timeout (and sync_timeout); repeatable")
    args = parser.parse_args(argv)
    tools = ("corosync", "corosync-qnetd", "corosync-qdevice", "corosync-qnetd-tool", "setpriv")
    if os.geteuid() != 0 or not all(shutil.which(tool) for tool in tools):
        print(f"needs root and {', '.join(tools)}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, signal.default_int_handler)   # teardown on kill too
    try:
        ct.up({**ct.NODES, "qn": QNETD})
        run(args.tokens, args.device or [Device(1250, 3000), Device(10000, None)])
    finally:
        ct.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
