"""The SIP-HA cluster on two Debian 12 nodes (Pacemaker 2.1): the rendered
CIB installs with `sip-ha cib apply` and crm_verify is clean; a Kamailio
service (ocf:sipha:sipserver clone) fails over on hard loss of its node,
with the phone's outage measured, and does not fail back."""

from __future__ import annotations

import time

import pytest
from sipha_cluster import wait_until
from test_sipha_3nodes import KAMAILIO, KAMAILIO_CFG, PROXY, PROXY_IP, PROXY_PORT
from test_sipha_asterisk import (
    FENCED_LIMIT,
    PARAMS,
    SIP_HA,
    active,
    answers,
    assert_crm_verify_clean,
    fenced_failover,
    install,
    params_toml,
    phone,
    settled,
    standby_ready,
)

CLUSTER_DIST = "bookworm"
CLUSTER_NODES = 2
SERVICE = PROXY.replace('nodes = ["node2", "node3"]', 'nodes = ["node1", "node2"]').replace(
    'preferred_node = "node3"', 'preferred_node = "node1"')


@pytest.fixture
def proxy(cluster):
    for node in cluster.nodes:
        cluster.run(node, "mkdir", "-p", "/etc/sip-ha")
        cluster.run(node, "tee", KAMAILIO_CFG, input=KAMAILIO)
    install(cluster, params_toml(cluster.nodes, SERVICE))
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
    print(f"hard loss of node1 (Kamailio): outage {seen['outage']} s")
    proxy.wait_all_online(timeout=180)
    wait_until(lambda: standby_ready(proxy, "node1", "proxy"), 120, what="node1 standby")
    time.sleep(15)
    assert active(proxy, "proxy") == "node2"
