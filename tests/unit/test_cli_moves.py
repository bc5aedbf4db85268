"""sip-ha status, failover, failback, standby: the library reads real
crm_mon XML (from Pacemaker's scheduler on the rendered CIB, via
crm_simulate) and runs exactly the expected pcs commands."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cib_templates import params, render
from sip_ha import cluster, failover, tools
from sip_ha.cli import cli
from sip_ha.errors import Refused, SipHaError
from tests.support.fake_runner import ANY, FakeRunner, done
from tests.support.fake_sip import FakeSip, reply
from tests.support.scheduler import Simulation

EXAMPLE = str(Path(params.__file__).parent / "example.toml")
CRM_MON = cluster.CRM_MON_ARGV
MOVE = [tools.PCS, "resource", "move", "pbx-asterisk-clone", "node1", "--promoted",
        "--wait=120"]
CLEAR = [tools.PCS, "resource", "clear", "pbx-asterisk-clone"]

pytestmark = pytest.mark.pacemaker_tools


def healthy(sim: Simulation, node: str) -> None:
    """NODE healthy, its replica caught up, and the pushes to it (from the
    other node, whichever pushes) complete."""
    sim.set_attrs(node, master_pbx_asterisk="100", sipha_gw_pbx="1", master_pbx_filesync="1",
                  master_pbx_db="10", sipha_mysql_pbx_db_replication="ok",
                  sipha_mysql_pbx_db_lag="0")
    synced(sim, "node2" if node == "node1" else "node1", node)


def synced(sim: Simulation, pusher: str, node: str, state: str = "ok", pending: str = "0",
           conflicts: str = "0", error: str | None = None,
           reconciled: str | None = "2026-11-30T09:00:00Z", kept: str = "0",
           kept_names: str = "") -> None:
    """What PUSHER's filesync publishes about its pushes to NODE."""
    values = {"sync": state, "pushed": "2026-11-30T09:00:00Z", "pending": pending,
              "conflicts": conflicts, "reconciled": reconciled or "", "error": error or "",
              "kept": kept, "kept_names": kept_names}
    sim.set_attrs(pusher, **{f"sipha_pbx_filesync_{node}_{word}": value
                             for word, value in values.items()})


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """crm_mon XML of the example cluster at each step of a failover story."""
    sim = Simulation(render.render(params.load(EXAMPLE)).getroot(),
                     tmp_path_factory.mktemp("sim"))
    healthy(sim, "node1")
    healthy(sim, "node2")
    sim.settle()
    out = {"on-node1": sim.crm_mon()}
    sim.settle("--node-fail", "node1")
    out["node1-lost"] = sim.crm_mon()
    sim.settle("--node-up", "node1")
    sim.settle()
    out["node1-back-unhealthy"] = sim.crm_mon()     # no promotion score yet
    healthy(sim, "node1")
    sim.set_attrs("node1", sipha_gw_pbx="0")
    sim.settle()
    out["node1-no-gateway"] = sim.crm_mon()
    healthy(sim, "node1")
    sim.settle()
    out["node1-ready"] = sim.crm_mon()
    sim.move("pbx-asterisk-clone", "node1", "Promoted")
    sim.settle()
    sim.move("pbx-asterisk-clone", None)
    sim.settle()
    out["failed-back"] = sim.crm_mon()
    return out


def invoke(*args: str):
    return CliRunner().invoke(cli, [*args, "--params", EXAMPLE])


def test_status_at_a_glance(states, use):
    use(FakeRunner([(CRM_MON, done(states["on-node1"]))]))
    result = invoke("status")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("pbx (asterisk): SIP-ACTIVE on node1 since ")
    assert lines[1] == "  address 198.51.100.100/24"
    assert lines[2] == "  file sync pushing from node1"
    assert lines[3] == "  database writable on node1"
    assert lines[4].split() == ["node1", "Promoted", "healthy", "gateways", "1/1"]
    assert lines[5] == "      database: replica ok, caught up"
    assert lines[6].split() == ["node2", "Unpromoted", "healthy", "gateways", "1/1"]
    assert lines[7] == ("      file sync from node1: in sync (compared whole at "
                        "2026-11-30T09:00:00Z)")
    assert lines[8] == "      database: replica ok, caught up"
    assert "fencing on" in lines[9]


def test_status_says_when_the_database_is_not_writable_on_the_active_node(tmp_path, use):
    sim = Simulation(render.render(params.load(EXAMPLE)).getroot(), tmp_path)
    healthy(sim, "node1")
    healthy(sim, "node2")
    sim.set_attrs("node1", master_pbx_db="-INFINITY")
    sim.set_attrs("node2", master_pbx_db="-INFINITY")
    sim.settle()
    use(FakeRunner([(CRM_MON, done(sim.crm_mon()))]))
    result = invoke("status")
    assert result.exit_code == 5, result.output
    assert "database writable" not in result.output
    assert ("the database of pbx is not writable on node1: CDRs written there are lost"
            in result.output)


def failed_over(tmp_path: Path) -> Simulation:
    """Both nodes healthy, pbx moved to node2 (the move constraint cleared)."""
    sim = Simulation(render.render(params.load(EXAMPLE)).getroot(), tmp_path)
    healthy(sim, "node1")
    healthy(sim, "node2")
    sim.settle()
    sim.move("pbx-asterisk-clone", "node2", "Promoted")
    sim.settle()
    sim.move("pbx-asterisk-clone", None)
    return sim


def test_a_standby_that_refused_its_configuration_is_shown_and_not_failed_back_to(
        tmp_path, use):
    sim = failed_over(tmp_path)
    sim.set_attrs("node1", master_pbx_asterisk="10",
                  sipha_pbx_asterisk_config="pbx_config.so refused extensions.conf")
    sim.settle()
    use(FakeRunner([(CRM_MON, done(sim.crm_mon()))]))
    result = invoke("status", "--json")
    data = json.loads(result.output)
    (node1,) = [n for n in data["services"][0]["nodes"] if n["node"] == "node1"]
    assert node1["config_refused"] == "pbx_config.so refused extensions.conf"
    assert any("Asterisk on node1 refused configuration it was given "
               "(pbx_config.so refused extensions.conf)" in note
               for note in data["needs_attention"])
    fake = use(FakeRunner([(CRM_MON, done(sim.crm_mon()))]))
    result = invoke("failback", "--no-probe")
    assert result.exit_code == 3
    assert "Asterisk on node1 refused configuration it was given" in result.output
    assert fake.finished()


def test_status_json_and_attention(states, use):
    use(FakeRunner([(CRM_MON, done(states["node1-lost"]))]))
    result = invoke("status", "--json")
    assert result.exit_code == 5
    data = json.loads(result.output)
    (pbx,) = data["services"]
    assert pbx["active_node"] == "node2"
    assert any("node1 is not available" in note for note in data["needs_attention"])


def test_failback_refused_while_the_old_master_is_unhealthy(states, use):
    fake = use(FakeRunner([(CRM_MON, done(states["node1-back-unhealthy"]))]))
    result = invoke("failback", "--no-probe")
    assert result.exit_code == 3
    assert "not moving pbx to node1: asterisk on node1 is not a healthy hot standby" \
        in result.output
    assert "node1 has not measured its gateways yet (198.51.100.1)" in result.output
    assert "--force moves it anyway" in result.output
    assert fake.finished()       # nothing but crm_mon ran


def test_failback_refused_without_gateway_and_when_offline(states):
    p = params.load(EXAMPLE)
    fake = FakeRunner([(CRM_MON, done(states["node1-no-gateway"])),
                       (CRM_MON, done(states["node1-lost"]))])
    with pytest.raises(Refused, match=r"node1 reaches 0 of 1 gateway\(s\) \(198\.51\.100\.1\)"):
        failover.failback(fake, p)
    with pytest.raises(Refused, match=r"node1 is offline: start it \(pcs cluster start node1\)"):
        failover.failback(fake, p)


def test_failback_accepted_moves_and_clears(states, use):
    fake = use(FakeRunner([(CRM_MON, done(states["node1-ready"])),
                           (MOVE, done()),
                           (CRM_MON, done(states["failed-back"])),
                           (CLEAR, done())]))
    result = invoke("failback", "--no-probe")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("failback pbx: node2 -> node1, SIP-ACTIVE after ")
    assert result.stdout.endswith(", SIP outage not measured\n")
    assert fake.finished()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "
    steps = result.stderr.splitlines()
    assert all(re.match(stamp, line) for line in steps), steps
    assert [line[21:] for line in steps] == [
        "reading the cluster status",
        "moving pbx from node2 to node1: " + " ".join(MOVE),
        "pcs is done; waiting until crm_mon shows node1 SIP-ACTIVE",
        steps[3][21:],
        "move constraint cleared"]
    assert re.fullmatch(r"pbx SIP-ACTIVE on node1 after \d+\.\ds", steps[3][21:])


FORCED = [tools.ATTRD_UPDATER, "-n", "sipha-pbx-forced-move", "-U", ANY]


def test_failback_force_warns_logs_alerts_and_moves(states, use, monkeypatch):
    logged: list[str] = []
    fake = use(FakeRunner([(CRM_MON, done(states["node1-back-unhealthy"])),
                           (FORCED, done()),
                           (MOVE, done()),
                           (CRM_MON, done(states["failed-back"])),
                           (CLEAR, done())]))
    monkeypatch.setattr("sip_ha.history.record", logged.append)
    result = CliRunner().invoke(
        cli, ["failback", "--force", "--no-probe", "--params", EXAMPLE])
    assert result.exit_code == 0, result.output
    assert "warning: --force skips the checks" in result.stderr
    assert "warning: forced although asterisk on node1 is not a healthy" in result.stderr
    assert fake.finished()
    (value,) = [call[-1] for call in fake.calls if call[0] == tools.ATTRD_UPDATER]
    assert value.startswith("pbx to node1 at ")
    assert "although asterisk on node1 is not a healthy hot standby" in value
    assert logged[0] == f"FORCED move of {value}"
    assert logged[1].startswith("failback pbx: node2 -> node1")


def gate_state(tmp_path: Path, **change: str) -> str:
    """crm_mon XML: pbx active on node2, node1 back and healthy, and the file
    sync's view of node1 or node1's replica changed as given."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    sim = failed_over(tmp_path)
    sim.settle()
    replica = {k: v for k, v in change.items() if k.startswith("sipha_mysql")}
    if replica:
        sim.set_attrs("node1", **replica)
    sync = {k: v for k, v in change.items() if not k.startswith("sipha_mysql")}
    if sync:
        synced(sim, "node2", "node1", **sync)
    sim.settle()
    return sim.crm_mon()


@pytest.mark.parametrize(("change", "reason"), [
    ({"state": "failing", "pending": "3", "reconciled": None,
      "error": "cannot list node1: Host key verification failed"},
     "file sync from node2 to node1 fails: cannot list node1: Host key verification failed "
     "(3 change(s) not delivered)"),
    ({"state": "behind", "pending": "0", "reconciled": None},
     "file sync from node2 to node1 is not complete: 0 change(s) not delivered, waiting for "
     "a full comparison (at most a minute)"),
    ({"state": "conflicts", "conflicts": "2"},
     "2 file(s) on node1 were edited since the last sync (conflicts): list them with "
     "'sip-ha-sync resync --dry-run' on node2; 'sip-ha-sync push --force PATH' there"),
    ({"sipha_mysql_pbx_db_replication": "lagging", "sipha_mysql_pbx_db_lag": "12"},
     "the database replica on node1 has not caught up (replica lagging, 12s behind)"),
    ({"sipha_mysql_pbx_db_replication": "ok", "sipha_mysql_pbx_db_lag": "1"},
     "the database replica on node1 has not caught up (replica ok, 1s behind)"),
    ({"sipha_mysql_pbx_db_replication": "broken"},
     "the database replica on node1 has not caught up (replica broken)"),
])
def test_failback_waits_for_the_reverse_sync_and_the_replica(tmp_path, use, change, reason):
    fake = use(FakeRunner([(CRM_MON, done(gate_state(tmp_path, **change)))]))
    result = invoke("failback", "--no-probe")
    assert result.exit_code == 3, result.output
    assert "not moving pbx to node1: " in result.output
    assert reason in result.output
    assert fake.finished()


def test_status_shows_sync_and_replication_per_node(tmp_path, use):
    use(FakeRunner([(CRM_MON, done(gate_state(
        tmp_path, state="failing", pending="3", reconciled=None,
        error="cannot list node1: Host key verification failed",
        sipha_mysql_pbx_db_replication="lagging", sipha_mysql_pbx_db_lag="12")))]))
    result = invoke("status")
    assert result.exit_code == 5
    lines = result.output.splitlines()
    at = lines.index(next(line for line in lines if line.split()[:2] == ["node1", "Unpromoted"]))
    assert lines[at + 1] == ("      file sync from node2: FAILING: cannot list node1: Host key "
                             "verification failed (3 change(s) not delivered)")
    assert lines[at + 2] == "      database: replica lagging, 12s behind"
    assert ("file sync to node1: FAILING: cannot list node1: Host key verification failed"
            in result.output)
    assert "the database on node1: replica lagging, 12s behind" in result.output
    data = json.loads(invoke_json(use, tmp_path).output)
    (node1,) = [n for n in data["services"][0]["nodes"] if n["node"] == "node1"]
    assert node1["sync"] == {"state": "ok", "pushed": "2026-11-30T09:00:00Z",
                             "reconciled": "2026-11-30T09:00:00Z", "pending": 0,
                             "conflicts": 0, "error": None, "kept": 0, "kept_names": None,
                             "lag": None}     # no sync-lag-s published in this state
    assert node1["replication"] == {"state": "ok", "lag": 0}
    (node2,) = [n for n in data["services"][0]["nodes"] if n["node"] == "node2"]
    assert node2["sync"] is None           # nobody pushes to the active node


KEPT = {"kept": "2", "kept_names": "/etc/asterisk/a.conf; /etc/asterisk/b.conf"}
KEPT_NOTE = ("2 file(s) only on node1, never synced (/etc/asterisk/a.conf; "
             "/etc/asterisk/b.conf): take them with 'sip-ha-sync resync --direction pull "
             "--peer node1' (try --dry-run first), or drop them (into node1's backup folder) "
             "with 'sip-ha-sync push --force PATH', on the SIP-ACTIVE node")


def test_files_only_on_the_returning_node_are_shown_until_decided(tmp_path, use):
    use(FakeRunner([(CRM_MON, done(gate_state(tmp_path / "s", **KEPT)))]))
    result = invoke("status")
    assert ("      2 file(s) only there, never synced: /etc/asterisk/a.conf; "
            "/etc/asterisk/b.conf") in result.output.splitlines()
    assert KEPT_NOTE in result.output
    # shown by failback, not a reason to refuse it on their own
    fake = use(FakeRunner([(CRM_MON, done(gate_state(tmp_path / "f", **KEPT))),
                           (MOVE, done()),
                           (CRM_MON, done(states_failed_back(tmp_path))),
                           (CLEAR, done())]))
    result = invoke("failback", "--no-probe")
    assert result.exit_code == 0, result.output
    assert f"warning: {KEPT_NOTE}" in result.stderr
    assert fake.finished()
    use(FakeRunner([(CRM_MON, done(gate_state(tmp_path / "r", state="behind", pending="1",
                                              **KEPT)))]))
    result = invoke("failback", "--no-probe")
    assert result.exit_code == 3
    assert f"; also: {KEPT_NOTE}" in result.stderr


def invoke_json(use, tmp_path: Path):
    use(FakeRunner([(CRM_MON, done(gate_state(tmp_path / "json")))]))
    return invoke("status", "--json")


def test_failback_wait_shows_what_it_waits_for_then_moves(tmp_path, use, monkeypatch):
    monkeypatch.setattr(failover, "POLL", 0.0)
    behind = gate_state(tmp_path / "a", state="failing", pending="1", reconciled=None,
                        error="cannot list node1: Connection refused")
    catching_up = gate_state(tmp_path / "b", state="behind", pending="0", reconciled=None)
    ready = gate_state(tmp_path / "c")
    fake = use(FakeRunner([(CRM_MON, done(behind)), (CRM_MON, done(behind)),
                           (CRM_MON, done(catching_up)), (CRM_MON, done(ready)),
                           ([*MOVE[:-1], "--wait=600"], done()),
                           (CRM_MON, done(states_failed_back(tmp_path))),
                           (CLEAR, done())]))
    result = CliRunner().invoke(cli, ["failback", "--no-probe", "--wait", "--params", EXAMPLE])
    assert result.exit_code == 0, result.output
    waits = [line[21:] for line in result.stderr.splitlines() if line[21:].startswith("waiting (")]
    assert len(waits) == 2                 # one line per change, not per poll
    assert "file sync from node2 to node1 fails: cannot list node1" in waits[0]
    assert "waiting for a full comparison" in waits[1]
    assert result.stdout.startswith("failback pbx: node2 -> node1")
    assert fake.finished()


def test_failback_wait_gives_up_refused(tmp_path, use, monkeypatch):
    monkeypatch.setattr(failover, "POLL", 0.3)
    behind = gate_state(tmp_path, state="behind", pending="2", reconciled=None)
    use(FakeRunner([(CRM_MON, done(behind))] * 10))
    result = CliRunner().invoke(cli, ["failback", "--no-probe", "--wait", "1",
                                      "--params", EXAMPLE])
    assert result.exit_code == 3
    assert "file sync from node2 to node1 is not complete: 2 change(s)" in result.stderr


def states_failed_back(tmp_path: Path) -> str:
    (tmp_path / "back").mkdir()
    sim = Simulation(render.render(params.load(EXAMPLE)).getroot(), tmp_path / "back")
    healthy(sim, "node1")
    healthy(sim, "node2")
    sim.settle()
    return sim.crm_mon()


def slow(seconds: float):
    def answer(argv):
        time.sleep(seconds)
        return done()
    return answer


def test_failover_picks_the_standby_and_measures_the_outage(states):
    # A probe every 0.1 s during the move: answer, five silences, answers.
    answers = iter([True] + [False] * 5 + [True] * 100)
    fake = FakeRunner([
        (CRM_MON, done(states["on-node1"])),
        ([tools.PCS, "resource", "move", "pbx-asterisk-clone", "node2", "--promoted",
          "--wait=30"], slow(1.2)),
        (CRM_MON, done(states["node1-lost"])),
        (CLEAR, done())])
    outcome = failover.failover(fake, params.load(EXAMPLE), wait=30,
                                probe=lambda uri: uri == "sip:198.51.100.100" and next(answers))
    assert (outcome.source, outcome.target, outcome.warnings, outcome.probed) == (
        "node1", "node2", (), True)
    assert outcome.outage is not None and 0.4 < outcome.outage < 1.5
    assert fake.finished()


def test_failover_refuses_when_no_node_can_take_it(states, use):
    fake = use(FakeRunner([(CRM_MON, done(states["node1-lost"]))]))
    result = invoke("failover", "--no-probe")
    assert result.exit_code == 3
    assert "no other node can take pbx: node1 is offline" in result.output
    assert fake.finished()


def test_failover_to_the_active_node_is_refused(states):
    fake = FakeRunner([(CRM_MON, done(states["on-node1"]))])
    with pytest.raises(Refused, match="already SIP-ACTIVE on node1; nothing to do"):
        failover.failover(fake, params.load(EXAMPLE), to="node1")


def test_move_not_seen_in_time_times_out_and_still_clears(states, use):
    fake = use(FakeRunner([(CRM_MON, done(states["node1-ready"])),
                           ([*MOVE[:-1], "--wait=0"], done()),
                           (CRM_MON, done(states["node1-ready"])),
                           (CLEAR, done())]))
    result = invoke("failback", "--no-probe", "--wait", "0")
    assert result.exit_code == 4
    assert "pbx is not SIP-ACTIVE on node1 after 0s" in result.output
    assert fake.finished()


def test_pcs_failure_is_a_sentence(states):
    fake = FakeRunner([(CRM_MON, done(states["node1-ready"])),
                       (MOVE, done(returncode=1, stderr="Error: resource is unmanaged\n")),
                       (CLEAR, done())])
    with pytest.raises(SipHaError,
                       match="could not move pbx to node1: Error: resource is unmanaged"):
        failover.failback(fake, params.load(EXAMPLE))
    assert fake.finished()


def test_a_probe_waiting_out_its_timeout_does_not_hide_the_answer_after_it():
    """The address is dead from 0.3 s to 1.0 s; a probe into it waits 0.8 s.
    Probes in their own threads, counted when sent, see about 0.7 s; one
    after the other they saw 1.2 s (the next probe waited for the dead one)."""
    began = time.monotonic()

    def probe(uri: str) -> bool:
        if 0.3 <= time.monotonic() - began < 1.0:
            time.sleep(0.8)
            return False
        return True

    service = params.load(EXAMPLE).services[0]
    watch = failover._OutageWatch(service, probe)
    time.sleep(2.0)
    outage = watch.stop()
    assert outage is not None and 0.5 < outage < 1.05, outage


def test_longest_outage():
    assert failover.longest_outage([(0, True), (1, True)]) == 0.0
    assert failover.longest_outage([(0, True), (1, False), (2.5, False), (3, True)]) == 3
    assert failover.longest_outage([(0, False), (2, True)]) == 2
    assert failover.longest_outage([(0, True), (1, False)]) is None
    assert failover.sip_uri("2001:db8::10/64") == "sip:[2001:db8::10]"


@pytest.mark.parametrize(("uris", "uri"), [
    ("", "sip:198.51.100.10"),
    ("sip:127.0.0.1:5070;transport=tcp", "sip:198.51.100.10:5070"),
    ("sips:127.0.0.1:5061 sip:127.0.0.1", "sip:198.51.100.10"),
    ("not-a-uri sip:127.0.0.1:5080", "sip:198.51.100.10:5080"),
])
def test_outage_probe_asks_the_port_the_server_listens_on(uris, uri):
    """A Kamailio proxy on 5070 is not "SIP outage not over" for want of 5060."""
    assert failover.sip_uri("198.51.100.10/24", uris) == uri


@pytest.mark.parametrize(("args", "argv"), [
    (["standby", "node2"], [tools.PCS, "node", "standby", "node2", "--wait=120"]),
    (["unstandby", "node2", "--wait", "30"], [tools.PCS, "node", "unstandby", "node2",
                                              "--wait=30"]),
    (["standby"], [tools.PCS, "node", "standby", "--wait=120"]),
])
def test_standby(use, args, argv):
    fake = use(FakeRunner([(argv, done())]))
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert fake.finished()


@pytest.mark.parametrize(("status", "expected"), [("401 Unauthorized", True),
                                                  ("503 Service Unavailable", False)])
def test_sip_answers_over_tcp(status, expected):
    server = FakeSip("tcp", lambda request, count: [reply(request, status)])
    try:
        assert failover.sip_answers(f"sip:127.0.0.1:{server.port}") is expected
    finally:
        server.close()


def test_sip_answers_over_udp_when_tcp_is_refused():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)

    def answer_once():
        with sock:
            data, peer = sock.recvfrom(65535)
            sock.sendto(reply(data, "200 OK"), peer)

    thread = threading.Thread(target=answer_once)
    thread.start()
    assert failover.sip_answers(f"sip:127.0.0.1:{sock.getsockname()[1]}") is True
    thread.join()
