"""What each fault costs the PBX's real clients, on the sid test cluster.

The sid cluster module (tests/cluster/test_sipha_asterisk.py) runs every
fault with three baresip phones (UDP, TCP, TLS) and SIPp calling at 2/s; its
tests assert the bounds and, with $SIPHA_FIGURES set, append each fault's
figures as a JSON line (tests/support/sipha_service.record_figures).  This
bench runs those tests BENCH_FAULT_RUNS times (default 1) and prints, per
fault: the SIP outage a phone polling OPTIONS over TCP every 0.05 s saw;
SIPp's failed calls, and how many of them were never answered (the rest
were cut while up); when each phone's call was answered after the service
answered again; and the fault's timeline from the nodes' journals (what
``sip-ha logs`` reads: node lost, fencing, demote, promote, the address up
and announced) beside the phone's first answer.  Medians with the range
over the runs; the records in bench/results/pbx_faults-<UTC time>.json.

    python3 bench/pbx_faults.py        (root; the cluster test layer's needs)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.figures import keep, spread  # noqa: E402

MODULE = "tests/cluster/test_sipha_asterisk.py"
FAULTS = "hard_loss or crash or hang or gateway or partition or manual_failover"
RUNS = int(os.environ.get("BENCH_FAULT_RUNS", "1"))


def run_module(figures: Path) -> int:
    """One run of the fault tests; their figures appended to FIGURES."""
    env = {**os.environ, "SIPHA_FIGURES": str(figures)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           MODULE, "-k", FAULTS], cwd=ROOT, env=env, check=False).returncode


def table(records: list[dict]) -> list[str]:
    faults: dict[str, list[dict]] = {}
    for record in records:
        faults.setdefault(record["fault"], []).append(record)
    calls = sorted({c["call"] for r in records for c in r["phones"]})
    head = (f"  {'fault':34s} {'runs':>4s} {'SIP outage s':>14s} {'SIPp failed':>12s} "
            f"{'unanswered':>11s}")
    lines = [head + "".join(f" {call + ' s':>13s}" for call in calls)]
    for fault, runs in faults.items():
        line = (f"  {fault:34s} {len(runs):4d} {spread([r['outage_s'] for r in runs]):>14s} "
                f"{spread([r['sipp_failed'] for r in runs], None):>12s} "
                f"{spread([r['sipp_calls'] - r['sipp_answered'] for r in runs], None):>11s}")
        for call in calls:
            after = [c["answered_after_s"] for r in runs for c in r["phones"]
                     if c["call"] == call]
            line += f" {spread(after):>13s}"
        lines.append(line)
    return lines


def timelines(records: list[dict]) -> list[str]:
    """Per fault, each step's seconds after the fault, in the order they came."""
    faults: dict[str, list[dict]] = {}
    for record in records:
        faults.setdefault(record["fault"], []).append(record)
    lines = []
    for fault, runs in faults.items():
        steps: dict[str, list[float]] = {}
        for run in runs:
            for name, after, _node in run.get("timeline", []):
                steps.setdefault(name, []).append(after)
        order = sorted(steps, key=lambda name: statistics.median(steps[name]))
        lines.append(f"  {fault}: " + ", ".join(f"{name} {spread(steps[name])}"
                                                for name in order))
    return lines


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="sipha-faults-") as tmp:
        figures = Path(tmp) / "figures.jsonl"
        failed_runs = sum(run_module(figures) != 0 for _ in range(RUNS))
        records = [json.loads(line) for line in figures.read_text().splitlines()] \
            if figures.exists() else []
    print(f"faults on the sid PBX cluster, {RUNS} run(s): SIP outage seen by OPTIONS (TCP) "
          "every 0.05 s; SIPp's failed calls of 40 at 2/s; each phone's call answered this long "
          "after the service answered again")
    print("\n".join(table(records)))
    print("timeline per fault, seconds after the fault (from the nodes' journals):")
    print("\n".join(timelines(records)))
    print(f"records: {keep('pbx_faults', records).relative_to(ROOT)}")
    if failed_runs:
        print(f"{failed_runs} of {RUNS} runs had failing tests: figures are partial",
              file=sys.stderr)
    return 1 if failed_runs or not records else 0


if __name__ == "__main__":
    raise SystemExit(main())
