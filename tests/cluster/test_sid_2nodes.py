"""Two-node cluster on the Debian sid box (Pacemaker 3.0, Asterisk 22,
Python 3.14): formation, quorum, real fencing, the phone's view."""

from asterisk_checks import (  # noqa: F401  (collected by pytest)
    asterisk_files,
    pbx,
    test_crash_of_the_promoted_asterisk_moves_the_role,
    test_hung_promoted_asterisk_is_failed_over,
    test_planned_move_waits_for_the_call,
    test_trunk_registers_only_from_the_promoted_node,
)
from cluster_checks import (  # noqa: F401  (collected by pytest)
    test_fence_off_kills_container,
    test_fencing_configured,
    test_network_partition_fences_isolated_node,
    test_pcs_status_all_nodes_online,
    test_quorum,
    test_service_address_answers_phone_and_fails_over,
    test_vagrant_up_all_nodes_running,
)
from guide_checks import test_the_deployment_guide_runs_as_written  # noqa: F401  (collected by pytest)

CLUSTER_DIST = "sid"
CLUSTER_NODES = 2


def test_pacemaker_3_and_asterisk(cluster):
    node = cluster.nodes[0]
    assert cluster.run(node, "pacemakerd", "--version").stdout.startswith("Pacemaker 3.")
    assert cluster.run(node, "asterisk", "-V").stdout.startswith("Asterisk 22")
    # Only Pacemaker may start Asterisk.
    assert cluster.run(node, "systemctl", "is-enabled", "asterisk",
                       check=False).stdout.strip() != "enabled"
    # The Debian package runs sid's own Python and modules.
    assert cluster.run(node, "/usr/bin/python3", "-I", "-c",
                       "import sys, click, lxml, pymysql, watchdog;"
                       "print(sys.version_info[:2])").stdout.strip() == "(3, 14)"
    assert cluster.run(node, "head", "-1", "/usr/bin/sip-ha").stdout == "#!/usr/bin/python3 -I\n"
