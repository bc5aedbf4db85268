"""The measurements published as node attributes (ocf_agents.framework.metrics):
which changes reach attrd, and what a takeover records."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from ocf_agents import service_ip
from ocf_agents.clients.sip_options import Answer
from ocf_agents.framework import metrics
from ocf_agents.framework.ocf import Context
from sipha_runtime.log import Logger
from sipha_runtime.run import tool
from tests.support.fake_runner import FakeRunner, done
from tests.unit.test_service_ip import ONE, FakeIp, config

ATTRD = tool("attrd_updater")
RTT = "sipha-proxy-sip-rtt-ms"
RELEASED = "sipha-proxy-left-at"
TAKEOVER = "sipha-proxy-last-takeover"
OUTAGE = "sipha-proxy-last-outage-s"


def context(tmp_path: Path, runner: object, node: str = "node2") -> Context:
    env = {"OCF_RESOURCE_INSTANCE": "proxy:1", "HA_RSCTMP": str(tmp_path),
           "OCF_RESKEY_CRM_meta_on_node": node}
    log = Logger("service-ip", "proxy", {}, stderr=io.StringIO())
    return Context(service_ip.AGENT, "monitor", env, log, 20, runner=runner)  # type: ignore[arg-type]


def setting(name: str, value: str) -> tuple[list[object], object]:
    """A measurement reaches the CIB dampened: none may abort a failover's transition."""
    return [ATTRD, "-n", name, "-B", value, "-d", "2"], done()


def answers(*ms: float) -> list[Answer]:
    return [Answer(200, "OK", value / 1000, "kamailio") for value in ms]


@pytest.mark.parametrize(("name", "old", "new", "close"), [
    (RTT, "20", "24", True),           # within 5 ms
    (RTT, "20", "26", False),
    (RTT, "100", "119", True),         # within 20 %
    (RTT, "100", "121", False),
    (RTT, "0", "1", True),             # loopback jitter is no news
    ("sipha-x-node2-sync-lag-s", "30", "39", True),
    ("sipha-x-node2-sync-lag-s", "100", "125", False),
    ("sipha-x-node2-sync-lag-s", "0", "3", False),     # leaving "in sync" is news
    ("sipha-x-node2-sync-lag-s", "4", "0", False),     # and so is reaching it
    ("sipha-x-node2-sync", "ok", "behind", False),     # no unit: every change counts
    (RTT, "20", "n/a", False),
])
def test_a_change_is_sent_only_when_it_is_meaningful(name, old, new, close):
    assert metrics.close(name, old, new) is close


def test_the_rtt_reaches_attrd_only_when_it_moved(tmp_path):
    runner = FakeRunner([setting(RTT, "21"), setting(RTT, "40")])
    ctx = context(tmp_path, runner)
    metrics.publish_rtt(ctx, answers(3.2, 20.6))          # the slowest transport
    for ms in (22, 19.4, 24, 18):                          # FakeRunner: no call expected
        metrics.publish_rtt(ctx, answers(ms))
    metrics.publish_rtt(ctx, answers(40.2))
    metrics.publish_rtt(ctx, [])                           # no answer: nothing measured
    assert runner.finished()
    # The published value is what the cache compares with: a slow drift
    # is sent once it is 20 % (8 ms) away from it, not never.
    runner.steps = [setting(RTT, "49")]
    for ms in (43, 46, 48, 49):
        metrics.publish_rtt(ctx, answers(ms))
    assert runner.finished()
    runner.steps = [([ATTRD, "-D", "-n", RTT], done())]
    metrics.publish(ctx, {RTT: None})                      # what stop does
    assert runner.finished()


def test_a_failed_update_is_retried_even_when_the_next_value_is_close(tmp_path, monkeypatch):
    runner = FakeRunner([(setting(RTT, "20")[0], done(returncode=1, stderr="no attrd"))])
    ctx = context(tmp_path, runner)
    metrics.publish_rtt(ctx, answers(20))
    metrics.publish_rtt(ctx, answers(21))                  # within a minute: no retry yet
    assert runner.finished()
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    runner.steps = [setting(RTT, "21")]
    metrics.publish_rtt(ctx, answers(21))
    assert runner.finished()


def test_the_sync_lag_is_zero_in_sync_and_the_age_of_the_last_push_otherwise():
    assert metrics.lag_seconds(True, 1000.0, 1100.0) == "0"
    assert metrics.lag_seconds(False, 1000.0, 1042.4) == "42"
    assert metrics.lag_seconds(False, None, 1042.4) is None


class Recorder:
    """attrd as far as a takeover asks it: -Q -A answers from CLUSTER (node ->
    release time); every other command is recorded and succeeds."""

    def __init__(self, cluster: dict[str, float]) -> None:
        self.cluster = cluster
        self.calls: list[list[str]] = []

    def run(self, argv, timeout=None, env=None):
        self.calls.append(list(argv[1:]))
        if "-Q" in argv:
            name = argv[argv.index("-n") + 1]
            return done("".join(f'name="{name}" host="{node}" value="{value:.1f}"\n'
                                for node, value in self.cluster.items()))
        return done()

    def sets(self) -> dict[str, str | None]:
        return {c[c.index("-n") + 1]: c[c.index("-U") + 1] if "-U" in c else None
                for c in self.calls if "-Q" not in c}


def test_a_takeover_after_a_release_elsewhere_records_the_outage(tmp_path):
    now = time.time()
    # one too old (an earlier move) does not count
    attrd = Recorder({"node1": now - 2.5, "node3": now - 3600})
    metrics.took_over(context(tmp_path, attrd))
    assert attrd.calls[0] == ["-Q", "-A", "-n", RELEASED]
    sets = attrd.sets()
    assert sets[TAKEOVER] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)) or \
        sets[TAKEOVER] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 1))
    assert 2.4 <= float(sets[OUTAGE] or "") < 4
    # the release it used is removed, so it counts once
    assert ["-D", "-n", RELEASED, "-N", "node1"] in attrd.calls


def test_an_address_restarted_in_place_counts_from_its_own_stop(tmp_path):
    now = time.time()
    attrd = Recorder({"node1": now - 100, "node2": now - 0.5})
    metrics.took_over(context(tmp_path, attrd))
    assert 0.4 <= float(attrd.sets()[OUTAGE] or "") < 2


def test_a_release_counts_once_so_a_crash_after_a_move_has_no_outage(tmp_path):
    """Three nodes: node1 moved the service to node2 (node2's takeover used
    node1's release and removed it), then node2 crashed: node3 knows no
    release, and so no outage."""
    now = time.time()
    cluster = {"node1": now - 30}
    first = Recorder(cluster)
    metrics.took_over(context(tmp_path / "n2", first))
    assert ["-D", "-n", RELEASED, "-N", "node1"] in first.calls
    after_the_crash = Recorder({})     # what attrd holds once node1's release is gone
    metrics.took_over(context(tmp_path / "n3", after_the_crash, node="node3"))
    assert OUTAGE not in after_the_crash.sets()


def test_the_query_for_every_node_runs_without_the_agents_node():
    """attrd_updater -Q -A with OCF_RESKEY_CRM_meta_on_node set answers for
    that node alone (Pacemaker 2.1.5): the query must not inherit it."""
    seen = []

    class Env(Recorder):
        def run(self, argv, timeout=None, env=None):
            seen.append(env)
            return super().run(argv, timeout, env)

    ctx = context(Path("/nonexistent"), Env({"node1": 5.0}))
    assert ctx.attrs.everywhere(RELEASED) == {"node1": "5.0"}
    assert seen == [{"OCF_RESKEY_CRM_meta_on_node": None}]


def test_a_takeover_nobody_released_has_no_outage_length(tmp_path):
    metrics.took_over(context(tmp_path, Recorder({"node1": time.time() - 2})))
    # node1 fenced or crashed: its attributes went with it
    attrd = Recorder({})
    metrics.took_over(context(tmp_path, attrd))
    sets = attrd.sets()
    assert sets[OUTAGE] is None                            # the old length is deleted
    attrd = Recorder({})
    metrics.took_over(context(tmp_path, attrd, node="node3"))
    assert OUTAGE not in attrd.sets()                      # nothing to delete there


def test_a_release_that_reaches_attrd_after_the_start_is_counted_by_a_monitor(tmp_path):
    """Pacemaker 2.1: the old node's release can reach this node's attrd
    after the new start asked; a later monitor finds it and publishes the
    outage up to the takeover, once."""
    attrd = Recorder({})
    metrics.took_over(context(tmp_path, attrd))
    taken = time.time()
    assert OUTAGE not in attrd.sets()
    late = Recorder({"node1": taken - 1.5})
    metrics.settle_outage(context(tmp_path, late))
    assert 1.4 <= float(late.sets()[OUTAGE] or "") < 3
    again = Recorder({"node1": taken - 1.5})
    metrics.settle_outage(context(tmp_path, again))
    assert again.calls == []                               # settled: no more queries


def test_a_takeover_without_any_release_stops_asking_after_a_while(tmp_path, monkeypatch):
    metrics.took_over(context(tmp_path, Recorder({})))
    asked = Recorder({})
    metrics.settle_outage(context(tmp_path, asked))
    assert asked.calls == [["-Q", "-A", "-n", RELEASED]]
    monkeypatch.setattr(metrics.time, "time", lambda: time.monotonic() + 1e10)
    metrics.settle_outage(context(tmp_path, Recorder({})))
    quiet = Recorder({"node1": 1.0})
    metrics.settle_outage(context(tmp_path, quiet))
    assert quiet.calls == []


def test_the_service_address_releases_on_stop_and_takes_over_on_start(tmp_path):
    fake = FakeIp()
    ctx = context(tmp_path, fake)
    assert service_ip.start(config(**ONE), ctx) == 0
    assert fake.attrd[0] == ["-Q", "-A", "-n", RELEASED]
    assert [c[:2] for c in fake.attrd[1:]] == [["-n", TAKEOVER]]
    fake.attrd.clear()
    assert service_ip.stop(config(**ONE), ctx) == 0
    assert [c[:2] for c in fake.attrd] == [["-n", RELEASED]]


def test_the_release_stays_out_of_the_cib(tmp_path):
    """Recorded mid-move: a CIB change would abort the move's transition."""
    when = time.time()
    runner = FakeRunner([([ATTRD, "-n", RELEASED, "-U", f"{when:.1f}", "-p"], done())])
    metrics.released(context(tmp_path, runner), when)
    assert runner.finished()
