"""Two-node cluster on the Debian 12 box (Pacemaker 2.1): formation,
quorum, real fencing, fault injection from the host, phone and trunk."""

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
from upgrade_checks import (  # noqa: F401  (collected by pytest)
    checkout_version,
    installed_versions,
    test_rolling_upgrade_one_node_at_a_time_while_the_phone_polls,
)

from sip_ha.install import AGENTS

CLUSTER_DIST = "bookworm"
CLUSTER_NODES = 2


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
