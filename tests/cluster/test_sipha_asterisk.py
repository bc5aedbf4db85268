"""The whole SIP-HA cluster on two sid nodes (Pacemaker 3.0, Asterisk 22),
installed with `sip-ha cib apply` from a parameter file, with a phone
polling SIP OPTIONS on the service address through every fault:
hard loss of the active node, Asterisk crash, Asterisk hang, gateway lost
from the active node, network partition of the active node, manual failover
with `sip-ha failover` and with `pcs resource move`, failback refused while
the old master is not ready and accepted after, and no automatic failback.
Each scenario measures the outage the phone saw and asserts it finite."""

from __future__ import annotations

import json
import os
import subprocess
import time
from contextlib import ExitStack, contextmanager

import pbx_parts
import pytest
from asterisk_checks import ROOT, asterisk_files  # noqa: F401  (module fixture)
from pbx_parts import asterisk, cdr_rows, sql, web
from sipha_cluster import HOST_IP, SERVICE_IP, TRUNK_IP, VAGRANT_DIR, ClusterError, wait_until

CLUSTER_DIST = "sid"
CLUSTER_NODES = 2
PARAMS = "/etc/sip-ha/cluster.toml"
SIP_HA = "/usr/local/sbin/sip-ha"
CLONE = "pbx-asterisk-clone"
# What a fault may cost at most, fencing included (token loss, fence, promote).
FENCED_LIMIT = 90
LOCAL_LIMIT = 45
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
"""


def install(cluster, text: str) -> None:
    """Write the parameter file on every node and apply it from the first."""
    text = text.replace(FENCE_SECRET, cluster.fence_secret())
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
             "--port", str(port), "--tcp", "--interval", "0.2", "--timeout", "0.5",
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
        yield result
        wait_until(lambda: answers(cluster, address, port), limit,
                   what=f"{address} answering again")
        time.sleep(2)
    finally:
        summary = probe.stop()
    result["outage"] = summary["longest_outage_s"]
    assert not summary["still_down"], summary
    assert summary["answered"] > 0, summary
    assert result["outage"] < limit, summary


@pytest.fixture
def pbx(cluster, asterisk_files):  # noqa: F811
    install(cluster, params_toml(cluster.nodes, PBX))
    settled(cluster)
    return cluster


def other(cluster, node: str) -> str:
    return next(n for n in cluster.nodes if n != node)


def assert_crm_verify_clean(cluster, node: str) -> None:
    """crm_verify on the live cluster: nothing but the deprecation warning
    Pacemaker 3.0 gives for stonith-enabled, which the test cluster's own
    setup (provision/cluster.sh) sets under that name."""
    verify = cluster.run(node, "crm_verify", "--live-check", "-V", check=False)
    lines = [line for line in (verify.stderr + verify.stdout).splitlines() if line.strip()
             and "legacy name 'stonith-enabled'" not in line
             and "may need attention" not in line]
    assert lines == [], verify.stderr


def test_rendered_cib_installs_and_crm_verify_is_clean(pbx):
    node = pbx.nodes[0]
    assert pbx.run(node, "pacemakerd", "--version").stdout.startswith("Pacemaker 3.")
    rendered = pbx.run(node, SIP_HA, "cib", "render", "--params", PARAMS).stdout
    assert 'validate-with="pacemaker-4.' in rendered
    assert_crm_verify_clean(pbx, node)
    diff = pbx.run(node, SIP_HA, "cib", "diff", "--params", PARAMS).stdout
    assert diff == "the cluster already runs this configuration\n"
    assert active(pbx) == "node1"      # the preferred node
    assert answers(pbx)


def fenced_failover(cluster, fault, lost: str, survivor: str, name: str = "pbx") -> None:
    """Inject FAULT into LOST; wait until it is fenced and NAME is SIP-ACTIVE
    on SURVIVOR (asked there: the lost node may not answer)."""
    mark = len(cluster.fence_log())
    fault(lost)
    cluster.wait_fenced(lost, mark, timeout=FENCED_LIMIT)
    wait_until(lambda: active(cluster, name, node=survivor) == survivor, FENCED_LIMIT,
               what=f"{name} on {survivor}")


def test_hard_loss_of_the_active_node_is_fenced_and_never_failed_back(pbx):
    old = active(pbx)
    new = other(pbx, old)
    with phone(pbx, FENCED_LIMIT) as seen:
        fenced_failover(pbx, pbx.kill_node, old, new)
    print(f"hard loss of {old}: outage {seen['outage']} s")
    # The old master reboots (fence action reboot) and comes back as a healthy
    # standby; the service stays where it is.
    pbx.wait_all_online(timeout=180)
    wait_until(lambda: standby_ready(pbx, old), 120, what=f"{old} a healthy standby")
    time.sleep(15)
    assert active(pbx) == new


def test_asterisk_crash_fails_over(pbx):
    old = active(pbx)
    with phone(pbx, LOCAL_LIMIT) as seen:
        pbx.kill_process(old, "asterisk")
        wait_until(lambda: active(pbx) == other(pbx, old), LOCAL_LIMIT, what="failover")
    print(f"asterisk crash on {old}: outage {seen['outage']} s")


def test_asterisk_hang_fails_over(pbx):
    old = active(pbx)
    with phone(pbx, LOCAL_LIMIT) as seen:
        pbx.kill_process(old, "asterisk", sig=19)  # SIGSTOP: alive, answering nothing
        wait_until(lambda: active(pbx) == other(pbx, old), LOCAL_LIMIT, what="failover")
    print(f"asterisk hang on {old}: outage {seen['outage']} s")


def test_gateway_lost_from_the_active_node_moves_the_service(pbx):
    old = active(pbx)
    block = ["ip", "rule", "add", "prohibit", "to", TRUNK_IP, "priority", "90"]
    try:
        with phone(pbx, LOCAL_LIMIT) as seen:
            pbx.run(old, *block)
            wait_until(lambda: active(pbx) == other(pbx, old), LOCAL_LIMIT,
                       what="failover after the gateway loss")
        print(f"gateway lost on {old}: outage {seen['outage']} s")
        # Asterisk keeps running there as a standby.
        assert {n["node"]: n["role"] for n in service(pbx)["nodes"]}[old] == "Unpromoted"
        state = status(pbx)
        assert any(f"{old} reaches 0 of 1 gateway" in note for note in state["needs_attention"])
    finally:
        pbx.run(old, "ip", "rule", "del", *block[3:], check=False)


def test_network_partition_of_the_active_node(pbx):
    old = active(pbx)
    new = other(pbx, old)
    with phone(pbx, FENCED_LIMIT) as seen:
        fenced_failover(pbx, pbx.partition, old, new)
    print(f"partition of {old}: outage {seen['outage']} s")


def test_manual_failover_with_sip_ha(pbx):
    old = active(pbx)
    with phone(pbx, LOCAL_LIMIT) as seen:
        res = pbx.run(old, SIP_HA, "failover", "--params", PARAMS, timeout=300)
    new = other(pbx, old)
    assert res.stdout.startswith(f"failover pbx: {old} -> {new}, SIP-ACTIVE after "), res.stdout
    assert "SIP outage" in res.stdout
    print(f"sip-ha failover: {res.stdout.strip()}; phone outage {seen['outage']} s")
    assert "cli-" not in pbx.run(new, "cibadmin", "--query", "--scope", "constraints").stdout
    time.sleep(10)
    assert active(pbx) == new       # stickiness holds without a constraint


def test_manual_failover_with_pcs_resource_move(pbx):
    old = active(pbx)
    new = other(pbx, old)
    with phone(pbx, LOCAL_LIMIT) as seen:
        pbx.run(old, "pcs", "resource", "move", CLONE, new, "--promoted", timeout=180)
        wait_until(lambda: active(pbx) == new, LOCAL_LIMIT, what="the move")
    pbx.run(old, "pcs", "resource", "clear", CLONE, check=False)
    print(f"pcs resource move: outage {seen['outage']} s")
    time.sleep(10)
    assert active(pbx) == new


def test_failback_refused_until_the_old_master_is_ready_then_accepted(pbx):
    old = active(pbx)
    new = other(pbx, old)
    fenced_failover(pbx, pbx.kill_node, old, new)
    # While the old master is away or not yet a healthy standby: refused.
    # (The old master is named: the service may have started on either node.)
    failback = [SIP_HA, "failback", "--to", old, "--params", PARAMS]
    res = pbx.run(new, *failback, check=False)
    assert res.returncode == 3, res.stdout + res.stderr
    assert f"not moving pbx to {old}" in res.stderr
    assert active(pbx, node=new) == new
    pbx.wait_all_online(timeout=180)
    wait_until(lambda: standby_ready(pbx, old), 120, what=f"{old} a healthy standby")
    assert active(pbx) == new                  # no automatic failback
    with phone(pbx, LOCAL_LIMIT) as seen:
        res = pbx.run(new, *failback, timeout=300)
    assert res.stdout.startswith(f"failback pbx: {new} -> {old}"), res.stdout
    print(f"failback: {res.stdout.strip()}; phone outage {seen['outage']} s")
    time.sleep(10)
    assert active(pbx) == old
    history = pbx.run(new, SIP_HA, "logs", "--params", PARAMS, "--since", "-1h",
                      check=False).stdout
    assert "SIP-HA: failback pbx" in history


@pytest.fixture
def whole_pbx(cluster, asterisk_files):  # noqa: F811
    """Asterisk with its CDR database, file sync and web GUI, as one service."""
    pbx_parts.prepare_nodes(cluster, ROOT)
    install(cluster, params_toml(cluster.nodes, PBX + pbx_parts.asterisk_options()
                                 + pbx_parts.services()))
    first = settled(cluster)
    try:
        for node in cluster.nodes:
            wait_until(lambda node=node: sql(cluster, node, "SELECT 1", check=False).stdout
                       == "1\n", 120, what=f"MariaDB on {node}")
    except Exception:
        for node in cluster.nodes:
            res = sql(cluster, node, "SELECT 1", check=False)
            print(node, res.returncode, res.stdout, res.stderr)
            print(cluster.run(node, "sh", "-c", "ps -eo pid,user,args | grep [m]ariadbd; "
                              "ls -l /run/mysqld /var/lib/mysql | head -20",
                              check=False).stdout)
        raise
    pbx_parts.replicate(cluster)
    wait_until(lambda: service(cluster)["database_node"] == first, 120,
               what=f"the database writable on {first}")
    # Until a monitor has seen it, each replica's last result is "unconfigured"
    # (190, degraded), which changes how Pacemaker cancels that monitor.
    wait_until(lambda: all(pbx_parts.replication(cluster, n) == "ok" for n in cluster.nodes),
               120, what="replication ok on both nodes")
    sql(cluster, first, pbx_parts.CDR_TABLE)
    for node in cluster.nodes:
        wait_until(lambda node=node: sql(cluster, node, "SELECT COUNT(*) FROM "
                                         "asteriskcdrdb.cdr", check=False).returncode == 0,
                   60, what=f"the CDR table on {node}")
        # Asterisk started before the table existed: load the CDR backend again.
        asterisk(cluster, node, ROOT, "module reload res_odbc.so cdr_adaptive_odbc.so")
    yield cluster
    cluster.wait_all_online(timeout=240)   # a fenced node reboots first
    pbx_parts.cleanup(cluster, ROOT)
    for node in cluster.nodes:
        for name, text in asterisk_files.items():
            if name.startswith("etc/"):
                cluster.run(node, "tee", f"{ROOT}/{name}", input=text, check=False)


def call_until_answered(cluster, phones: dict, caller: str, callee: str,
                        limit: float) -> tuple[float, str]:
    """Seconds until a call from CALLER to extension CALLEE is answered (the
    callee answers by itself), and the outcome; calls again until LIMIT."""
    started = time.monotonic()
    while True:
        outcome = phones[caller].call(f"sip:{callee}@{SERVICE_IP}", timeout=10)
        if outcome.answered:
            phones[caller].hangup(outcome.call)
            return time.monotonic() - started, str(outcome)
        if time.monotonic() - started > limit:
            node = active(cluster)
            report = asterisk(cluster, node, ROOT, "pjsip show contacts") if node else ""
            report += cluster.run(node or cluster.nodes[0], "tail", "-30",
                                  f"{ROOT}/log/messages", check=False).stdout
            raise AssertionError(
                f"no call from {caller} to {callee} answered within {limit} s: {outcome}\n"
                f"{report}\n{caller}: {phones[caller].log()[-1500:]}\n"
                f"{callee}: {phones[callee].log()[-1500:]}")
        time.sleep(0.5)


@pytest.mark.xfail(
    raises=ClusterError, strict=False,
    reason="known, open: in 4 of 7 runs the survivor's transition after the power cut "
           "waited 90 s for the cancellation of the replica's in-flight recurring "
           "monitor (pbx-db_monitor_31000) before promoting anything, so the service "
           "was not back within the fencing limit; every other assertion still fails")
def test_the_whole_pbx_survives_a_power_cut(whole_pbx):
    """A dialplan edit on the active is live on the new active after a power
    cut; the phones, never restarted, call each other; the CDR of the call
    before the cut is there and the new active writes its own; the web
    GUI's session is still logged in.  SIPp calls throughout."""
    pbx = whole_pbx
    old = active(pbx)
    new = other(pbx, old)
    stack = ExitStack()
    with stack:
        phones = pbx_parts.start_phones(pbx, stack)
        for caller, callee in (("100", "101"), ("101", "100")):
            took, outcome = call_until_answered(pbx, phones, caller, callee, 10)
            print(f"before: {caller} -> {callee}: {outcome} ({took:.1f} s of calling)")
        body, cookie = web(pbx, "?login=operator")
        assert body == f"logged in as operator ({old})", body
        asterisk(pbx, old, ROOT, "channel originate Local/600@phones application Hangup")
        wait_until(lambda: any(row.startswith("600 ") for row in cdr_rows(pbx, new)), 60,
                   what="the CDR of the call on the active, replicated to the standby")
        before = cdr_rows(pbx, old)

        pbx.run(old, "sh", "-c", "printf 'exten => 750,1,Answer()\\n same => n,Hangup()\\n' "
                                 f">>{ROOT}/etc/extensions.conf")
        asterisk(pbx, old, ROOT, "dialplan reload")   # the administrator, on the active
        started = time.monotonic()
        wait_until(lambda: "'750'" in asterisk(pbx, new, ROOT, "dialplan show 750@phones"),
                   60, what="the edited dialplan loaded on the standby")
        print(f"dialplan edit on {old} loaded on {new} after "
              f"{time.monotonic() - started:.1f} s")
        session = cookie.split("=", 1)[1]
        wait_until(lambda: pbx.run(new, "test", "-s", f"{pbx_parts.SESSIONS}/sess_{session}",
                                   check=False).returncode == 0, 30,
                   what="the web session on the standby")

        load = pbx_parts.sipp(pbx, stack, rate=2, calls=120)
        load.start()
        with phone(pbx, FENCED_LIMIT) as seen:
            fenced_failover(pbx, pbx.kill_node, old, new)
        back = time.monotonic()
        print(f"power cut of {old}: SIP outage {seen['outage']} s")
        for caller, callee in (("100", "101"), ("101", "100")):
            took, outcome = call_until_answered(pbx, phones, caller, callee, 60)
            print(f"after: {caller} ({pbx_parts.PHONES[caller][0]}) -> {callee} "
                  f"({pbx_parts.PHONES[callee][0]}) answered "
                  f"{time.monotonic() - back:.1f} s after the service answered again, "
                  f"{took:.1f} s of calling ({outcome})")
        figures = load.wait()
        print(f"SIPp through the power cut ({' '.join(load.argv()[1:2])}, 2 calls/s): "
              f"{figures}")
        assert figures.created > 0 and figures.successful > 0, load.errors()

    assert "'750'" in asterisk(pbx, new, ROOT, "dialplan show 750@phones")
    # The replica's in-flight monitor can hold its promote back (README).
    wait_until(lambda: service(pbx, node=new)["database_node"] == new, 180,
               what=f"the database writable on {new}")
    asterisk(pbx, new, ROOT, "channel originate Local/750@phones application Hangup")
    wait_until(lambda: any(row.startswith("750 ") for row in cdr_rows(pbx, new)), 60,
               what="the new active's CDR")
    after = cdr_rows(pbx, new)
    assert after[:len(before)] == before, (before, after)
    print(f"CDRs on {new}: {len(before)} before the cut, {len(after)} now")
    body = wait_until(lambda: web(pbx, cookie=cookie)[0] or None, 60,
                      what="the web GUI on the new active")
    assert body == f"logged in as operator ({new})", body
