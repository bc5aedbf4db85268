"""The parameter file owns the cluster's timing: Corosync's token and
consensus (checked, applied with pcs, compared with what every node runs)
and the fencing delay that lets the SIP-ACTIVE node win a split."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from lxml import etree

from cib_templates import params, render, totem
from sip_ha import cluster, corosync, qdevice, tools
from sip_ha.errors import SipHaError
from sipha_runtime.run import Completed
from tests.support.fake_runner import FakeRunner, done

EXAMPLE = Path(params.__file__).parent / "example.toml"
THREE = Path(__file__).parent / "data" / "three-nodes.toml"
CMAP = corosync.CMAP_ARGV
NAME = [tools.CRM_NODE, "-n"]
PCS_UPDATE = [totem.PCS, "cluster", "config", "update", "totem", "token=1000",
              "consensus=1200"]


def load(path: Path = EXAMPLE, **timings: object) -> params.ClusterParams:
    raw = tomllib.loads(path.read_text())
    raw.setdefault("timings", {}).update(timings)
    return params.parse(raw, "cluster.toml")


def cmap(token: int, consensus: int, members: int = 2, coefficient: int | None = None) -> str:
    """What corosync-cmapctl prints for CMAP_ARGV's prefixes (Corosync 3.1)."""
    lines = [f"nodelist.node.{i}.name (str) = node{i + 1}\n"
             f"nodelist.node.{i}.nodeid (u32) = {i + 1}\n"
             f"nodelist.node.{i}.ring0_addr (str) = 198.51.100.{11 + i}" for i in range(members)]
    lines += [f"runtime.config.totem.token (u32) = {token}",
              f"runtime.config.totem.token_retransmit (u32) = {int(token / 4.2)}",
              "runtime.config.totem.token_retransmits_before_loss_const (u32) = 4",
              "runtime.config.totem.token_warning (u32) = 75",
              f"runtime.config.totem.consensus (u32) = {consensus}"]
    if coefficient is not None:
        lines.append(f"totem.token_coefficient (u32) = {coefficient}")
    return "\n".join(lines) + "\n"


# -- the parameter file --------------------------------------------------------


def test_defaults_are_token_1000_and_corosyncs_own_consensus():
    two = load()
    assert (two.timings.corosync_token, two.timings.corosync_consensus) == (1000, 1200)
    assert two.timings.fencing_delay == "5s"
    # Three nodes: Corosync runs 1000 + 650 and takes 1.2 x that as consensus.
    three = params.load(str(THREE))
    assert three.timings.corosync_consensus == 1980
    assert load(corosync_token=500).timings.corosync_consensus == 600
    assert load(corosync_token=2000, corosync_consensus=3000).timings.corosync_consensus == 3000


@pytest.mark.parametrize(("timings", "message"), [
    ({"corosync_token": "1s"}, "corosync_token: '1s' is not a whole number of milliseconds "
                               "such as 1000 (Corosync's unit)"),
    ({"corosync_token": True}, "is not a whole number of milliseconds"),
    ({"corosync_token": 50}, "corosync_token: 50 ms is not between 200 and 60000 ms"),
    ({"corosync_token": 90_000}, "is not between 200 and 60000 ms"),
    ({"corosync_consensus": 1000}, "corosync_consensus: 1000 ms must be above the token "
                                   "Corosync runs, 1000 ms, and at most 120000 ms; leave it "
                                   "out for 1.2 x that token"),
    ({"corosync_consensus": 900}, "must be above the token"),
    ({"corosync_consensus": 200_000}, "at most 120000 ms"),
    ({"corosync_consensus": 1.5}, "is not a whole number of milliseconds"),
    ({"fencing_delay": "soon"}, "fencing_delay: 'soon' is not a duration"),
])
def test_bad_timing_is_one_line_naming_the_key(timings: dict, message: str):
    with pytest.raises(params.ParamError) as caught:
        load(**timings)
    assert message in str(caught.value)
    assert str(caught.value).startswith("cluster.toml [timings] ")
    assert "\n" not in str(caught.value)


def test_consensus_is_checked_against_the_token_three_nodes_run():
    raw = tomllib.loads(THREE.read_text())
    raw["timings"]["corosync_consensus"] = 1500
    with pytest.raises(params.ParamError, match=r"above the token Corosync runs, 1650 ms "
                                                r"\(corosync_token plus 650 ms per node above "
                                                r"two\)"):
        params.parse(raw, "cluster.toml")


def test_the_fencing_delay_and_the_active_nodes_priority_are_rendered():
    cib = render.render(load(fencing_delay="0")).getroot()
    props = {nv.get("name"): nv.get("value")
             for nv in cib.iterfind("configuration/crm_config/cluster_property_set/nvpair")}
    assert props["priority-fencing-delay"] == "0"
    # The service address runs where the service is SIP-ACTIVE, for either server kind.
    for service in params.load(str(THREE)).services:
        cib = render.render(params.load(str(THREE))).getroot()
        ip = cib.find(f".//primitive[@id='{render.ip_resource(service)}']")
        assert ip.find("meta_attributes/nvpair[@name='priority']").get("value") == "1"
    others = [p for p in cib.iter("primitive") if not p.get("id").endswith("-ip")]
    assert others and all(p.find("meta_attributes/nvpair[@name='priority']") is None
                          for p in others)


# -- what each node runs ---------------------------------------------------------


def test_a_node_running_the_files_values():
    found = corosync.parse(cmap(1000, 1200), "node1", load().timings)
    assert (found.token, found.consensus, found.wanted_token, found.wanted_consensus) == (
        1000, 1200, 1000, 1200)
    assert not found.differs


def test_three_nodes_run_the_token_plus_the_coefficient():
    timings = params.load(str(THREE)).timings
    assert not corosync.parse(cmap(1650, 1980, members=3), "node1", timings).differs
    # An administrator's token_coefficient is Corosync's to add, not a difference.
    assert not corosync.parse(cmap(1000, 1980, members=3, coefficient=0), "node1",
                              timings).differs
    assert corosync.parse(cmap(3650, 4380, members=3), "node1", timings).differs


def test_a_node_running_the_default_token_differs_and_says_what_to_run():
    timings = load().timings
    found = corosync.parse(cmap(3000, 3600), "node2", timings)
    assert found.differs
    assert corosync.notes([found], timings) == [
        "node2 runs Corosync token 3000 ms, consensus 3600 ms; the parameter file says "
        "1000 ms and 1200 ms: run 'sip-ha cib apply' (it runs '/usr/sbin/pcs cluster config "
        "update totem token=1000 consensus=1200')"]


def test_corosync_not_running_is_a_reason_not_a_difference():
    timings = load().timings
    found = corosync.parse("", "node1", timings)
    assert not found.differs
    assert found.error == ("corosync-cmapctl shows no running totem token or consensus "
                           "(is Corosync running?)")
    fake = FakeRunner([(CMAP, done(returncode=1, stderr="Failed to initialize the cmap API. "
                                                        "Error CS_ERR_LIBRARY\n"))])
    (failed,) = corosync.survey(fake, timings, ["node1"], local="node1")
    assert corosync.notes([failed], timings) == [
        "could not read Corosync's timing on node1: Failed to initialize the cmap API. "
        "Error CS_ERR_LIBRARY"]


def test_this_node_is_read_directly_the_others_over_ssh():
    timings = load().timings
    fake = FakeRunner([(CMAP, done(cmap(1000, 1200))),
                       (tools.on_node("node2", CMAP), done(cmap(3000, 3600)))])
    first, second = corosync.survey(fake, timings, ["node1", "node2"], local="node1")
    assert fake.finished()
    assert fake.calls[1][:3] == [tools.SSH, *tools.SSH_OPTIONS[:2]]
    assert fake.calls[1][-1] == ("/usr/sbin/corosync-cmapctl runtime.config.totem.token "
                                 "runtime.config.totem.consensus totem.token_coefficient "
                                 "nodelist.node.")
    assert (first.differs, second.differs) == (False, True)


# -- sip-ha status -----------------------------------------------------------------


def state(*nodes: tuple[str, bool]) -> cluster.ClusterState:
    return cluster.ClusterState(
        nodes=tuple(cluster.NodeState(name, online, False, False, False)
                    for name, online in nodes),
        quorum=True, dc="node1", fencing_enabled=True, services=(),
        attention=("already here",))


def here(answer: Completed) -> corosync.Shown:
    """What status's one corosync-cmapctl run on node1 shows (ANSWER)."""
    fake = FakeRunner([(qdevice.HERE_ARGV, answer)])
    shown = corosync.cmapctl(fake, qdevice.HERE_ARGV, "node1", "node1")
    assert fake.finished()
    return shown


def test_status_notes_this_nodes_timing():
    seen = corosync.attend(load(), state(("node1", True), ("node2", True)), "node1",
                           here(done(cmap(3000, 3600))))
    assert seen.attention[0] == "already here"
    assert [note.split(";")[0] for note in seen.attention[1:]] == [
        "node1 runs Corosync token 3000 ms, consensus 3600 ms"]
    seen = corosync.attend(load(), state(("node1", True), ("node2", True)), "node1",
                           here(done(cmap(1000, 1200))))
    assert seen.attention == ("already here",)


def test_status_says_when_it_cannot_read_this_nodes_timing():
    shown = here(done(returncode=1, stderr="Failed to initialize the cmap API. Error "
                                           "CS_ERR_LIBRARY\n"))
    seen = corosync.attend(load(), state(("node1", True)), "node1", shown)
    assert seen.attention[1:] == (
        "could not read Corosync's timing on node1: Failed to initialize the cmap API. "
        "Error CS_ERR_LIBRARY",)


def test_a_user_corosync_does_not_let_in_gets_no_note():
    """A monitoring check as a haclient user: Corosync's IPC refuses it (so
    a real node answers such a user); root's status and cib diff check."""
    shown = here(done(returncode=1, stderr="Failed to initialize the cmap API. Error "
                                           "CS_ERR_ACCESS\n"))
    seen = corosync.attend(load(), state(("node1", True)), "node1", shown)
    assert seen.attention == ("already here",)


def test_the_local_node_is_pacemakers_name_not_the_host_name():
    """An FQDN host name on a node Pacemaker calls node1: no ssh to itself."""
    fake = FakeRunner([(NAME, done("node1\n")), (CMAP, done(cmap(1000, 1200))),
                       (tools.on_node("node2", CMAP), done(cmap(1000, 1200)))])
    assert not any(item.differs or item.error for item in
                   corosync.survey(fake, load().timings, ["node1", "node2"]))
    assert fake.finished()


# -- sip-ha cib diff / apply -------------------------------------------------------

# node_state as Pacemaker 2.1 writes it (node1) and as 3.0 does (node2: the
# times it joined), and a lost node (node3, 3.0).
LIVE = etree.fromstring(b"""<cib><configuration/><status>
 <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member"/>
 <node_state id="2" uname="node2" in_ccm="1764500000" crmd="1764500001" join="member"/>
 <node_state id="3" uname="node3" in_ccm="0" crmd="0" join="down"/>
 <node_state id="4" uname="node4" in_ccm="false" crmd="offline" join="down"/>
</status></cib>""")


def test_online_nodes_from_the_cib_of_either_pacemaker():
    assert corosync.online(LIVE) == ["node1", "node2"]


def test_apply_names_the_pcs_command_when_a_node_differs():
    fake = FakeRunner([(CMAP, done(cmap(1000, 1200))),
                       (tools.on_node("node2", CMAP), done(cmap(3000, 3600)))])
    planned = corosync.pending(fake, load().timings, LIVE, local="node1")
    assert planned.command == PCS_UPDATE
    assert planned.describe() == [
        "node2 runs Corosync token 3000 ms, consensus 3600 ms; the parameter file says "
        "1000 ms and 1200 ms",
        "Corosync: /usr/sbin/pcs cluster config update totem token=1000 consensus=1200"]
    fake = FakeRunner([(PCS_UPDATE, done())])
    corosync.apply(fake, load().timings)
    assert fake.finished()


def test_nothing_to_do_when_every_node_runs_the_files_values():
    fake = FakeRunner([(CMAP, done(cmap(1000, 1200))),
                       (tools.on_node("node2", CMAP), done(cmap(1000, 1200)))])
    planned = corosync.pending(fake, load().timings, LIVE, local="node1")
    assert (planned.command, planned.describe()) == (None, [])


def test_a_failing_pcs_is_one_sentence():
    fake = FakeRunner([(PCS_UPDATE, done(returncode=1, stderr="Error: Unable to connect to "
                                                              "node2 (pcsd)\n"))])
    with pytest.raises(SipHaError) as caught:
        corosync.apply(fake, load().timings)
    assert str(caught.value) == (
        "could not set Corosync's token and consensus on every node: Error: Unable to connect "
        "to node2 (pcsd). The Pacemaker configuration is in place; Corosync keeps its old "
        "values. Is pcsd running and authenticated on every node (pcs host auth)?")


def test_ctrl_c_does_not_cut_pcs_short():
    import signal

    def pcs(argv: list[str]):
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        return done()
    before = signal.getsignal(signal.SIGINT)
    fake = FakeRunner([(PCS_UPDATE, pcs)])
    corosync.apply(fake, load().timings)
    assert fake.finished()
    assert signal.getsignal(signal.SIGINT) is before


# -- the command line ----------------------------------------------------------------


@pytest.fixture
def cli_on_node1(monkeypatch: pytest.MonkeyPatch):
    """The sip-ha command line on node1, running FAKE instead of real commands
    (FAKE's steps name the node: crm_node -n)."""
    from tests.unit.conftest import no_device_work

    monkeypatch.setattr("sip_ha.history.record", lambda message: None)
    no_device_work(monkeypatch)

    def install(fake: FakeRunner) -> FakeRunner:
        monkeypatch.setattr(tools, "runner", lambda seconds: fake)
        return fake
    return install


def invoke(*args: str):
    from click.testing import CliRunner

    from sip_ha.cli import cli

    return CliRunner().invoke(cli, [*args, "--params", str(EXAMPLE)])


def with_members(cib: etree._Element) -> str:
    """CIB as cibadmin --query shows it with node1 and node2 online."""
    cib = etree.fromstring(etree.tostring(cib))
    status = cib.find("status")
    for number, name in ((1, "node1"), (2, "node2")):
        etree.SubElement(status, "node_state", id=str(number), uname=name, in_ccm="true",
                         crmd="online", join="member", expected="member")
    return etree.tostring(cib).decode()


def up_to_date() -> str:
    from tests.unit.test_cli_cib import LIVE

    live = etree.fromstring(LIVE.encode())
    live.find("configuration/resources").clear()
    live.find("configuration/constraints").clear()
    from sip_ha import cib

    return with_members(cib.merged(live, render.render(load(), "pacemaker-3.9").getroot()))


@pytest.mark.pacemaker_tools
def test_status_says_when_this_node_runs_other_timing(tmp_path: Path, cli_on_node1):
    import json

    from tests.support.scheduler import Simulation
    from tests.unit.test_cli_moves import healthy

    sim = Simulation(render.render(load()).getroot(), tmp_path)
    healthy(sim, "node1")
    healthy(sim, "node2")
    sim.settle()
    # node2 online and not asked: no ssh from status (nor --nagios); this
    # node's timing and quorum device in one corosync-cmapctl run
    steps = [(cluster.CRM_MON_ARGV, done(sim.crm_mon())), (NAME, done("node1\n")),
             (qdevice.HERE_ARGV, done(cmap(3000, 3600)))]
    cli_on_node1(FakeRunner(list(steps)))
    result = invoke("status")
    assert result.exit_code == 5, result.output
    assert ("  - node1 runs Corosync token 3000 ms, consensus 3600 ms; the parameter file "
            "says 1000 ms and 1200 ms: run 'sip-ha cib apply'") in result.output
    cli_on_node1(FakeRunner(list(steps)))
    result = invoke("status", "--output-as", "json")
    assert result.exit_code == 5, result.output
    notes = json.loads(result.stdout)["needs_attention"]
    assert [n for n in notes if "Corosync" in n] == [
        "node1 runs Corosync token 3000 ms, consensus 3600 ms; the parameter file says "
        "1000 ms and 1200 ms: run 'sip-ha cib apply' (it runs '/usr/sbin/pcs cluster config "
        "update totem token=1000 consensus=1200')"]
    steps[2] = (qdevice.HERE_ARGV, done(cmap(1000, 1200)))
    fake = cli_on_node1(FakeRunner(list(steps)))
    assert invoke("status").exit_code == 0
    assert fake.finished()
    fake = cli_on_node1(FakeRunner(list(steps)))
    result = invoke("status", "--nagios")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("SIPHA OK - ")
    assert fake.finished()


@pytest.mark.pacemaker_tools
def test_cib_diff_names_the_command_and_apply_runs_it(cli_on_node1):
    from tests.unit.test_cli_cib import QUERY, VERIFY, real

    live = up_to_date()
    reads = [(NAME, done("node1\n")), (CMAP, done(cmap(3000, 3600))),
             (tools.on_node("node2", CMAP), done(cmap(3000, 3600)))]
    cli_on_node1(FakeRunner([(QUERY, done(live)), (VERIFY, real), *reads]))
    result = invoke("cib", "diff")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "node1 runs Corosync token 3000 ms, consensus 3600 ms; the parameter file says "
        "1000 ms and 1200 ms\n"
        "node2 runs Corosync token 3000 ms, consensus 3600 ms; the parameter file says "
        "1000 ms and 1200 ms\n"
        "Corosync: /usr/sbin/pcs cluster config update totem token=1000 consensus=1200\n")
    fake = cli_on_node1(FakeRunner([(QUERY, done(live)), (VERIFY, real), *reads,
                                    (PCS_UPDATE, done())]))
    result = invoke("cib", "apply")
    assert result.exit_code == 0, result.output
    assert fake.finished()
    assert result.stdout.endswith("Corosync: token 1000 ms, consensus 1200 ms set on every "
                                  "node\n")
    assert "already runs" not in result.stdout
    same = [(NAME, done("node1\n")), (CMAP, done(cmap(1000, 1200))),
            (tools.on_node("node2", CMAP), done(cmap(1000, 1200)))]
    fake = cli_on_node1(FakeRunner([(QUERY, done(live)), (VERIFY, real), *same]))
    result = invoke("cib", "apply")
    assert result.stdout == "the cluster already runs this configuration\n"
    assert fake.finished()


@pytest.mark.pacemaker_tools
def test_cib_diff_json_carries_each_nodes_timing(cli_on_node1):
    import json

    from tests.unit.test_cli_cib import QUERY, VERIFY, real
    from tests.unit.test_cli_output import valid

    cli_on_node1(FakeRunner([(QUERY, done(up_to_date())), (VERIFY, real),
                             (NAME, done("node1\n")), (CMAP, done(cmap(1000, 1200))),
                             (tools.on_node("node2", CMAP), done(returncode=255,
                                                                  stderr="ssh: connect to "
                                                                  "host node2: refused\n"))]))
    result = invoke("cib", "diff", "--output-as", "json")
    assert result.exit_code == 0, result.output
    data = valid("cib-diff.json", result.stdout)
    assert data["changed"] is False
    assert data["corosync"] == {"command": None, "nodes": [
        {"node": "node1", "token": 1000, "consensus": 1200, "wanted_token": 1000,
         "wanted_consensus": 1200, "error": None},
        {"node": "node2", "token": None, "consensus": None, "wanted_token": None,
         "wanted_consensus": None, "error": "ssh: connect to host node2: refused"}]}
    assert json.loads(result.stdout)["diff"] == ""


@pytest.mark.pacemaker_tools
def test_cib_apply_interrupted_while_pcs_runs_says_what_is_installed(cli_on_node1):
    from tests.unit.test_cli_cib import QUERY, VERIFY, real

    def interrupt(argv: list[str]):
        raise KeyboardInterrupt
    reads = [(NAME, done("node1\n")), (CMAP, done(cmap(3000, 3600))),
             (tools.on_node("node2", CMAP), done(cmap(3000, 3600)))]
    cli_on_node1(FakeRunner([(QUERY, done(up_to_date())), (VERIFY, real), *reads,
                             (PCS_UPDATE, interrupt)]))
    result = invoke("cib", "apply")
    assert result.exit_code == 130, result.output
    assert result.stderr.endswith(
        "sip-ha: interrupted: the Pacemaker configuration is installed; Corosync's token "
        "and consensus may be set on some nodes only: 'sip-ha cib diff' shows what "
        "differs, 'sip-ha cib apply' sets them\n")
