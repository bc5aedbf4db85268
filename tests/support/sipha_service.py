"""A SIP-HA service in a test cluster, as the operator drives it: the
parameter file written on every node and applied with `sip-ha cib apply`,
`sip-ha status --json` read back, a phone host polling the service address,
faults that end in fencing, and real phones calling each other.  Shared by
the cluster test modules and `make demo` (vagrant/demo_pbx.py)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import tomllib
from contextlib import contextmanager
from pathlib import Path

from tests.support import fault_timeline, pbx_parts
from tests.support.pbx_parts import ROOT
from tests.support.sipha_cluster import (
    HOST_IP,
    QNETD_IP,
    SERVICE_IP,
    TRUNK_IP,
    VAGRANT_DIR,
    wait_until,
)

PARAMS = "/etc/sip-ha/cluster.toml"
SIP_HA = "/usr/bin/sip-ha"  # the Debian package's
# What a fault may cost at most, fencing included (token loss, fence,
# promote): the product's promise, failover in under 60 s.  Every fault
# test asserts its outage below it; speed itself is make bench's.
FENCED_LIMIT = 60
# Stands for the fence daemon's secret until install() writes the file.
FENCE_SECRET = "@fence-secret@"

def params_toml(nodes: list[str], services: str) -> str:
    """The parameter file of a test cluster: its nodes, the trunk provider as
    the gateway to ping, the cluster's real fence device, and SERVICES."""
    names = ", ".join(f'"{n}"' for n in nodes)
    return f"""[cluster]
nodes = [{names}]
gateways = ["{TRUNK_IP}"]
{services}
[[fencing]]
id = "sipha-fence"
agent = "fence_sipha"
targets = [{names}]
[fencing.options]
ipaddr = "{HOST_IP}"
ipport = "{os.environ.get("SIPHA_FENCE_PORT", "7410")}"
passwd = "{FENCE_SECRET}"
"""


# The example's [alerts] as a test cluster has them: mail to the SMTP server
# on the trunk provider's host (tests.support.mail_receiver), cluster "demo".
TEST_ALERTS = {"recipients": ["voip-admins@example.org"], "smtp_server": f"{TRUNK_IP}:2525",
               "cluster_name": "demo"}
EXAMPLE = Path(__file__).resolve().parents[2] / "cib_templates" / "example.toml"
PBX = f"""
[[service]]
name = "pbx"
server = "asterisk"
preferred_node = "node1"
nodes = ["node1", "node2"]
ip = ["{SERVICE_IP}/24"]
trunk_networks = ["{TRUNK_IP}"]
[service.options]
config = "{ROOT}/asterisk.conf"
sip_uris = ["sip:127.0.0.1", "sip:127.0.0.1;transport=tcp"]
sip_timeout = "1s"
control_timeout = "2s"
# A planned move waits this long for calls (SIPp's keep coming) with the
# address still up, then switches.
drain_timeout = "5s"
"""


def install(cluster, text: str) -> None:
    """Write the parameter file on every node and apply it from the first.
    A cluster with a quorum device names it (and so runs without the
    two-node fencing delay)."""
    text = text.replace(FENCE_SECRET, cluster.fence_secret())
    if cluster.qdevice and "quorum_device" not in text:
        text = text.replace("[cluster]\n", f'[cluster]\nquorum_device = "{QNETD_IP}"\n', 1)
    for node in cluster.nodes:
        cluster.run(node, "mkdir", "-p", os.path.dirname(PARAMS))
        cluster.run(node, "sh", "-c", f"umask 077; cat >{PARAMS}", input=text)  # secrets
    cluster.run(cluster.nodes[0], SIP_HA, "cib", "apply", "--params", PARAMS, timeout=180)


def status(cluster, node: str | None = None) -> dict:
    node = node or cluster.running_nodes()[0]
    res = cluster.run(node, SIP_HA, "status", "--json", "--params", PARAMS, check=False)
    assert res.returncode in (0, 5), res.stderr
    return json.loads(res.stdout)


def service(cluster, name: str = "pbx", node: str | None = None) -> dict:
    return next(s for s in status(cluster, node)["services"] if s["name"] == name)


def active(cluster, name: str = "pbx", node: str | None = None) -> str | None:
    return service(cluster, name, node)["active_node"]


def standby_ready(cluster, node: str, name: str = "pbx", state: dict | None = None) -> bool:
    """NODE runs a healthy hot standby and reaches every gateway."""
    state = state or service(cluster, name)
    health = {n["node"]: n for n in state["nodes"]}[node]
    return (health["healthy"] and health["role"] in ("Unpromoted", "Started")
            and health["gateways"] == state["gateway_count"])


def settled(cluster, name: str = "pbx") -> str:
    """Wait until NAME is SIP-ACTIVE somewhere and every other node is a hot
    standby that has measured its gateways again (the ping attribute of a
    node that was partitioned or fenced reads 0 until its next measurement)."""
    def check():
        state = service(cluster, name)
        node = state["active_node"]
        if not node:
            return None
        others = [n["node"] for n in state["nodes"] if n["node"] != node]
        return node if all(standby_ready(cluster, n, name, state) for n in others) else None
    return wait_until(check, 180, what=f"{name} active with every standby ready")


class Probe:
    """A phone polling SIP OPTIONS (TCP) on an address from the phone host."""

    def __init__(self, cluster, address: str, port: int) -> None:
        self.stop_file = os.path.join(cluster.state_dir, f"probe-{os.getpid()}.stop")
        if os.path.exists(self.stop_file):
            os.unlink(self.stop_file)
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", f"{cluster.prefix}-phone", "python3",
             os.path.join(VAGRANT_DIR, "sip", "sipsim.py"), "probe", "--to", address,
             "--port", str(port), "--tcp", "--interval", "0.05", "--timeout", "0.5",
             "--duration", "600", "--until-file", self.stop_file],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self) -> dict:
        with open(self.stop_file, "w"):
            pass
        out, _ = self.proc.communicate(timeout=30)
        os.unlink(self.stop_file)
        print(out)
        return json.loads(out.strip().splitlines()[-1])


def answers(cluster, address: str = SERVICE_IP, port: int = 5060) -> bool:
    """One SIP OPTIONS over TCP from the phone host gets an answer."""
    res = cluster.sipsim("phone", "options", "--to", address, "--port", str(port), "--tcp")
    return res.returncode == 0


@contextmanager
def phone(cluster, limit: float, address: str = SERVICE_IP, port: int = 5060):
    """Measure the outage the phone sees during the block; assert it finite
    and below LIMIT seconds.  Yields a dict that gets 'outage' afterwards."""
    assert answers(cluster, address, port), "no answer before the fault"
    probe = Probe(cluster, address, port)
    result: dict = {}
    try:
        time.sleep(1)
        result["fault_at"] = time.time()
        yield result
        wait_until(lambda: answers(cluster, address, port), limit,
                   what=f"{address} answering again")
        time.sleep(2)
    finally:
        summary = probe.stop()
    result["outage"] = summary["longest_outage_s"]
    result["answered_again_at"] = summary["answered_again_at"]
    assert not summary["still_down"], summary
    assert summary["answered"] > 0, summary
    assert result["outage"] < limit, summary



def other(cluster, node: str) -> str:
    return next(n for n in cluster.nodes if n != node)



def fenced_failover(cluster, fault, lost: str, survivor: str, name: str = "pbx") -> None:
    """Inject FAULT into LOST; wait until it is fenced and NAME is SIP-ACTIVE
    on SURVIVOR (asked there: the lost node may not answer)."""
    mark = len(cluster.fence_log())
    fault(lost)
    cluster.wait_fenced(lost, mark, timeout=FENCED_LIMIT)
    wait_until(lambda: active(cluster, name, node=survivor) == survivor, FENCED_LIMIT,
               what=f"{name} on {survivor}")



def call_until_answered(cluster, phones: dict, caller: str, callee: str,
                        limit: float) -> tuple[float, str]:
    """Seconds until a call from CALLER to extension CALLEE is answered (the
    callee answers by itself), and the outcome, with the failed tries before
    it; calls again until LIMIT."""
    started = time.monotonic()
    failed: list[str] = []
    while True:
        outcome = phones[caller].call(f"sip:{callee}@{SERVICE_IP}", timeout=10)
        if outcome.answered:
            phones[caller].hangup(outcome.call)
            return time.monotonic() - started, "; ".join([*failed, str(outcome)])
        failed.append(f"+{time.monotonic() - started:.1f} s {outcome}")
        if time.monotonic() - started > limit:
            node = active(cluster)
            report = pbx_parts.asterisk(cluster, node, ROOT, "pjsip show contacts") if node else ""
            report += cluster.run(node or cluster.nodes[0], "tail", "-30",
                                  f"{ROOT}/log/messages", check=False).stdout
            raise AssertionError(
                f"no call from {caller} to {callee} answered within {limit} s: {outcome}\n"
                f"{report}\n{caller}: {phones[caller].log()[-1500:]}\n"
                f"{callee}: {phones[callee].log()[-1500:]}")
        time.sleep(0.5)


def whole_pbx_params(nodes: list[str], alerts: dict | None = None) -> str:
    """The documented example parameter file (cib_templates/example.toml),
    so that what users copy is what the cluster tests run, with only what a
    test cluster must change: its nodes and addresses, the Asterisk under
    ROOT, the database's option file, its fence device, the alert
    recipients (ALERTS: [alerts] keys replacing the example's; none: no
    alerts), and the extras the box does not have."""
    with open(EXAMPLE, "rb") as fh:
        params = tomllib.load(fh)
    params["cluster"].update(nodes=nodes, gateways=[TRUNK_IP])
    (pbx,) = params["service"]
    pbx.update(ip=[f"{SERVICE_IP}/24"], trunk_networks=[TRUNK_IP])
    pbx["options"].update(config=f"{ROOT}/asterisk.conf", sip_timeout="1s",
                          control_timeout="2s",
                          sip_uris=["sip:127.0.0.1", "sip:127.0.0.1;transport=tcp"])
    assert pbx["options"]["ami_secret_file"] == pbx_parts.AMI_SECRET_FILE
    assert pbx["sync"]["config"] == pbx_parts.SYNC_TOML
    pbx["database"]["config"] = pbx_parts.DB_CNF
    pbx["extra"] = [x for x in pbx["extra"] if x["agent"] != "systemd:tftpd-hpa"]  # not boxed
    params["fencing"] = [{"id": "sipha-fence", "agent": "fence_sipha", "targets": nodes,
                          "options": {"ipaddr": HOST_IP,
                                      "ipport": os.environ.get("SIPHA_FENCE_PORT", "7410"),
                                      "passwd": FENCE_SECRET}}]
    if alerts is None:
        del params["alerts"]
    else:
        params["alerts"].update(alerts)
    return toml_text(params)


def toml_text(data: dict, prefix: str = "") -> str:
    """DATA as TOML (the parameter file's types: strings, numbers, booleans,
    lists of those, tables and arrays of tables)."""
    def value(item) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, (int, float)):
            return str(item)
        if isinstance(item, str):
            return json.dumps(item)
        return "[" + ", ".join(value(i) for i in item) + "]"

    def is_tables(item) -> bool:
        return isinstance(item, list) and bool(item) and all(isinstance(i, dict) for i in item)
    lines = [f"{key} = {value(item)}" for key, item in data.items()
             if not isinstance(item, dict) and not is_tables(item)]
    for key, item in data.items():
        if isinstance(item, dict):
            lines += [f"[{prefix}{key}]", toml_text(item, f"{prefix}{key}.")]
        elif is_tables(item):
            for table in item:
                lines += [f"[[{prefix}{key}]]", toml_text(table, f"{prefix}{key}.")]
    return "\n".join(line for line in lines if line) + "\n"


def install_whole_pbx(cluster, alerts: dict | None = None) -> str:
    """The example's PBX (whole_pbx_params): Asterisk with its CDR database,
    file sync and web GUI, on nodes that have the Asterisk files
    (pbx_parts.install_asterisk_files).  Returns the SIP-ACTIVE node."""
    pbx_parts.prepare_nodes(cluster, ROOT)
    install(cluster, whole_pbx_params(cluster.nodes, alerts))
    first = settled(cluster)
    try:
        for node in cluster.nodes:
            wait_until(lambda node=node: pbx_parts.sql(cluster, node, "SELECT 1",
                                                       check=False).stdout == "1\n",
                       120, what=f"MariaDB on {node}")
    except Exception:
        for node in cluster.nodes:
            res = pbx_parts.sql(cluster, node, "SELECT 1", check=False)
            print(node, res.returncode, res.stdout, res.stderr)
            print(cluster.run(node, "sh", "-c", "ps -eo pid,user,args | grep [m]ariadbd; "
                              "ls -l /run/mysqld /var/lib/mysql | head -20",
                              check=False).stdout)
        raise
    pbx_parts.replicate(cluster)
    wait_until(lambda: service(cluster)["database_node"] == first, 120,
               what=f"the database writable on {first}")
    # Until a monitor has seen it, each replica reads "unconfigured".
    wait_until(lambda: all(pbx_parts.replication(cluster, n) == "ok" for n in cluster.nodes),
               120, what="replication ok on both nodes")
    pbx_parts.sql(cluster, first, pbx_parts.CDR_TABLE)
    for node in cluster.nodes:
        wait_until(lambda node=node: pbx_parts.sql(cluster, node, "SELECT COUNT(*) FROM "
                                         "asteriskcdrdb.cdr", check=False).returncode == 0,
                   60, what=f"the CDR table on {node}")
        # Asterisk started before the table existed: load the CDR backend again.
        pbx_parts.asterisk(cluster, node, ROOT, "module reload res_odbc.so cdr_adaptive_odbc.so")
    return first


# SIPp's calls per fault: 2 calls/s for 20 s, longer than any fault's outage.
SIPP_RATE = 2
SIPP_CALLS = 40


@contextmanager
def clients_through(cluster, phones: dict, stack, fault: str, limit: float,
                    planned: bool = False):
    """Real clients through the fault in the block: SIPp calls the PBX at
    SIPP_RATE while a phone host polls OPTIONS (phone()); afterwards each
    softphone, never restarted, calls the other.  Prints every figure and
    asserts the bounds; yields phone()'s result dict.  PLANNED (a move the
    operator asked for): every call placed during it is answered; only calls
    still up when the drain ends may be cut."""
    load = pbx_parts.sipp(cluster, stack, rate=SIPP_RATE, calls=SIPP_CALLS)
    load.start()
    with phone(cluster, limit) as seen:
        yield seen
    back = time.monotonic()
    calls = []
    for caller, callee in pbx_parts.CALLS:
        took, outcome = call_until_answered(cluster, phones, caller, callee, limit)
        kinds = f"{pbx_parts.PHONES[caller][0]} -> {pbx_parts.PHONES[callee][0]}"
        after = time.monotonic() - back
        calls.append({"call": kinds, "answered_after_s": round(after, 1),
                      "calling_s": round(took, 1)})
        print(f"{fault}: phone {caller} calls {callee} ({kinds}): answered "
              f"{after:.1f} s after the service answered again "
              f"({took:.1f} s of calling{': ' + outcome if took > 1 else ''})")
    figures = load.wait()
    print(f"{fault}: SIP outage {seen['outage']} s; {figures}")
    steps = fault_timeline.collect(cluster, "pbx", seen["fault_at"], seen["answered_again_at"])
    print(fault_timeline.render(fault, steps))
    record_figures({"fault": fault, "outage_s": seen["outage"], "sipp_calls": figures.created,
                    "sipp_answered": figures.answered, "sipp_failed": figures.failed,
                    "phones": calls,
                    "timeline": [[s.name, s.after_s, s.node] for s in steps]})
    # Calls up when the fault hit, and those placed while nothing answered
    # (each waits pbx_parts' 5 s receive timeout), may fail; no more.
    bound = int(SIPP_RATE * (seen["outage"] + 5 + 2)) + 2
    assert figures.successful > 0 and figures.failed <= bound, (bound, load.errors())
    if planned:
        assert figures.answered == figures.created, load.errors()


def record_figures(figures: dict) -> None:
    """One fault's figures, as a JSON line appended to $SIPHA_FIGURES when
    set: `make bench` (bench/pbx_faults.py) collects them into its table."""
    path = os.environ.get("SIPHA_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(figures) + "\n")


def edit_on_the_active(cluster, active_node: str, standby: str, cookie: str) -> float:
    """The administrator adds extension 750 on ACTIVE_NODE and reloads the
    dialplan there; wait until STANDBY's Asterisk has it loaded and the web
    session of COOKIE is on STANDBY too.  Returns the seconds until loaded."""
    cluster.run(active_node, "sh", "-c", "printf 'exten => 750,1,Answer()\\n"
                " same => n,Hangup()\\n' " f">>{ROOT}/etc/extensions.conf")
    pbx_parts.asterisk(cluster, active_node, ROOT, "dialplan reload")
    started = time.monotonic()
    wait_until(lambda: "'750'" in pbx_parts.asterisk(cluster, standby, ROOT,
                                                     "dialplan show 750@phones"),
               60, what="the edited dialplan loaded on the standby")
    took = time.monotonic() - started
    session = cookie.split("=", 1)[1]
    wait_until(lambda: cluster.run(standby, "test", "-s", f"{pbx_parts.SESSIONS}/sess_{session}",
                                   check=False).returncode == 0, 30,
               what="the web session on the standby")
    return took
