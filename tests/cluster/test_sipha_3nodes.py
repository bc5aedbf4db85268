"""Three sid nodes: formation, quorum with three votes, fencing of a lost node
while the other two keep quorum; then two independent SIP services spread
over them, each with its own address and preferred node: Asterisk `pbx` on
node1/node2 (preferred node1) and Kamailio `proxy` on node2/node3 (preferred
node3). Losing a node moves only the service that was active there; the
other keeps answering."""

from __future__ import annotations

import pytest
from asterisk_checks import asterisk_files  # noqa: F401  (module fixture)
from cluster_checks import (  # noqa: F401  (collected by pytest)
    test_fencing_configured,
    test_hard_node_loss_is_fenced,
    test_pcs_status_all_nodes_online,
    test_quorum,
    test_vagrant_up_all_nodes_running,
)

from tests.support.proxy_parts import KAMAILIO, KAMAILIO_CFG, PROXY, PROXY_IP, PROXY_PORT
from tests.support.sipha_service import (
    FENCED_LIMIT,
    PBX,
    active,
    answers,
    fenced_failover,
    install,
    params_toml,
    phone,
    settled,
)

CLUSTER_DIST = "sid"
CLUSTER_NODES = 3


@pytest.fixture
def spread(cluster, asterisk_files):  # noqa: F811
    for node in cluster.nodes:
        cluster.run(node, "mkdir", "-p", "/etc/sip-ha")
        cluster.run(node, "tee", KAMAILIO_CFG, input=KAMAILIO)
    install(cluster, params_toml(cluster.nodes, PBX + PROXY))
    settled(cluster, "pbx")
    settled(cluster, "proxy")
    return cluster


def test_two_services_spread_over_three_nodes(spread):
    assert active(spread, "pbx") == "node1"
    assert active(spread, "proxy") == "node3"
    assert answers(spread, PROXY_IP, PROXY_PORT)


def test_losing_a_node_moves_only_its_service(spread):
    with phone(spread, 2, PROXY_IP, PROXY_PORT) as proxy_seen, \
            phone(spread, FENCED_LIMIT) as pbx_seen:
        fenced_failover(spread, spread.kill_node, "node1", "node2", "pbx")
    assert active(spread, "proxy", node="node2") == "node3"
    print(f"node1 lost: pbx outage {pbx_seen['outage']} s, proxy {proxy_seen['outage']} s")
    with phone(spread, FENCED_LIMIT, PROXY_IP, PROXY_PORT) as seen:
        fenced_failover(spread, spread.kill_node, "node3", "node2", "proxy")
    print(f"node3 lost: proxy outage {seen['outage']} s")
