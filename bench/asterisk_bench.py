"""Asterisk part of ``make bench``, in a sid container with real Asterisk 22.

1. Monitor cost: ocf:sipha:asterisk (process, control socket, SIP OPTIONS on
   UDP and TCP) beside the stock ocf:heartbeat:asterisk (process and
   ``core show channels count``), interleaved on the same Asterisk.
2. Detection of a hung Asterisk: how long each monitor takes to say
   "failed" when the operation timeout is 20 s, for a deadlock (frozen by the
   cgroup freezer: state D, the process looks alive) and, for ours, SIGSTOP.
   The stock agent has no
   deadline of its own, so Pacemaker's timeout is what ends it (emulated
   here by killing it at 20 s, as pacemaker-execd would).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from tests.support.asterisk_nodes import AGENT, Node
from tests.support.container import Container
from tests.support.freeze import frozen

STOCK = "/usr/lib/ocf/resource.d/heartbeat/asterisk"
OP_TIMEOUT = 20


def _timed(box: Container, argv: list[str], env: dict[str, str],
           timeout: float = 60) -> tuple[float, int]:
    started = time.perf_counter()
    result = box.run(argv, env=env, timeout=timeout)
    return time.perf_counter() - started, result.returncode


def run(runs: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="sipha-bench-ast-") as tmp:
        box = Container("sid", "siphabench", Path(tmp))
        try:
            node = Node(box, "bench")
            assert node.agent("start")[0] == 0
            ours = node.env(OCF_RESKEY_CRM_meta_timeout=str(OP_TIMEOUT * 1000),
                            OCF_RESKEY_CRM_meta_interval="10000")
            stock = {**ours, "OCF_RESKEY_binary": "/usr/sbin/asterisk"}
            stock_argv = ["timeout", "-s", "KILL", str(OP_TIMEOUT), STOCK, "monitor"]
            samples: dict[str, list[tuple[float, int]]] = {"stock": [], "ours": []}
            for _ in range(runs):
                samples["stock"].append(_timed(box, [STOCK, "monitor"], stock))
                samples["ours"].append(_timed(box, [AGENT, "monitor"], ours))
            box.run(["kill", "-STOP", str(node.pid())], check=True)
            ours_stopped, _ = _timed(box, [AGENT, "monitor"], ours)
            box.run(["kill", "-CONT", str(node.pid())], check=True)
            # A deadlock: frozen by the cgroup freezer, the process looks alive (state D).
            with frozen(node.host_pid()):
                stock_hang, stock_rc = _timed(box, stock_argv, stock)
                ours_hang, ours_rc = _timed(box, [AGENT, "monitor"], ours)
            node.agent("stop")
        finally:
            box.stop()
    return {
        "stock ocf:heartbeat:asterisk": {
            **_monitor(samples["stock"]), "hang_detected_s": stock_hang, "hang_rc": stock_rc},
        "ocf:sipha:asterisk": {
            **_monitor(samples["ours"]), "hang_detected_s": ours_hang, "hang_rc": ours_rc,
            "sigstop_detected_s": ours_stopped},
    }


def _monitor(samples: list[tuple[float, int]]) -> dict[str, float]:
    """Median wall time, and how many runs did not say "running" (a failed
    monitor would make a fast one meaningless)."""
    return {"monitor_ms_median": statistics.median(wall for wall, _ in samples) * 1000,
            "monitor_failures": sum(rc != 0 for _, rc in samples)}


def report(results: dict[str, dict[str, float]]) -> list[str]:
    stock = results["stock ocf:heartbeat:asterisk"]
    lines = [f"Asterisk 22 (sid container), operation timeout {OP_TIMEOUT}s:",
             f"  {'agent':30s} {'monitor':>9s} {'fails':>5s} "
             f"{'deadlocked Asterisk failed after':>34s}"]
    for name, r in results.items():
        how = "killed by op timeout" if r["hang_rc"] in (-9, 137) else f"rc {int(r['hang_rc'])}"
        lines.append(f"  {name:30s} {r['monitor_ms_median']:7.1f}ms "
                     f"{int(r['monitor_failures']):5d} {r['hang_detected_s']:10.1f}s ({how})")
    ours = results["ocf:sipha:asterisk"]
    lines.append(f"  ocf:sipha:asterisk reports a SIGSTOPped Asterisk after "
                 f"{ours['sigstop_detected_s']:.2f}s (process state)")
    lines.append(f"  hang detection ratio ours/stock: "
                 f"{ours['hang_detected_s'] / stock['hang_detected_s']:.2f}; monitor cost ratio: "
                 f"{ours['monitor_ms_median'] / stock['monitor_ms_median']:.2f} "
                 "(ours also sends SIP OPTIONS on UDP and TCP)")
    return lines
