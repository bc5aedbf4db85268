"""Three-node cluster on the Debian 12 box: formation, quorum with three
votes, fencing of a lost node while the other two keep quorum."""

from cluster_checks import (  # noqa: F401  (collected by pytest)
    test_fencing_configured,
    test_hard_node_loss_is_fenced,
    test_pcs_status_all_nodes_online,
    test_quorum,
    test_vagrant_up_all_nodes_running,
)

CLUSTER_DIST = "bookworm"
CLUSTER_NODES = 3
