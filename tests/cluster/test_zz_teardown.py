"""Runs last: every module's teardown left nothing behind, and nothing of
the test prefix exists on the host (containers, links, namespaces, our
processes, mounts)."""

import os

from tests.support.sipha_cluster import Cluster


def test_teardown_left_nothing(host_tools, teardown_record):
    assert teardown_record == []
    prefix = os.environ.get("SIPHA_TEST_PREFIX", "siphat")
    assert Cluster(prefix=prefix).leftovers() == []
