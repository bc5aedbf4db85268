"""Two Debian 12 nodes (Pacemaker 2.1), one cluster for the whole module.

The cluster itself: formation, quorum, real fencing, fault injection from
the host, phone and trunk, the package installed from the checkout, a
rolling upgrade, the exporter.  Then SIP-HA on it: the rendered CIB installs
with `sip-ha cib apply` and crm_verify is clean; a Kamailio service
(ocf:sipha:sipserver clone) fails over on hard loss of its node, with the
phone's outage measured, and does not fail back; files, storage, alerts and
CDRs follow the service."""

from __future__ import annotations

import time

import pytest
from cluster_checks import (  # noqa: F401  (collected by pytest)
    test_fence_agent_metadata_and_list,
    test_fence_off_kills_container,
    test_fence_reboot_resets_container,
    test_fencing_configured,
    test_frozen_node_is_fenced,
    test_hard_node_loss_is_fenced,
    test_killed_pacemaker_is_recovered,
    test_network_partition_fences_isolated_node,
    test_pcs_status_all_nodes_online,
    test_quorum,
    test_service_address_answers_phone_and_fails_over,
    test_vagrant_up_all_nodes_running,
)
from metrics_checks import (  # noqa: F401  (collected by pytest)
    test_the_exporter_shows_rtt_sync_lag_replication_lag_and_the_last_outage,
)
from service_ip_checks import (  # noqa: F401  (collected by pytest)
    test_service_addresses_move_with_the_neighbour_caches_and_trunk_source,
)
from test_sipha_asterisk import assert_crm_verify_clean
from upgrade_checks import (  # noqa: F401  (collected by pytest)
    checkout_version,
    installed_versions,
    test_rolling_upgrade_one_node_at_a_time_while_the_phone_polls,
)

from sip_ha.alert import snmp
from sip_ha.install import AGENTS
from tests.support import fault_timeline
from tests.support.alertlab import AlertNetns
from tests.support.mail_receiver import MailReceiver
from tests.support.pbx_parts import DB_CNF, db_cnf, fresh_database, replicate, replication, sql
from tests.support.proxy_parts import (
    KAMAILIO,
    KAMAILIO_CFG,
    PROXY_IP,
    PROXY_ON_TWO,
    PROXY_PORT,
    PROXY_SYNC_CONFIG,
    PROXY_SYNC_DIR,
    PROXY_SYNC_SERVICE,
)
from tests.support.rsyslog import SyslogReceiver
from tests.support.sipha_cluster import TRUNK_IP, wait_until
from tests.support.sipha_service import (
    FENCED_LIMIT,
    PARAMS,
    SIP_HA,
    active,
    answers,
    fenced_failover,
    install,
    params_toml,
    phone,
    settled,
    standby_ready,
)
from tests.support.snmptrapd import TrapReceiver

CLUSTER_DIST = "bookworm"
CLUSTER_NODES = 2
CLUSTER_QDEVICE = True


def test_pacemaker_2_1(cluster):
    out = cluster.run(cluster.nodes[0], "pacemakerd", "--version").stdout
    assert out.startswith("Pacemaker 2.1"), out


def test_sip_ha_installed_from_the_checkouts_package(cluster):
    """vagrant/provision/node.sh installed build/deb's package with dpkg."""
    version = checkout_version()
    for node in cluster.nodes:
        assert installed_versions(cluster, node) == (version, version)
        agents = cluster.run(node, "crm_resource", "--list-agents", "ocf:sipha").stdout.split()
        assert set(AGENTS) <= set(agents), agents
        paths = ["/usr/lib/ocf/resource.d/sipha/sipserver",
                 "/usr/share/pacemaker/alerts/sip-ha-alert", "/usr/bin/sip-ha-sync"]
        owners = cluster.run(node, "dpkg", "-S", *paths).stdout.splitlines()
        assert sorted(owners) == sorted(f"sip-ha: {path}" for path in paths)


@pytest.fixture
def proxy(cluster):
    for node in cluster.nodes:
        cluster.run(node, "mkdir", "-p", "/etc/sip-ha")
        cluster.run(node, "tee", KAMAILIO_CFG, input=KAMAILIO)
    install(cluster, params_toml(cluster.nodes, PROXY_ON_TWO))
    settled(cluster, "proxy")
    return cluster


def test_rendered_cib_installs_on_pacemaker_2_1_and_crm_verify_is_clean(proxy):
    node = proxy.nodes[0]
    assert proxy.run(node, "pacemakerd", "--version").stdout.startswith("Pacemaker 2.1")
    rendered = proxy.run(node, SIP_HA, "cib", "render", "--params", PARAMS).stdout
    assert 'validate-with="pacemaker-3.' in rendered
    assert_crm_verify_clean(proxy, node)
    assert active(proxy, "proxy") == "node1"
    assert answers(proxy, PROXY_IP, PROXY_PORT)


def test_hard_loss_fails_over_without_failback(proxy):
    with phone(proxy, FENCED_LIMIT, PROXY_IP, PROXY_PORT) as seen:
        fenced_failover(proxy, proxy.kill_node, "node1", "node2", "proxy")
    print(f"hard loss of node1 (Kamailio, quorum device): outage {seen['outage']} s")
    print(fault_timeline.render("power cut", fault_timeline.collect(
        proxy, "proxy", seen["fault_at"], seen["answered_again_at"])))
    proxy.wait_all_online(timeout=180)
    wait_until(lambda: standby_ready(proxy, "node1", "proxy"), 120, what="node1 standby")
    time.sleep(15)
    assert active(proxy, "proxy") == "node2"


def test_a_split_where_both_halves_reach_the_quorum_device_keeps_the_sip_active_half(proxy):
    """The link between the nodes is cut while both still reach qnetd: the
    device's heuristic (holds-address, set by cib apply) gives the vote to
    the half holding the service address, node2 here, where ffsplit alone
    would pick node1 (the lower node id).  node1 is fenced, node2 never is,
    and the service never moves."""
    out = proxy.run("node1", "corosync-cmapctl", "quorum.device.heuristics.").stdout
    assert "holds-address" in out and PROXY_IP in out, out
    proxy.run("node1", SIP_HA, "failover", "--params", PARAMS, timeout=300)
    wait_until(lambda: active(proxy, "proxy") == "node2", 120, what="proxy on node2")
    settled(proxy, "proxy")
    mark = len(proxy.fence_log())
    try:
        with phone(proxy, FENCED_LIMIT, PROXY_IP, PROXY_PORT) as seen:
            for node in proxy.nodes:
                proxy.isolate(node)
            proxy.wait_fenced("node1", mark, timeout=FENCED_LIMIT)
            assert active(proxy, "proxy", node="node2") == "node2"
    finally:
        for node in proxy.nodes:
            proxy.isolate(node, False)
    fenced = [line.split()[2] for line in proxy.fence_log()[mark:] if "->" in line]
    print(f"split with both halves reaching qnetd: fenced {fenced}, "
          f"outage {seen['outage']} s")
    assert "node2" not in fenced, fenced
    proxy.wait_all_online(timeout=180)
    assert active(proxy, "proxy") == "node2"


def test_failover_history_from_every_node(proxy):
    """`sip-ha logs` on the survivor merges both nodes' journals over root ssh:
    the service starting on node1 before, the fencing of node1, the start on
    node2 after."""
    with phone(proxy, FENCED_LIMIT, PROXY_IP, PROXY_PORT):
        fenced_failover(proxy, proxy.kill_node, "node1", "node2", "proxy")
    proxy.wait_all_online(timeout=180)
    res = proxy.run("node2", SIP_HA, "logs", "--params", PARAMS, "--since", "-15min")
    assert "warning" not in res.stderr, res.stderr
    lines = res.stdout.splitlines()
    assert lines == sorted(lines, key=lambda line: line.split(" ", 1)[0])
    assert any(" node1 " in line and "start operation for proxy-ip on node1" in line
               for line in lines), res.stdout
    assert any("targeting node1" in line for line in lines), res.stdout
    assert any(" node2 " in line and "start operation for proxy-ip on node2" in line
               for line in lines), res.stdout


def test_copy_config_puts_the_files_on_every_node_and_keeps_what_it_replaces(proxy):
    edited = proxy.run("node1", "cat", PARAMS).stdout + "# edited on node1\n"
    proxy.run("node1", "tee", PARAMS, input=edited)
    proxy.run("node2", "rm", "-f", KAMAILIO_CFG)
    res = proxy.run("node1", SIP_HA, "copy-config", "--params", PARAMS)
    assert res.stdout.startswith("node2: 1 new, 1 replaced, "), res.stdout
    assert proxy.run("node2", "cat", PARAMS).stdout == edited
    assert proxy.run("node2", "cat", KAMAILIO_CFG).stdout == KAMAILIO
    backups = proxy.run("node2", "sh", "-c", f"ls {PARAMS}.sip-ha-*~").stdout.split()
    assert len(backups) == 1
    assert "# edited on node1" not in proxy.run("node2", "cat", backups[0]).stdout
    again = proxy.run("node1", SIP_HA, "copy-config", "--params", PARAMS)
    assert again.stdout.startswith("node2: 0 new, 0 replaced, "), again.stdout


def test_standby_here_moves_the_service_and_unstandby_does_not_fail_back(proxy):
    """The old tool's "disable here": `sip-ha standby` on the active node."""
    with phone(proxy, 30, PROXY_IP, PROXY_PORT) as seen:
        res = proxy.run("node1", SIP_HA, "standby", timeout=180)
        assert res.stdout == "standby: this node done\n"
        wait_until(lambda: active(proxy, "proxy") == "node2", 30, what="proxy on node2")
    print(f"sip-ha standby on node1: outage {seen['outage']} s")
    assert proxy.node_status("node2")["node1"].standby
    proxy.run("node1", SIP_HA, "unstandby", timeout=180)
    wait_until(lambda: standby_ready(proxy, "node1", "proxy"), 120, what="node1 standby")
    assert not proxy.node_status("node2")["node1"].standby
    time.sleep(10)
    assert active(proxy, "proxy") == "node2"


STORAGE_DIR = "/srv/sipha-shared"
# A tmpfs stands for the NAS export: what is checked is where and when
# Pacemaker mounts it, not what it holds.
STORAGE = f"""[service.storage]
device = "tmpfs"
directory = "{STORAGE_DIR}"
fstype = "tmpfs"
options = "size=1m"
"""


def test_the_shared_storage_is_mounted_only_where_the_service_is_sip_active(proxy):
    """[service.storage]: ocf:heartbeat:Filesystem on the SIP-ACTIVE node
    only, and it moves with the role."""
    def mounted() -> list[str]:
        return [node for node in proxy.nodes if proxy.run(
            node, "findmnt", "--noheadings", "--mountpoint", STORAGE_DIR,
            check=False).returncode == 0]
    for node in proxy.nodes:
        proxy.run(node, "mkdir", "-p", STORAGE_DIR)
    install(proxy, params_toml(proxy.nodes, PROXY_ON_TWO + STORAGE))
    wait_until(lambda: mounted() == [active(proxy, "proxy")], 60,
               what="the storage mounted on the SIP-ACTIVE node only")
    res = proxy.run("node1", SIP_HA, "failover", "--service", "proxy", "--params", PARAMS,
                    timeout=300)
    assert "failover proxy: node1 -> node2" in res.stdout, res.stdout
    wait_until(lambda: mounted() == ["node2"], 60, what="the storage moved to node2")


def _has(cluster, node: str, path: str, text: str) -> bool:
    res = cluster.run(node, "cat", path, check=False)
    return res.returncode == 0 and res.stdout == text


@pytest.fixture
def synced(cluster):
    for node in cluster.nodes:
        cluster.run(node, "mkdir", "-p", "/etc/sip-ha", PROXY_SYNC_DIR)
        cluster.run(node, "tee", KAMAILIO_CFG, input=KAMAILIO)
        cluster.run(node, "tee", "/etc/sip-ha/sync.toml", input=PROXY_SYNC_CONFIG)
    install(cluster, params_toml(cluster.nodes, PROXY_ON_TWO + PROXY_SYNC_SERVICE))
    settled(cluster, "proxy")
    yield cluster
    for node in cluster.nodes:
        cluster.run(node, "rm", "-rf", PROXY_SYNC_DIR, "/etc/sip-ha/sync.toml", check=False)


def test_files_follow_the_sip_active_role(synced):
    """A file written on the SIP-ACTIVE node reaches the standby; after a
    planned failover the new active node pushes and the old one no longer
    does; what a push replaces on the receiver is kept."""
    path = f"{PROXY_SYNC_DIR}/extensions_custom.conf"
    synced.run("node1", "tee", path, input="exten => 100,1,Answer()\n")
    wait_until(lambda: _has(synced, "node2", path, "exten => 100,1,Answer()\n"), 30,
               what="the file on node2")

    res = synced.run("node1", SIP_HA, "failover", "--service", "proxy", "--params", PARAMS,
                     timeout=300)
    assert "failover proxy: node1 -> node2" in res.stdout, res.stdout
    synced.run("node2", "tee", path, input="exten => 100,1,Hangup()\n")
    wait_until(lambda: _has(synced, "node1", path, "exten => 100,1,Hangup()\n"), 30,
               what="the change back on node1")
    kept = synced.run("node1", "grep", "-rl", "Answer()", "/var/backups/sip-ha", check=False)
    assert kept.stdout.strip(), "the replaced version was not kept on node1"

    # node1 is the standby now: what is written there stays there.
    synced.run("node1", "tee", f"{PROXY_SYNC_DIR}/standby-only.conf", input="x\n")
    time.sleep(5)
    assert synced.run("node2", "test", "-e", f"{PROXY_SYNC_DIR}/standby-only.conf",
                      check=False).returncode == 1


def test_a_file_written_in_the_last_second_of_a_planned_move_is_on_the_new_active(synced):
    """Issue #11: the old active's final push (its file sync's demote) comes
    before the new active takes the address, so a file written just before
    `sip-ha failover` is there when the move returns, without waiting."""
    path = f"{PROXY_SYNC_DIR}/last-second.conf"
    synced.run("node1", "sh", "-c", f"echo 'written last' > {path} && "
               f"{SIP_HA} failover --service proxy --params {PARAMS}", timeout=300)
    assert active(synced, "proxy") == "node2"
    assert _has(synced, "node2", path, "written last\n")


KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"


def test_failback_waits_for_the_reverse_sync_after_a_power_cut(synced, receivers):
    """Issue #11: a file written on the survivor during the outage must be on
    the returning node before `sip-ha failback` moves the service back.  With
    the survivor unable to check node1's host key, its pushes fail: status
    says why, the operator is mailed, failback is refused naming it; once
    fixed, `failback --wait` proceeds after the reverse sync (mailed too),
    and node1 pushes to node2 again."""
    smtp = receivers[0]
    install(synced, params_toml(synced.nodes, PROXY_ON_TWO + PROXY_SYNC_SERVICE + ALERTS))
    fenced_failover(synced, synced.kill_node, "node1", "node2", "proxy")
    outage = f"{PROXY_SYNC_DIR}/outage.conf"
    synced.run("node2", "tee", outage, input="written during the outage\n")
    synced.run("node2", "mv", KNOWN_HOSTS, f"{KNOWN_HOSTS}.away")
    try:
        synced.wait_all_online(timeout=180)
        wait_until(lambda: standby_ready(synced, "node1", "proxy"), 120, what="node1 standby")

        def failing() -> bool:
            status = synced.run("node2", SIP_HA, "status", "--params", PARAMS,
                                check=False).stdout
            return "file sync from node2: FAILING: " in status and \
                "Host key verification failed" in status
        wait_until(failing, 90, what="the failing sync in sip-ha status")
        mailed = wait_until(lambda: [m["Subject"] for m in smtp.messages() if
                                     "file sync of proxy from node2 to node1: FAILING"
                                     in m["Subject"]], 60, what="the failing sync mailed")
        print(f"mailed: {mailed}")
        refused = synced.run("node2", SIP_HA, "failback", "--service", "proxy",
                             "--params", PARAMS, check=False)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "file sync from node2 to node1 fails: " in refused.stderr
        assert "Host key verification failed" in refused.stderr
        assert active(synced, "proxy") == "node2"
    finally:
        synced.run("node2", "mv", f"{KNOWN_HOSTS}.away", KNOWN_HOSTS, check=False)
    res = synced.run("node2", SIP_HA, "failback", "--service", "proxy", "--wait", "180",
                     "--params", PARAMS, timeout=400)
    assert res.stdout.startswith("failback proxy: node2 -> node1"), res.stdout + res.stderr
    print(f"failback after the reverse sync: {res.stdout.strip()}; waited: {res.stderr}")
    assert _has(synced, "node1", outage, "written during the outage\n")
    wait_until(lambda: [m for m in smtp.messages() if "file sync of proxy from node2 to "
                        "node1: in sync" in m["Subject"]], 60, what="the recovery mailed")
    # the normal direction again
    synced.run("node1", "tee", f"{PROXY_SYNC_DIR}/after.conf", input="back on node1\n")
    wait_until(lambda: _has(synced, "node2", f"{PROXY_SYNC_DIR}/after.conf", "back on node1\n"),
               30, what="node1's file on node2")


ALERTS = f"""
[alerts]
recipients = ["voip-admins@example.org", "syslog:udp://{TRUNK_IP}:5514",
              "snmp://{TRUNK_IP}:1162"]
smtp_server = "{TRUNK_IP}:2525"
cluster_name = "sipha-test"
"""


@pytest.fixture
def receivers(cluster, tmp_path):
    """A mail server, rsyslogd and snmptrapd on the trunk provider's host of
    the test network (the nodes reach it: it is their gateway)."""
    trunk = AlertNetns(existing=f"{cluster.prefix}-trunk")
    for name in ("smtp", "syslog", "snmp"):
        (tmp_path / name).mkdir()
    smtp = MailReceiver(trunk, tmp_path / "smtp", host=TRUNK_IP)
    syslog = SyslogReceiver(trunk, tmp_path / "syslog", addresses=(TRUNK_IP,))
    traps = TrapReceiver(trunk, tmp_path / "snmp", addresses=(TRUNK_IP,))
    try:
        smtp.start()
        syslog.start()
        traps.start()
        yield smtp, syslog, traps
    finally:
        trunk.down()
    assert trunk.leftovers() == []


def test_a_failure_is_mailed_logged_and_trapped_by_the_node_it_happened_on(cluster,
                                                                           receivers):
    smtp, syslog, traps = receivers
    for node in cluster.nodes:
        cluster.run(node, "mkdir", "-p", "/etc/sip-ha")
        cluster.run(node, "tee", KAMAILIO_CFG, input=KAMAILIO)
    install(cluster, params_toml(cluster.nodes, PROXY_ON_TWO + ALERTS))
    settled(cluster, "proxy")
    cluster.kill_process("node1", "kamailio")
    wait_until(lambda: active(cluster, "proxy") == "node2", 60, what="proxy on node2")

    def failure_mail():
        return [m for m in smtp.messages() if "FAILED on node1" in m["Subject"]]
    [mail, *_] = wait_until(failure_mail, 60, what="the failure mailed")
    # The agent's crash watcher reports the exit at once (crm_resource --fail);
    # a monitor (every 2 s) that runs in the same moment may report it first
    # (seen once in CI).  The watcher itself: tests/integration/*crash_watch.
    assert mail["Subject"].startswith((
        "[sip-ha sipha-test] ERR: proxy-sipserver FAILED on node1: its server exited unasked",
        "[sip-ha sipha-test] ERR: proxy-sipserver monitor (every 2s) FAILED on node1: ",
    )), mail["Subject"]
    assert mail["To"] == "voip-admins@example.org"
    assert mail["From"] == "sip-ha@node1"
    assert "Resource:    proxy-sipserver\n" in mail.get_content()

    def moved_mail():
        return [m for m in smtp.messages() if m["Subject"] == (
            "[sip-ha sipha-test] NOTICE: SIP service address proxy-ip started on node2: "
            "SIP-ACTIVE there now")]
    assert wait_until(moved_mail, 60, what="the move mailed")

    def failure_logged():
        return [m for m in syslog.messages()
                if m["msgid"] == "resource" and "FAILED on node1" in m["msg"]]
    [logged, *_] = wait_until(failure_logged, 60, what="the failure in syslog")
    assert (logged["hostname"], logged["app-name"], logged["severity"]) == (
        "node1", "sip-ha-alert", "err")

    def failure_trapped():
        return [t for t in traps.traps() if t.get(snmp.PCMK_NODE_OID) == "node1"
                and t.get(snmp.PCMK_OPERATION_OID) == "asyncmon"]
    [trap, *_] = wait_until(failure_trapped, 60, what="the failure trapped")
    assert trap[snmp.PCMK_RESOURCE_OID] == "proxy-sipserver"
    assert trap[snmp.PCMK_RETURN_CODE_OID] == "1"
    # Starts and stops are below the default threshold (notice): not one was sent.
    assert not [m for m in smtp.messages() if " start on " in m["Subject"]]
    # Pacemaker 2.1 too lets the failure expire by itself (failure-timeout):
    # node1 is a standby again, nobody cleaned up, and the service stays.
    wait_until(lambda: standby_ready(cluster, "node1", "proxy"), 40,
               what="node1 a standby again by itself")
    assert active(cluster, "proxy") == "node2"


def replica_status(cluster) -> str:
    return "\n".join(
        f"{node}: " + sql(cluster, node, "SELECT @@server_id, @@log_bin, "
                                         "@@auto_increment_offset; SHOW SLAVE STATUS\\G",
                          check=False).stdout
        + cluster.run(node, "sh", "-c", "ps -eo pid,ppid,args | grep [m]ariadbd; "
                      "systemctl status mariadb | head -5", check=False).stdout
        for node in cluster.nodes)


@pytest.fixture
def cdr(cluster):
    """The Kamailio service with its CDR database: MariaDB on both nodes,
    master/master, under ocf:sipha:mysql-mm."""
    for number, node in enumerate(cluster.nodes, start=1):
        cluster.run(node, "mkdir", "-p", "/etc/sip-ha")
        cluster.run(node, "tee", KAMAILIO_CFG, input=KAMAILIO)
        cluster.run(node, "tee", DB_CNF, input=db_cnf(number))
        # Pacemaker starts MariaDB from now on, not systemd: Debian's
        # mariadb.socket would start a server with the default configuration
        # as soon as anything (the agent's probe) connects to the socket.
        cluster.run(node, "systemctl", "disable", "--now", "mariadb.socket", "mariadb.service")
        fresh_database(cluster, node)
    install(cluster, params_toml(cluster.nodes, PROXY_ON_TWO + f'[service.database]\n'
                                 f'config = "{DB_CNF}"\n'))
    settled(cluster, "proxy")
    for node in cluster.nodes:
        wait_until(lambda node=node: sql(cluster, node, "SELECT 1", check=False).stdout
                   == "1\n", 120, what=f"MariaDB on {node}")
    replicate(cluster)
    yield cluster
    for node in cluster.nodes:
        cluster.run(node, "rm", "-f", DB_CNF, check=False)


def test_cdr_rows_replicate_and_the_writable_database_follows_the_service(cdr):
    assert active(cdr, "proxy") == "node1"
    try:
        wait_until(lambda: all(replication(cdr, n, "proxy") == "ok" for n in cdr.nodes), 120,
                   what="replication ok on both nodes")
    except Exception:
        print(replica_status(cdr))
        raise
    sql(cdr, "node1", "CREATE DATABASE asteriskcdrdb; "
                      "CREATE TABLE asteriskcdrdb.cdr (id INT AUTO_INCREMENT PRIMARY KEY, "
                      "src VARCHAR(80)); "
                      "CREATE USER 'asterisk'@'localhost'; "
                      "GRANT INSERT, SELECT ON asteriskcdrdb.* TO 'asterisk'@'localhost'; "
                      "INSERT INTO asteriskcdrdb.cdr (src) VALUES ('100 on node1')")

    def rows(node):
        return sql(cdr, node, "SELECT src FROM asteriskcdrdb.cdr ORDER BY id",
                   check=False).stdout.splitlines()
    wait_until(lambda: rows("node2") == ["100 on node1"], 60, what="the row on node2")
    # The standby's copy is read-only for Asterisk's account.
    refused = sql(cdr, "node2", "INSERT INTO asteriskcdrdb.cdr (src) VALUES ('lost')",
                  user="asterisk", check=False)
    assert refused.returncode != 0 and "read-only" in refused.stderr

    # A replica in trouble (here stopped by hand) is reported, and must not
    # hold up the failover: a monitor result of 190 was recorded by Pacemaker
    # as a failure, and cancelling that monitor before the promote then
    # waited 90 s (action timeout plus cluster-delay) for a confirmation.
    sql(cdr, "node2", "STOP SLAVE")
    try:
        wait_until(lambda: replication(cdr, "node2", "proxy") == "stopped", 60,
                   what="node2's stopped replica reported")
    except Exception:
        print(cdr.describe())
        raise
    # What made Pacemaker wait: a failed-operation record for the replica's
    # monitor. Its result must be a success, however degraded the replica
    # (the monitor that published "stopped" has returned by now).
    time.sleep(2)
    failed = [f.attrib for f in cdr.crm_mon().iterfind("failures/failure")
              if f.get("op_key", "").startswith("proxy-db")]
    assert failed == [], failed
    started = time.monotonic()
    res = cdr.run("node1", SIP_HA, "failover", "--service", "proxy", "--params", PARAMS,
                  timeout=300)
    assert "failover proxy: node1 -> node2" in res.stdout, res.stdout
    wait_until(lambda: "database writable on node2" in cdr.run(
        "node2", SIP_HA, "status", "--params", PARAMS, check=False).stdout, 120,
        what="the database writable on node2")
    took = time.monotonic() - started
    print(f"failover with a stopped replica: database writable on node2 after {took:.1f} s")
    sql(cdr, "node2", "INSERT INTO asteriskcdrdb.cdr (src) VALUES ('101 on node2')",
        user="asterisk")
    wait_until(lambda: rows("node1") == ["100 on node1", "101 on node2"], 60,
               what="node2's row on node1")
    refused = sql(cdr, "node1", "INSERT INTO asteriskcdrdb.cdr (src) VALUES ('lost')",
                  user="asterisk", check=False)
    assert refused.returncode != 0 and "read-only" in refused.stderr
