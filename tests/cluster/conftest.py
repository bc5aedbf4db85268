"""Multi-node cluster tests: Vagrant + vagrant-lxc clusters on this host.

A test module chooses its cluster with module globals
    CLUSTER_DIST = "bookworm" | "sid"      (default bookworm)
    CLUSTER_NODES = 2                      (default 2)
    CLUSTER_QDEVICE = True                 (a quorum device; default none)
and uses the `cluster` fixture: the cluster is brought up once per module
(the box is built first if the recipe changed), reset before every test
(all nodes back and online, CIB configuration as after `vagrant up`,
failures and fence history cleared), and torn down after the module, also
when tests fail. Every test here carries the `cluster` marker.

Needs root; installs its host tools with vagrant/host-setup.sh.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support.missing import require_root

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tests.support.sipha_cluster import VAGRANT_DIR, Cluster

PREFIX = os.environ.get("SIPHA_TEST_PREFIX", "siphat")

HERE = os.path.dirname(os.path.abspath(__file__))
TIMINGS_KEY = pytest.StashKey[dict]()


def _interrupt(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def pytest_configure(config):
    # A CI timeout or `kill` must still tear the clusters down: pytest runs
    # fixture finalizers on KeyboardInterrupt.
    signal.signal(signal.SIGTERM, _interrupt)
    config.addinivalue_line(
        "markers", "cluster: multi-node Vagrant/LXC cluster test (root, minutes)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if str(item.fspath).startswith(HERE + os.sep):
            item.add_marker(pytest.mark.cluster)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def pytest_terminal_summary(terminalreporter, config):
    timings = config.stash.get(TIMINGS_KEY, {})
    if timings:
        terminalreporter.section("cluster timings (s)")
        for module, timing in timings.items():
            terminalreporter.write_line("%s: %s" % (module, ", ".join(
                "%s %.1f" % kv for kv in timing.items())))


@pytest.fixture(scope="session")
def host_tools():
    require_root("cluster tests")
    subprocess.run([os.path.join(VAGRANT_DIR, "host-setup.sh")], check=True,
                   stdout=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def teardown_record(request):
    """Leftovers found after each module's teardown (for test_zz_teardown)."""
    request.config.stash[TIMINGS_KEY] = {}
    return []


@pytest.fixture(scope="module")
def cluster_module(request, host_tools, teardown_record):
    dist = getattr(request.module, "CLUSTER_DIST", "bookworm")
    nodes = getattr(request.module, "CLUSTER_NODES", 2)
    qdevice = getattr(request.module, "CLUSTER_QDEVICE", False)
    cl = Cluster(dist=dist, nodes=nodes, prefix=PREFIX, qdevice=qdevice)
    t0 = time.monotonic()
    try:
        cl.up()
        yield cl
    finally:
        left = cl.destroy()
        cl.timings["module_total"] = time.monotonic() - t0
        request.config.stash[TIMINGS_KEY][request.module.__name__] = dict(cl.timings)
        teardown_record.extend("%s: %s" % (request.module.__name__, item) for item in left)


@pytest.fixture
def cluster(request, cluster_module):
    cluster_module.reset()
    yield cluster_module
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        # Pacemaker's view at the failure, in the report.
        print("cluster after the failure:\n" + cluster_module.describe())
