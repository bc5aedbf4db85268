"""Failover beside the stock agents, interleaved in one run (issue #14).

One two-node test cluster (tests/support/sipha_cluster; real Pacemaker,
Corosync, fencing) runs each fault under two configurations, alternating:

* stock: what an administrator builds from resource-agents with default
  settings -- an ``ocf:heartbeat:IPaddr2`` address and the stock agent of
  the SIP server in one group, resource-stickiness 100, Corosync's default
  token, no fencing delay, every operation as pcs creates it from the
  agents' meta-data;
* ours: the parameter file of the test modules, installed with
  ``sip-ha cib apply`` (its [timings]: token 1000 ms, the two-node fencing
  delay, monitors, the hot standby).

Per run, both configurations in turn (the order swaps every run, so both
see the machine in the same states), each through every fault, each fault
a random 0-20 s after the service settled (the same offsets for both:
otherwise every fault would meet the monitors at the same phase):

* power cut: the active node's link goes down, then the node is killed
  (silent: no FIN/RST reaches a phone);
* crash: SIGKILL to the SIP server on the active node;
* hang: SIGSTOP to it (alive, answering nothing);
* planned move: ``pcs resource move`` (stock) or ``sip-ha failover`` (ours).

The kind ``bookworm-qdevice`` runs the power cut again on a bookworm
cluster with a quorum device (host-side.sh qdevice): stock with the device
as ``pcs quorum device add`` leaves it (Corosync's 10 s device timeout, no
heuristic), ours with ``[cluster] quorum_device`` (no fencing delay, the
device's 1250 ms timeout, the SIP-ACTIVE heuristic).

What is measured is what a phone notices: the longest gap between answers
of SIP OPTIONS over TCP sent every 0.05 s to the service address from the
phone host (vagrant/sip/sipsim.py probe).  Medians and ranges per fault and
configuration, the ratio ours/stock, a table (bench/results/failover.md),
the records (failover.json) and a plot (failover.png, matplotlib).

    python3 bench/failover_compare.py [bookworm] [sid] [bookworm-qdevice]
                                    (root; the cluster layer's needs)
    python3 bench/failover_compare.py --report          (table and plot from failover.json)

BENCH_FAILOVER_RUNS (default 3) runs; BENCH_FAILOVER_FAULTS picks faults by
name (comma-separated).  Holds the test network for about 10 minutes a run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.figures import spread  # noqa: E402
from tests.support import pbx_parts  # noqa: E402
from tests.support.pbx_parts import ROOT as PBX_ROOT  # noqa: E402
from tests.support.proxy_parts import (  # noqa: E402
    KAMAILIO,
    KAMAILIO_CFG,
    PROXY_IP,
    PROXY_ON_TWO,
    PROXY_PORT,
)
from tests.support.sipha_cluster import SERVICE_IP, Cluster, wait_until  # noqa: E402
from tests.support.sipha_service import (  # noqa: E402
    PARAMS,
    PBX,
    SIP_HA,
    active,
    install,
    params_toml,
    phone,
    settled,
    standby_ready,
)

RUNS = int(os.environ.get("BENCH_FAILOVER_RUNS", "3"))
FAULTS = ("power cut", "crash", "hang", "planned move")
STOCK_GROUP = "stock"
RESULTS = ROOT / "bench" / "results"
# The longest monitor interval of either configuration (the stock asterisk
# agent's 20 s): each fault comes a random time up to this after the settle.
OFFSET_MAX = 20.0
# SIPp through each fault where a PBX answers: 2 calls/s for 20 s, as the
# sid module's fault tests (tests/support/sipha_service.clients_through).
SIPP_RATE = 2
SIPP_CALLS = 40
# Longer than the stock agents' hang (their 30 s monitor timeout, a stop and
# a cold start: about 65 s); the tests' bound is SIP-HA's promise, 60 s.
LIMIT = 150


@dataclass(frozen=True)
class Kind:
    """One cluster kind: its distribution, its SIP server, and both configurations."""

    dist: str
    process: str                       # the SIP server's process name
    user: str | None                   # ... and its user (agents' scripts share the name)
    stock_agent: tuple[str, ...]       # pcs resource create NAME AGENT PARAMS...
    stock_empty: tuple[str, ...]       # parameters set to "" (pcs drops empty values)
    stock_target: tuple[str, int]      # where the stock service answers SIP
    ours_name: str                     # the [[service]] name
    ours_params: Callable[[list[str]], str]
    ours_target: tuple[str, int]
    prepare: Callable[[Cluster], None]
    sipp: bool = False                 # SIPp calls through each fault (a PBX answers them)
    # A quorum device (corosync-qnetd on the host side): both configurations
    # run with it, stock as pcs adds it (its default timeouts, no heuristic).
    qdevice: bool = False
    faults: tuple[str, ...] = FAULTS


def _kamailio_files(cluster: Cluster) -> None:
    for node in cluster.nodes:
        cluster.run(node, "mkdir", "-p", "/etc/sip-ha")
        cluster.run(node, "tee", KAMAILIO_CFG, input=KAMAILIO)


def _pbx_files(cluster: Cluster) -> None:
    pbx_parts.install_asterisk_files(cluster)
    pbx_parts.prepare_phones(cluster, PBX_ROOT)


def _proxy(nodes: list[str]) -> str:
    return params_toml(nodes, PROXY_ON_TWO)


def _pbx(nodes: list[str]) -> str:
    return params_toml(nodes, PBX + pbx_parts.asterisk_options())


KINDS = {
    # Kamailio as the boxes install it (vagrant/sip/kamailio.cfg: the
    # service address, port 5060) under ocf:heartbeat:kamailio.
    "bookworm": Kind(
        dist="bookworm", process="kamailio", user=None,
        stock_agent=("ocf:heartbeat:kamailio", "conffile=/etc/kamailio/kamailio.cfg",
                     f"listen_address={SERVICE_IP}", "port=5060", "proto=udptcp"),
        # The agent's advice for a Kamailio without the ctl module: no kamctl check.
        stock_empty=("kamctlrc",),
        stock_target=(SERVICE_IP, 5060),
        ours_name="proxy", ours_params=_proxy, ours_target=(PROXY_IP, PROXY_PORT),
        prepare=_kamailio_files),
    # The test modules' Asterisk (on every address, under /srv/pbx) under
    # ocf:heartbeat:asterisk, which starts it where the address is.
    "sid": Kind(
        dist="sid", process="asterisk", user="asterisk",
        stock_agent=("ocf:heartbeat:asterisk", f"config={PBX_ROOT}/asterisk.conf"),
        stock_empty=(), stock_target=(SERVICE_IP, 5060),
        ours_name="pbx", ours_params=_pbx, ours_target=(SERVICE_IP, 5060),
        prepare=_pbx_files, sipp=True),
}
# The power cut again with a third vote, where the two-node fencing delay goes.
KINDS["bookworm-qdevice"] = replace(KINDS["bookworm"], qdevice=True, faults=("power cut",))


@dataclass
class Config:
    """How one configuration is installed, asked and moved."""

    name: str
    kind: Kind

    def install(self, cluster: Cluster) -> None:
        cluster.reset()  # the configuration as after `vagrant up`: no service
        self.kind.prepare(cluster)
        if self.name == "stock":
            # Corosync's own token and consensus (an empty value removes them).
            cluster.run(cluster.nodes[0], "pcs", "cluster", "config", "update", "totem",
                        "token=", "consensus=", timeout=120)
            if self.kind.qdevice:
                # The device as `pcs quorum device add` leaves it.
                cluster.run(cluster.nodes[0], "pcs", "quorum", "device", "heuristics",
                            "remove", check=False, timeout=120)
                cluster.run(cluster.nodes[0], "pcs", "quorum", "device", "update",
                            "timeout=", "sync_timeout=", timeout=120)
            cluster.run(cluster.nodes[0], "pcs", "resource", "defaults", "update",
                        "resource-stickiness=100")
            cluster.run(cluster.nodes[0], "pcs", "resource", "create", "stock-ip",
                        "ocf:heartbeat:IPaddr2", f"ip={SERVICE_IP}", "cidr_netmask=24",
                        "--group", STOCK_GROUP)
            cluster.run(cluster.nodes[0], "pcs", "resource", "create", "stock-sip",
                        *self.kind.stock_agent, "--group", STOCK_GROUP, "--disabled")
            for name in self.kind.stock_empty:
                cluster.run(cluster.nodes[0], "cibadmin", "--modify", "--xml-text",
                            f'<instance_attributes id="stock-sip-instance_attributes">'
                            f'<nvpair id="stock-sip-instance_attributes-{name}" name="{name}" '
                            f'value=""/></instance_attributes>')
            cluster.run(cluster.nodes[0], "pcs", "resource", "enable", "stock-sip")
        else:
            install(cluster, self.kind.ours_params(cluster.nodes))
        self.settle(cluster)
        token = cluster.run(cluster.nodes[0], "corosync-cmapctl", "-g",
                            "runtime.config.totem.token").stdout.split()[-1]
        device = cluster.run(cluster.nodes[0], "corosync-cmapctl", "quorum.device.",
                             check=False).stdout if self.kind.qdevice else ""
        print(f"{self.name}: installed, Corosync token {token} ms{device and ', ' + device}",
              flush=True)

    def target(self) -> tuple[str, int]:
        return self.kind.stock_target if self.name == "stock" else self.kind.ours_target

    def active(self, cluster: Cluster) -> str | None:
        if self.name == "ours":
            return active(cluster, self.kind.ours_name)
        found = cluster.run(cluster.nodes[0], "crm_resource", "--locate", "--resource",
                            STOCK_GROUP, check=False).stdout
        words = found.split()
        return words[-1] if "running on:" in found else None

    def settle(self, cluster: Cluster) -> str:
        """Every failure cleared and the service settled: its active node."""
        for node in cluster.nodes:
            cluster.run(node, "pkill", "--signal", "CONT", "-x", self.kind.process,
                        check=False)
        cluster.run(cluster.nodes[0], "crm_resource", "--cleanup", check=False)
        cluster.wait_idle(cluster.nodes[0], timeout=180)
        if self.name == "ours":
            return settled(cluster, self.kind.ours_name)
        return wait_until(lambda: self.active(cluster), 120, what="the stock group running")

    def move(self, cluster: Cluster, old: str, new: str) -> None:
        if self.name == "ours":
            cluster.run(old, SIP_HA, "failover", "--params", PARAMS, timeout=300)
            return
        cluster.run(old, "pcs", "resource", "move", STOCK_GROUP, new, timeout=180)
        wait_until(lambda: self.active(cluster) == new, 120, what="the move")
        cluster.run(old, "pcs", "resource", "clear", STOCK_GROUP, check=False)


def fault(cluster: Cluster, config: Config, name: str, offset: float) -> dict:
    """Inject one fault into the active node OFFSET seconds after it settled:
    the outage the phone saw, and SIPp's calls through it where the kind has
    them."""
    old = config.settle(cluster)
    # settle()'s cleanup restarts the monitors: without a random wait every
    # fault would land at the same point between two of them.
    time.sleep(offset)
    new = next(n for n in cluster.nodes if n != old)
    address, port = config.target()
    found: dict = {}
    with ExitStack() as stack:
        load = None
        if config.kind.sipp:
            load = pbx_parts.sipp(cluster, stack, rate=SIPP_RATE, calls=SIPP_CALLS)
            load.start()
        with phone(cluster, LIMIT, address, port) as seen:
            if name == "power cut":
                mark = len(cluster.fence_log())
                cluster.kill_node(old)
                cluster.wait_fenced(old, mark, timeout=LIMIT)
            elif name == "crash":
                cluster.kill_process(old, config.kind.process, user=config.kind.user)
            elif name == "hang":
                cluster.kill_process(old, config.kind.process, sig=signal.SIGSTOP,
                                     user=config.kind.user)
            else:
                config.move(cluster, old, new)
        found["outage_s"] = float(seen["outage"])
        if config.name == "ours" and name in ("crash", "hang"):
            # Redundancy back: the old node runs a healthy standby again by
            # itself (the failure expires: failure-timeout), no cleanup.
            wait_until(lambda: standby_ready(cluster, old, config.kind.ours_name), LIMIT,
                       what=f"{old} a healthy standby again")
            found["standby_back_s"] = round(time.time() - seen["fault_at"], 1)
        if load is not None:
            figures = load.wait()
            found.update(sipp_calls=figures.created, sipp_failed=figures.failed)
    if name == "power cut":
        cluster.wait_all_online(timeout=240)
    print(f"{config.name} {name}: {found}", flush=True)
    return found


def table(records: list[dict]) -> list[str]:
    """Markdown: per kind and fault, stock and ours (median, range), ours/stock,
    and SIPp's failed calls where there were any."""
    lines = ["| cluster | fault | stock s | SIP-HA s | SIP-HA/stock | SIPp failed, stock | "
             "SIPp failed, SIP-HA |",
             "|---|---|---|---|---|---|---|"]
    for kind in dict.fromkeys(r["kind"] for r in records):
        for name in FAULTS:
            runs = {c: [r for r in records
                        if r["kind"] == kind and r["fault"] == name and r["config"] == c]
                    for c in ("stock", "ours")}
            got = {c: [r["outage_s"] for r in found] for c, found in runs.items()}
            if not got["stock"] and not got["ours"]:
                continue
            ratio = (f"{statistics.median(got['ours']) / statistics.median(got['stock']):.2f}"
                     if got["stock"] and got["ours"] and statistics.median(got["stock"]) else "-")
            failed = {c: spread([r["sipp_failed"] for r in found if "sipp_failed" in r], 0)
                      for c, found in runs.items()}
            lines.append(f"| {kind} | {name} | {spread(got['stock'])} | {spread(got['ours'])} "
                         f"| {ratio} | {failed['stock']} | {failed['ours']} |")
    return lines


def plot(records: list[dict], path: Path) -> None:
    """Grouped bars per fault: the median outage, the range as error bars."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # A kind run with a quorum device joins its dist's panel as more bars.
    panels: dict[str, list[tuple[str, str, str]]] = {}
    for kind in dict.fromkeys(r["kind"] for r in records):
        panel, _, device = kind.partition("-")
        for name in FAULTS:
            if any(r["kind"] == kind and r["fault"] == name for r in records):
                label = f"{name},\nquorum device" if device else name
                panels.setdefault(panel, []).append((label, kind, name))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4), squeeze=False)
    for ax, (panel, bars) in zip(axes[0], panels.items(), strict=True):
        names = [label for label, _, _ in bars]
        for offset, config, colour in ((-0.2, "stock", "#999999"), (0.2, "ours", "#1f6fb4")):
            medians, low, high = [], [], []
            for _, kind, name in bars:
                values = [r["outage_s"] for r in records if r["kind"] == kind
                          and r["fault"] == name and r["config"] == config] or [0.05]
                median = statistics.median(values)
                medians.append(median)
                low.append(median - min(values))
                high.append(max(values) - median)
            xs = [i + offset for i in range(len(names))]
            ax.bar(xs, medians, width=0.4, color=colour, yerr=[low, high], capsize=3,
                   label="stock agents, defaults" if config == "stock" else "SIP-HA")
            for x, median in zip(xs, medians, strict=True):
                label = f"{median:.2f}" if median < 1 else f"{median:.1f}"
                ax.annotate(label, (x, median), ha="center", va="bottom", fontsize=8)
        ax.set_yscale("log")  # 0.1 s beside 60 s
        ax.set_ylim(bottom=0.05)
        ax.set_xticks(range(len(names)), names)
        ax.set_ylabel("outage seen by a phone, s (OPTIONS every 50 ms)")
        runs = len({r["run"] for r in records if r["kind"].partition("-")[0] == panel})
        ax.set_title(f"{panel}: median of {runs} runs, range as bars")
        ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    if argv == ["--report"]:  # the table and plot again from failover.json
        report(json.loads((RESULTS / "failover.json").read_text()))
        return 0
    kinds = argv or list(KINDS)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        print(f"failover_compare: unknown cluster kind {', '.join(unknown)} "
              f"(known: {', '.join(KINDS)})", file=sys.stderr)
        return 2
    chosen = os.environ.get("BENCH_FAILOVER_FAULTS")
    picked = [f.strip() for f in chosen.split(",")] if chosen else list(FAULTS)
    if set(picked) - set(FAULTS):
        print(f"failover_compare: unknown fault in BENCH_FAILOVER_FAULTS (known: "
              f"{', '.join(FAULTS)})", file=sys.stderr)
        return 2
    RESULTS.mkdir(exist_ok=True)
    # Faults not run now keep their last records (one table and plot for
    # both kinds); this run's replace theirs only once it ends (until then
    # in failover.partial.json).
    saved, partial = RESULTS / "failover.json", RESULTS / "failover.partial.json"
    kept = json.loads(saved.read_text()) if saved.exists() else []
    fresh: list[dict] = []
    for kind_name in kinds:
        kind = KINDS[kind_name]
        faults = [f for f in picked if f in kind.faults]
        if not faults:
            continue
        cluster = Cluster(kind.dist, 2, prefix=os.environ.get("SIPHA_TEST_PREFIX", "siphat"),
                          qdevice=kind.qdevice)
        cluster.up()
        try:
            for run in range(RUNS):
                # Both configurations meet each fault at the same offsets.
                offsets = [random.uniform(0, OFFSET_MAX) for _ in faults]
                order = ("stock", "ours") if run % 2 == 0 else ("ours", "stock")
                for config_name in order:
                    config = Config(config_name, kind)
                    config.install(cluster)
                    for name, offset in zip(faults, offsets, strict=True):
                        fresh.append({"kind": kind_name, "config": config_name, "run": run,
                                      "fault": name, "at": time.time(),
                                      "offset_s": round(offset, 2),
                                      **fault(cluster, config, name, offset)})
                        partial.write_text(json.dumps(fresh, indent=1))
        finally:
            cluster.destroy()
    ran = {(r["kind"], r["fault"]) for r in fresh}
    records = [r for r in kept if (r["kind"], r["fault"]) not in ran] + fresh
    saved.write_text(json.dumps(records, indent=1))
    partial.unlink(missing_ok=True)
    report(records)
    return 0


def report(records: list[dict]) -> None:
    """The table (printed, and bench/results/failover.md) and the plot."""
    lines = table(records)
    back: dict[str, list[float]] = {}
    for r in records:
        if "standby_back_s" in r:
            back.setdefault(f"{r['kind']} {r['fault']}", []).append(r["standby_back_s"])
    extra = [f"SIP-HA's old node a healthy standby again, s after the fault ({where}): "
             f"{spread(values, 1)}" for where, values in back.items()]
    print("\n".join(lines + extra))
    per_row = Counter((r["kind"], r["fault"], r["config"]) for r in records)
    runs = "-".join(str(n) for n in sorted(set(per_row.values())))
    (RESULTS / "failover.md").write_text(
        f"Outage a phone saw (SIP OPTIONS over TCP every 0.05 s), seconds: median "
        f"(range) of {runs} interleaved runs per fault and configuration; SIPp's failed calls of "
        f"{SIPP_CALLS} at {SIPP_RATE}/s; bench/failover_compare.py\n\n"
        + "\n".join(lines) + "\n" + "".join(f"\n{line}\n" for line in extra))
    plot(records, RESULTS / "failover.png")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
