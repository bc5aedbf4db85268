"""``make bench``: costs measured in one run, compared as ratios.

1. One ``monitor`` of ocf:sipha:sipserver beside the stock
   ocf:heartbeat:kamailio monitor, on the same real Kamailio, interleaved so
   that both see the same machine load.  Ours checks more (UDP and TCP
   OPTIONS in both; ours also the process state, and at depth 10 the
   control socket).  Target: ours at most half the stock agent's wall time.
2. Import cost of the monitor path against the interactive surface.
3. Asterisk monitor and hang detection against the stock agent
   (bench/asterisk_bench.py).  Target: ours at most 0.7 of the stock
   monitor's wall time.
4. File sync of one changed file against a whole-tree rsync
   (bench/sync_bench.py; BENCH_SYNC=0 leaves it out).
5. Every fault on the sid PBX cluster with real phones and SIPp
   (bench/pbx_faults.py; BENCH_CLUSTER=0 leaves it and 6 out).
6. Failover beside the stock agents, interleaved, on both cluster kinds
   (bench/failover_compare.py): table and plot in bench/results.

Each run's records go to bench/results/bench-<UTC time>.json (and
pbx_faults-<UTC time>.json), beside the earlier runs' (bench/figures.keep).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import asterisk_bench, failover_compare, pbx_faults, sync_bench  # noqa: E402
from bench.figures import keep  # noqa: E402
from tests.support.kamailio import KamailioSetup  # noqa: E402

STOCK = "/usr/lib/ocf/resource.d/heartbeat/kamailio"
RUNS = int(os.environ.get("BENCH_RUNS", "40"))
# Largest wall-time ratio ours/stock (issue #14)
SIPSERVER_TARGET = 0.5
ASTERISK_TARGET = 0.7


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall and CPU seconds (user + system of the whole process tree) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    rc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, check=False).returncode
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, rc


def summary(samples: list[tuple[float, float, int]]) -> dict[str, float]:
    walls = [s[0] * 1000 for s in samples]
    cpus = [s[1] * 1000 for s in samples]
    return {"wall_ms_median": statistics.median(walls), "wall_ms_min": min(walls),
            "cpu_ms_median": statistics.median(cpus), "failures": sum(s[2] != 0 for s in samples)}


def monitor_bench(work: Path, ocf_root: Path) -> dict[str, object]:
    kam = KamailioSetup(work / "kamailio")
    stock_env = {**os.environ, "OCF_ROOT": "/usr/lib/ocf", "OCF_RESOURCE_INSTANCE": "bench",
                 "OCF_RESKEY_conffile": str(kam.config), "OCF_RESKEY_pidfile": str(kam.pidfile),
                 "OCF_RESKEY_listen_address": "127.0.0.1", "OCF_RESKEY_port": str(kam.port),
                 "OCF_RESKEY_proto": "udptcp", "OCF_RESKEY_kamctlrc": "",
                 "OCF_RESKEY_extra_options": f"-Y {kam.folder}"}
    udp_tcp = f"sip:127.0.0.1:{kam.port} sip:127.0.0.1:{kam.port};transport=tcp"
    ours_env = kam.environ(instance="bench", sip_uris=udp_tcp)
    ours = str(ocf_root / "resource.d" / "sipha" / "sipserver")
    subprocess.run([STOCK, "start"], env=stock_env, check=True, capture_output=True)
    try:
        cases = {
            "stock ocf:heartbeat:kamailio": ([STOCK, "monitor"], stock_env),
            "ocf:sipha:sipserver depth 0": ([ours, "monitor"], ours_env),
            "ocf:sipha:sipserver depth 10": ([ours, "monitor"],
                                             {**ours_env, "OCF_CHECK_LEVEL": "10"}),
        }
        samples: dict[str, list[tuple[float, float, int]]] = {name: [] for name in cases}
        for _ in range(RUNS):
            for name, (argv, env) in cases.items():
                samples[name].append(timed(argv, env))
    finally:
        subprocess.run([STOCK, "stop"], env=stock_env, check=False, capture_output=True)
    results = {name: summary(values) for name, values in samples.items()}
    stock = results["stock ocf:heartbeat:kamailio"]
    for result in results.values():
        result["wall_ratio_to_stock"] = result["wall_ms_median"] / stock["wall_ms_median"]
        result["cpu_ratio_to_stock"] = result["cpu_ms_median"] / max(stock["cpu_ms_median"], 1e-9)
    return results


def import_bench() -> dict[str, float]:
    """Milliseconds to import what each path needs, in fresh interpreters."""
    python = sys.executable
    lean = f"import sys; sys.path.append({str(ROOT)!r}); "   # as a lean shim's monitor
    snippets = {
        "interpreter only": ("-I", "pass"),
        "interpreter without site (-IS)": ("-IS", "pass"),
        "monitor path (ocf_agents.sipserver, -IS)": ("-IS", lean + "import ocf_agents.sipserver"),
        "monitor path (ocf_agents.asterisk, -IS)": ("-IS", lean + "import ocf_agents.asterisk"),
        "interactive path (+ click)": ("-I", "import ocf_agents.sipserver, "
                                             "ocf_agents.framework.ocf_cli"),
        "meta-data path (+ lxml)": ("-I", "import ocf_agents.sipserver, lxml.etree"),
    }
    results = {}
    for name, (flags, code) in snippets.items():
        times = []
        for _ in range(15):
            started = time.perf_counter()
            subprocess.run([python, flags, "-c", code], check=True)
            times.append(time.perf_counter() - started)
        results[name] = statistics.median(times) * 1000
    return results


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="sipha-bench-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        ocf_root = work / "ocf"
        subprocess.run([str(Path(sys.executable).with_name("sip-ha")), "install-agents",
                        "--ocf-root", str(ocf_root), "--alert-dir", str(work / "alerts")],
                       check=True, capture_output=True)
        monitors = monitor_bench(work, ocf_root)
    imports = import_bench()
    asterisk = asterisk_bench.run(max(5, RUNS // 4))
    sync = sync_bench.run(max(5, RUNS // 4)) if os.environ.get("BENCH_SYNC", "1") != "0" else {}
    print(f"monitor of one Kamailio (UDP+TCP OPTIONS), {RUNS} interleaved runs each:")
    print(f"  {'agent':32s} {'wall med':>9s} {'wall min':>9s} {'cpu med':>8s} "
          f"{'wall/stock':>10s} {'cpu/stock':>9s} fails")
    for name, r in monitors.items():
        print(f"  {name:32s} {r['wall_ms_median']:7.1f}ms {r['wall_ms_min']:7.1f}ms "
              f"{r['cpu_ms_median']:6.1f}ms {r['wall_ratio_to_stock']:10.2f} "
              f"{r['cpu_ratio_to_stock']:9.2f} {int(r['failures'])}")
    print("import cost (median of 15 fresh interpreters):")
    for name, ms in imports.items():
        print(f"  {name:40s} {ms:6.1f} ms")
    print("\n".join(asterisk_bench.report(asterisk)))
    if sync:
        print("\n".join(sync_bench.report(sync)))
    saved = keep("bench", {"monitor": monitors, "imports": imports, "asterisk": asterisk,
                           "sync": sync})
    print(f"records: {saved.relative_to(ROOT)}")
    sipserver = monitors["ocf:sipha:sipserver depth 0"]["wall_ratio_to_stock"]
    ours, stock = asterisk["ocf:sipha:asterisk"], asterisk["stock ocf:heartbeat:asterisk"]
    for name, ratio, target in (
            ("sipserver", sipserver, SIPSERVER_TARGET),
            ("asterisk", ours["monitor_ms_median"] / stock["monitor_ms_median"], ASTERISK_TARGET)):
        verdict = "met" if ratio <= target else "NOT met"
        print(f"target ({name} monitor at most {target:g} of the stock agent's wall time, "
              f"now {ratio:.2f}): {verdict}")
    if os.environ.get("BENCH_CLUSTER", "1") != "0":
        faults = pbx_faults.main()
        return failover_compare.main([]) or faults
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
