"""SIP-HA's measurements (ocf_agents.framework.metrics) as Prometheus sees
them: Debian's prometheus-hacluster-exporter, run on a node, shows the
node attributes the agents publish as ha_cluster_pacemaker_node_attributes.

The service is test_sipha_bookworm's: Kamailio (ocf:sipha:sipserver) with
its file sync and its CDR database (ocf:sipha:mysql-mm), moved once by
`sip-ha failover` so that a takeover with a known outage is recorded.

Imported by the bookworm 2-node module so that it shares that cluster."""

from __future__ import annotations

import calendar
import re
import time

from tests.support.pbx_parts import DB_CNF, db_cnf, fresh_database, replicate, sql
from tests.support.proxy_parts import (
    KAMAILIO,
    KAMAILIO_CFG,
    PROXY_ON_TWO,
    PROXY_SYNC_CONFIG,
    PROXY_SYNC_DIR,
    PROXY_SYNC_SERVICE,
)
from tests.support.sipha_cluster import wait_until
from tests.support.sipha_service import PARAMS, SIP_HA, active, install, params_toml, settled

EXPORTER = "/usr/bin/ha_cluster_exporter"
# Not the package's own :9664 (its unit may run), and only on loopback.
LISTEN = "127.0.0.1:19664"
UNIT = "sipha-test-exporter"
SAMPLE = re.compile(r"^ha_cluster_pacemaker_node_attributes\{(?P<labels>[^}]*)\} 1$", re.M)
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
FETCH = ("import urllib.request; print(urllib.request.urlopen("
         f"'http://{LISTEN}/metrics', timeout=20).read().decode())")


def _service_with_sync_and_database(cluster) -> None:
    for number, node in enumerate(cluster.nodes, start=1):
        cluster.run(node, "mkdir", "-p", "/etc/sip-ha", PROXY_SYNC_DIR)
        cluster.run(node, "tee", KAMAILIO_CFG, input=KAMAILIO)
        cluster.run(node, "tee", "/etc/sip-ha/sync.toml", input=PROXY_SYNC_CONFIG)
        cluster.run(node, "tee", DB_CNF, input=db_cnf(number))
        cluster.run(node, "systemctl", "disable", "--now", "mariadb.socket", "mariadb.service")
        fresh_database(cluster, node)
    install(cluster, params_toml(cluster.nodes, PROXY_ON_TWO + PROXY_SYNC_SERVICE
                                 + f'[service.database]\nconfig = "{DB_CNF}"\n'))
    settled(cluster, "proxy")
    for node in cluster.nodes:
        wait_until(lambda node=node: sql(cluster, node, "SELECT 1", check=False).stdout
                   == "1\n", 120, what=f"MariaDB on {node}")
    replicate(cluster)


def scrape(cluster, node: str) -> dict[tuple[str, str], str]:
    """(node, attribute) -> value, as the exporter on NODE shows them."""
    cluster.run(node, "systemd-run", f"--unit={UNIT}", "--collect", EXPORTER,
                f"--web.listen-address={LISTEN}")
    try:
        text = wait_until(lambda: cluster.run(node, "python3", "-c", FETCH,
                                              check=False).stdout or None,
                          30, what="the exporter answering")
    finally:
        cluster.run(node, "systemctl", "stop", UNIT, check=False)
    found = {}
    for sample in SAMPLE.finditer(text):
        labels = dict(LABEL.findall(sample["labels"]))
        found[labels["node"], labels["name"]] = labels["value"]
    assert found, "no node attribute in the exporter's output:\n" + text[:3000]
    return found


def test_the_exporter_shows_rtt_sync_lag_replication_lag_and_the_last_outage(cluster):
    _service_with_sync_and_database(cluster)
    try:
        assert active(cluster, "proxy") == "node1"
        res = cluster.run("node1", SIP_HA, "failover", "--service", "proxy", "--params", PARAMS,
                          timeout=300)
        assert "failover proxy: node1 -> node2" in res.stdout, res.stdout
        settled(cluster, "proxy")
        moved = time.time()

        def complete():
            seen = scrape(cluster, "node1")
            wanted = [(n, "sipha-proxy-sipserver-sip-rtt-ms") for n in cluster.nodes] + [
                (n, "sipha-mysql-proxy-db-lag") for n in cluster.nodes] + [
                ("node2", "sipha-proxy-filesync-node1-sync-lag-s"),
                ("node2", "sipha-proxy-ip-last-takeover"),
                ("node2", "sipha-proxy-ip-last-outage-s")]
            return seen if all(key in seen for key in wanted) else None
        seen = wait_until(complete, 120, interval=10, what="every measurement published")
        print("SIP-HA measurements:", {f"{n} {a}": v for (n, a), v in sorted(seen.items())
                                       if a.startswith("sipha-")})
        for node in cluster.nodes:
            # Kamailio on loopback: whole milliseconds, well under the 2 s sip_timeout
            assert 0 <= int(seen[node, "sipha-proxy-sipserver-sip-rtt-ms"]) < 500
            assert 0 <= int(seen[node, "sipha-mysql-proxy-db-lag"]) < 60
        assert 0 <= int(seen["node2", "sipha-proxy-filesync-node1-sync-lag-s"]) < 300
        took_over = calendar.timegm(time.strptime(seen["node2", "sipha-proxy-ip-last-takeover"],
                                                  "%Y-%m-%dT%H:%M:%SZ"))
        assert moved - 300 < took_over <= moved + 1
        # a planned move: from the address leaving node1 to its arrival on node2
        assert 0 < float(seen["node2", "sipha-proxy-ip-last-outage-s"]) < 60
        assert ("node1", "sipha-proxy-ip-last-outage-s") not in seen
    finally:
        for node in cluster.nodes:
            cluster.run(node, "rm", "-rf", PROXY_SYNC_DIR, "/etc/sip-ha/sync.toml", DB_CNF,
                        check=False)
