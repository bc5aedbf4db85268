"""The quorum device the parameter file owns ([cluster] quorum_device,
[timings] qdevice_timeout and qdevice_sync_timeout): checked, compared with
what every node runs, changed with pcs or, where pcs needs the qnetd host,
the operator's steps; its heuristic, holds-address."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cib_templates import params, qdevice
from sip_ha import corosync, holds_address, install, tools
from sip_ha import qdevice as device
from sip_ha.errors import SipHaError
from sipha_runtime import local_addresses
from tests.support.fake_runner import FakeRunner, done
from tests.unit.test_corosync_timing import LIVE, here, state

EXAMPLE = Path(params.__file__).parent / "example.toml"
THREE = Path(__file__).parent / "data" / "three-nodes.toml"
CMAP = device.CMAP_ARGV
QUORUM = device.QUORUM_ARGV
HOST = "qnetd.example.org"
EXEC = "/usr/lib/sip-ha/holds-address 198.51.100.100"
UPDATE = ["/usr/sbin/pcs", "quorum", "device", "update", "timeout=1250", "sync_timeout=3000",
          "model", f"host={HOST}", "algorithm=ffsplit", "heuristics", "mode=sync",
          f"exec_sipactive={EXEC}"]


def load(cluster: dict | None = None, path: Path = EXAMPLE, **timings: object
         ) -> params.ClusterParams:
    raw = tomllib.loads(path.read_text())
    raw["cluster"].update(cluster if cluster is not None else {"quorum_device": HOST})
    raw.setdefault("timings", {}).pop("fencing_delay", None)
    raw["timings"].update(timings)
    return params.parse(raw, "cluster.toml")


def cmap(host: str = HOST, timeout: int | None = 1250, sync_timeout: int | None = 3000,
         heuristic: str | None = EXEC, model: str = "net") -> str:
    """corosync-cmapctl quorum.device. as Corosync 3.1 prints it for the
    section pcs writes (None: the key left out)."""
    lines = [f"quorum.device.heuristics.exec_sipactive (str) = {heuristic}",
             "quorum.device.heuristics.mode (str) = sync",
             f"quorum.device.model (str) = {model}",
             "quorum.device.net.algorithm (str) = ffsplit",
             f"quorum.device.net.host (str) = {host}",
             "quorum.device.net.tls (str) = on",
             f"quorum.device.sync_timeout (u32) = {sync_timeout}",
             f"quorum.device.timeout (u32) = {timeout}",
             "quorum.device.votes (u32) = 1"]
    dropped = [key for key, value in (("exec_sipactive", heuristic), ("heuristics.mode",
               heuristic), ("sync_timeout", sync_timeout), (".timeout", timeout))
               if value is None]
    return "".join(line + "\n" for line in lines
                   if not any(key in line.split(" (")[0] for key in dropped))


# -- the parameter file ----------------------------------------------------------


def test_a_device_takes_the_tuned_timeouts_and_no_fencing_delay():
    p = load()
    assert p.quorum_device == HOST
    assert (p.timings.qdevice_timeout, p.timings.qdevice_sync_timeout) == (1250, 3000)
    assert p.timings.fencing_delay == "0"
    assert params.warnings(p) == []
    # Without one, nothing changes: the two-node delay stays.
    plain = load({})
    assert (plain.quorum_device, plain.timings.fencing_delay) == (None, "5s")
    assert params.warnings(plain) == []
    assert load({"quorum_device": "198.51.100.202"}).quorum_device == "198.51.100.202"
    assert load({"quorum_device": "2001:db8::202"}).quorum_device == "2001:db8::202"
    assert load(qdevice_timeout=2000, qdevice_sync_timeout=5000).timings.qdevice_timeout == 2000


def test_fencing_delay_warnings_are_one_line_each():
    [delayed] = params.warnings(load(fencing_delay="5s"))
    assert delayed == ("[timings] fencing_delay is 5s with a quorum device: every power cut "
                       "of the SIP-ACTIVE node waits it (only the side with quorum fences; "
                       "set it to \"0\")")
    for zero in ("0", "0s", "00ms"):
        [racing] = params.warnings(load({}, fencing_delay=zero))
        assert racing == ("[timings] fencing_delay is 0 in two nodes without a quorum "
                          "device: a cut link can fence both nodes ([cluster] quorum_device, "
                          "or a delay such as 5s)")
    assert params.warnings(load({}, fencing_delay="10ms")) == []
    # Three nodes: a quorate majority fences, no race to warn of.
    assert params.warnings(load({}, path=THREE, fencing_delay="0")) == []


@pytest.mark.parametrize(("cluster", "timings", "message"), [
    ({"quorum_device": "-oProxyCommand"}, {}, "[cluster] quorum_device: '-oProxyCommand' is "
     "not an IPv4 or IPv6 address or a host name (the machine that runs corosync-qnetd)"),
    ({"quorum_device": "198.51.100.202/24"}, {}, "is not an IPv4 or IPv6 address"),
    ({"quorum_device": ""}, {}, "is not an IPv4 or IPv6 address"),
    ({"quorum_device": 5}, {}, "[cluster] quorum_device: write it as a quoted string"),
    ({}, {"qdevice_timeout": 1000}, "[timings] qdevice_timeout: 1000 ms is not between 1250 "
     "and 150000 ms (corosync-qdevice's heartbeat to the qnetd is 0.8 x it, and the qnetd "
     "takes 1000 to 120000 ms)"),
    ({}, {"qdevice_sync_timeout": 200_000}, "qdevice_sync_timeout: 200000 ms is not between"),
    ({}, {"qdevice_timeout": "2s"}, "[timings] qdevice_timeout: '2s' is not a whole number "
     "of milliseconds"),
])
def test_bad_device_values_are_one_line(cluster: dict, timings: dict, message: str):
    with pytest.raises(params.ParamError) as caught:
        load({"quorum_device": HOST, **cluster}, **timings)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert str(caught.value).startswith("cluster.toml [")


def test_an_odd_cluster_is_refused_a_device():
    with pytest.raises(params.ParamError) as caught:
        load({"quorum_device": HOST}, path=THREE)
    assert str(caught.value) == (
        "cluster.toml [cluster] quorum_device: 3 nodes; the quorum device's algorithm "
        "(ffsplit) is for an even number of nodes, and an odd cluster settles a split by "
        "majority: leave it out")


@pytest.mark.parametrize(("host", "message"), [
    ("node2", "cluster.toml [cluster] quorum_device: node2 is a cluster node; the qnetd must "
     "run on a third machine (its vote is lost with that node)"),
    ("198.51.100.100", "cluster.toml [cluster] quorum_device: 198.51.100.100 is a service "
     "address; the qnetd must run on a third machine"),
])
def test_the_device_is_a_third_machine(host: str, message: str):
    with pytest.raises(params.ParamError) as caught:
        load({"quorum_device": host})
    assert str(caught.value) == message


def test_a_bad_value_is_one_line_and_the_parameter_files_exit_code(tmp_path: Path):
    """2, as every parameter file error (test_cli_bad_params.py)."""
    from click.testing import CliRunner

    from sip_ha.cli import cli

    text = EXAMPLE.read_text().replace('nodes = ["node1", "node2"]\n',
                                       'nodes = ["node1", "node2"]\nquorum_device = "a b"\n', 1)
    path = tmp_path / "cluster.toml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["cib", "render", "--params", str(path)])
    assert result.exit_code == 2
    assert result.stderr == (f"sip-ha: {path} [cluster] quorum_device: 'a b' is not an IPv4 "
                             "or IPv6 address or a host name (the machine that runs "
                             "corosync-qnetd)\n")


# -- the commands -------------------------------------------------------------------


def test_pcs_commands_name_the_host_timeouts_and_heuristic():
    p = load({"quorum_device": HOST})
    wanted = device.Wanted.of(p)
    assert device.update_argv(wanted) == UPDATE
    heuristic = qdevice.exec_line(["198.51.100.100/24", "2001:db8::100/64", "198.51.100.100"])
    assert qdevice.add_argv(HOST, 1250, 3000, heuristic, pcs="pcs") == [
        "pcs", "quorum", "device", "add", "timeout=1250", "sync_timeout=3000", "model", "net",
        f"host={HOST}", "algorithm=ffsplit", "heuristics", "mode=sync",
        "exec_sipactive=/usr/lib/sip-ha/holds-address 198.51.100.100 2001:db8::100"]
    assert device.setup_steps(p) == [
        f"on {HOST} (packages pcs, corosync-qnetd): pcs qdevice setup model net --enable "
        "--start",
        "on every node: apt install corosync-qdevice",
        f"on one node: pcs host auth {HOST}",
        "on one node: pcs quorum device add timeout=1250 sync_timeout=3000 model net "
        f"host={HOST} algorithm=ffsplit heuristics mode=sync "
        f"'exec_sipactive={EXEC}'"]


# -- what each node runs ---------------------------------------------------------------


def test_a_node_running_the_files_device():
    found = device.parse(cmap(), "node1", device.Wanted.of(load()))
    assert found.configured and found.host == HOST
    assert not found.differs


def test_corosync_qdevices_defaults_and_a_missing_heuristic_differ():
    wanted = device.Wanted.of(load())
    found = device.parse(cmap(timeout=None, sync_timeout=None, heuristic=None), "node2", wanted)
    assert found.describe(wanted) == (
        "node2 runs another quorum device: timeout 10000 (the file: 1250), sync_timeout "
        "30000 (the file: 3000), heuristics.mode off (the file: sync), "
        f"heuristics.exec_sipactive unset (the file: {EXEC})")


def test_a_device_only_one_side_names():
    wanted = device.Wanted.of(load())
    none = device.parse("", "node1", wanted)
    assert none.differs and not none.configured
    assert none.describe(wanted) == f"node1 has no quorum device; the parameter file names {HOST}"
    unnamed = device.Wanted.of(load({}))
    other = device.parse(cmap(), "node1", unnamed)
    assert other.describe(unnamed) == (
        f"node1 has a quorum device (host {HOST}) the parameter file does not name "
        "([cluster] quorum_device)")
    assert not device.parse("", "node1", unnamed).differs


def read(text: str):
    """corosync-cmapctl's answer: it exits 1 when no key has the prefix."""
    return done(text, returncode=0 if text else 1)


def nodes(first: str, second: str | object) -> FakeRunner:
    """node1 read here, node2 over ssh (LIVE's online nodes)."""
    answer = second if not isinstance(second, str) else read(second)
    return FakeRunner([(CMAP, read(first)), (tools.on_node("node2", CMAP), answer)])


def test_apply_updates_an_existing_device_that_differs():
    fake = nodes(cmap(), cmap(timeout=10000))
    planned = device.pending(fake, load(), LIVE, local="node1")
    assert fake.finished()
    assert fake.calls[1][-1] == "/usr/sbin/corosync-cmapctl quorum.device."
    assert (planned.command, planned.steps, planned.foreign) == (UPDATE, [], None)
    assert planned.describe() == [
        "node2 runs another quorum device: timeout 10000 (the file: 1250)",
        "quorum device: /usr/sbin/pcs quorum device update timeout=1250 sync_timeout=3000 "
        f"model host={HOST} algorithm=ffsplit heuristics mode=sync 'exec_sipactive={EXEC}'"]
    fake = FakeRunner([(UPDATE, done())])
    device.apply(fake, UPDATE)
    assert fake.finished()


def test_nothing_to_do_when_every_node_runs_the_files_device():
    planned = device.pending(nodes(cmap(), cmap()), load(), LIVE, local="node1")
    assert not planned.changed and planned.describe() == []
    planned = device.pending(nodes("", ""), load({}), LIVE, local="node1")
    assert not planned.changed and planned.describe() == []


def test_no_device_yet_gives_the_operators_steps_not_a_command():
    planned = device.pending(nodes("", ""), load(), LIVE, local="node1")
    assert planned.command is None and planned.changed
    assert planned.steps == device.setup_steps(load())
    assert planned.describe()[2] == ("quorum device: 'sip-ha cib apply' cannot add it (pcs "
                                     "needs pcsd on the qnetd host); once:")


def test_a_device_on_another_machine_is_replaced_by_the_operator():
    planned = device.pending(nodes(cmap(host="old-qnetd"), cmap(host="old-qnetd")), load(),
                             LIVE, local="node1")
    assert planned.command is None
    assert planned.steps[2] == (
        "on one node: pcs quorum device remove (the device on old-qnetd; if that is "
        f"{HOST} by another name, write quorum_device = \"old-qnetd\" instead)")
    assert planned.steps[3:] == device.setup_steps(load())[2:]


def test_a_device_the_file_does_not_name_is_said():
    planned = device.pending(nodes(cmap(), cmap()), load({}), LIVE, local="node1")
    assert (planned.command, planned.steps, planned.foreign) == (None, [], HOST)
    assert planned.describe()[-1] == (
        f"quorum device: name it in [cluster] quorum_device = \"{HOST}\" (SIP-HA then sets "
        "its timeouts and heuristic), or remove it: pcs quorum device remove")


def test_an_unreadable_node_is_a_warning_not_a_difference():
    planned = device.pending(nodes(cmap(), done(returncode=255, stderr="ssh: connect to host "
                                                                        "node2: refused\n")),
                             load(), LIVE, local="node1")
    assert not planned.changed
    assert planned.unread() == ["could not read the quorum device on node2: ssh: connect to "
                                "host node2: refused"]


def test_a_failing_pcs_is_one_sentence():
    fake = FakeRunner([(UPDATE, done(returncode=1, stderr="Error: Unable to connect to node2\n"))])
    with pytest.raises(SipHaError) as caught:
        device.apply(fake, UPDATE)
    assert str(caught.value) == (
        "could not change the quorum device on every node: Error: Unable to connect to node2. "
        "The Pacemaker configuration is in place; the quorum device keeps its old settings. "
        "Is pcsd running and authenticated on every node (pcs host auth)?")


# -- sip-ha status: this node only ----------------------------------------------------


def quorumtool(flags: str | None) -> str:
    """corosync-quorumtool -s on node1 (corosync 3.1); FLAGS: node1's qdevice
    column (None: no node has a qdevice registered, no column)."""
    head = "    Nodeid      Votes    Qdevice Name" if flags else "    Nodeid      Votes Name"
    column = f"{flags:>10} " if flags else ""
    return ("Quorum information\n------------------\nQuorum provider:  corosync_votequorum\n"
            "Quorate:          Yes\n\nVotequorum information\n----------------------\n"
            "Expected votes:   3\nTotal votes:      3\nQuorum:           2\n"
            f"Flags:            Quorate{' Qdevice' if flags else ''}\n\n"
            "Membership information\n----------------------\n"
            f"{head}\n         1          1 {column}node1 (local)\n"
            f"         2          1 {column}node2\n")


@pytest.mark.parametrize(("flags", "why"), [
    ("A,V,NMW", None),
    ("A,NV,NMW", "its corosync-qdevice casts no vote (not connected to the qnetd?)"),
    ("NA,NV,NMW", "its corosync-qdevice casts no vote (not connected to the qnetd?)"),
    ("NR", "corosync-qdevice does not run there (systemctl start corosync-qdevice)"),
    (None, "corosync-qdevice does not run there (systemctl start corosync-qdevice)"),
])
def test_whether_this_nodes_qdevice_votes(flags: str | None, why: str | None):
    assert device.voting(quorumtool(flags)) == why


@pytest.fixture
def helper_here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The heuristic's program as install-agents puts it, at a path of the
    test's own (cmap() names /usr/lib/sip-ha/holds-address)."""
    program = tmp_path / "holds-address"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    real = device.os.access
    monkeypatch.setattr(device.os, "access", lambda path, mode: real(
        str(program) if path == qdevice.HOLDS_ADDRESS else path, mode))
    return program


def test_status_says_when_the_heuristic_is_not_installed(helper_here: Path):
    fake = FakeRunner([(QUORUM, done(quorumtool("A,V,NMW")))])
    assert device.attend(fake, load(), state(("node1", True)), "node1",
                         here(done(cmap()))).attention == ("already here",)
    helper_here.unlink()
    fake = FakeRunner([(QUORUM, done(quorumtool("A,V,NMW")))])
    assert device.attend(fake, load(), state(("node1", True)), "node1",
                         here(done(cmap()))).attention[1:] == (
        f"the quorum device's heuristic {qdevice.HOLDS_ADDRESS} is not installed on node1: "
        "in a split where both nodes reach the qnetd this one cannot win it ('sip-ha "
        "install-agents' or the Debian package puts it there)",)


def test_status_warns_of_a_device_that_does_not_vote(helper_here: Path):
    fake = FakeRunner([(QUORUM, done(quorumtool("A,NV,NMW")))])
    seen = device.attend(fake, load(), state(("node1", True), ("node2", True)), "node1",
                         here(done(cmap())))
    assert fake.finished()
    assert seen.attention[1:] == (
        f"the quorum device (host {HOST}) does not vote on node1: its corosync-qdevice casts "
        "no vote (not connected to the qnetd?); losing a node now can leave this one without "
        "quorum, stopping its services",)
    # Not quorate: corosync-quorumtool exits 2 and shows the members all the same.
    fake = FakeRunner([(QUORUM, done(quorumtool("A,V,NMW"), returncode=2))])
    assert device.attend(fake, load(), state(("node1", True)), "node1",
                         here(done(cmap()))).attention == ("already here",)


def test_status_names_a_device_that_differs_and_reads_no_votes_without_one():
    fake = FakeRunner([])  # no corosync-quorumtool without a device
    seen = device.attend(fake, load(), state(("node1", True)), "node1", here(read("")))
    assert seen.attention[1:] == (
        f"node1 has no quorum device; the parameter file names {HOST}: run 'sip-ha cib "
        "apply' (it says what it runs or what to do)",)
    assert device.attend(fake, load({}), state(("node1", True)), "node1",
                         here(read(""))).attention == ("already here",)
    shown = here(done(returncode=1, stderr="Failed to initialize the cmap API. Error "
                                           "CS_ERR_LIBRARY\n"))
    assert device.attend(fake, load({}), state(("node1", True)), "node1",
                         shown).attention[1:] == (
        "could not read the quorum device on node1: Failed to initialize the cmap API. Error "
        "CS_ERR_LIBRARY",)
    # A haclient monitoring user, whom Corosync does not let in: no note, and
    # no corosync-quorumtool run either.
    shown = here(done(returncode=1, stderr="Failed to initialize the cmap API. Error "
                                           "CS_ERR_ACCESS\n"))
    assert device.attend(fake, load(), state(("node1", True)), "node1",
                         shown).attention == ("already here",)
    assert fake.calls == []


# -- the command line ------------------------------------------------------------------


@pytest.fixture
def on_node1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """sip-ha on node1 with a parameter file naming the device; Corosync's
    timing is the file's (test_corosync_timing.py reads it)."""
    monkeypatch.setattr("sip_ha.history.record", lambda message: None)
    monkeypatch.setattr(corosync, "survey", lambda *args, **kwargs: ())
    monkeypatch.setattr(corosync, "local_name", lambda runner: "node1")
    path = tmp_path / "cluster.toml"
    path.write_text(EXAMPLE.read_text().replace(
        'nodes = ["node1", "node2"]\n', f'nodes = ["node1", "node2"]\nquorum_device = "{HOST}"\n',
        1))

    def install(fake: FakeRunner) -> tuple[FakeRunner, list[str]]:
        monkeypatch.setattr(tools, "runner", lambda seconds: fake)
        return fake, ["--params", str(path)]
    return install


def invoke(*args: str):
    from click.testing import CliRunner

    from sip_ha.cli import cli

    return CliRunner().invoke(cli, list(args))


def cib_steps(answers: list) -> list:
    """What diff and apply run: this node's device first (whether the
    device's fencing delay may hold yet), the live CIB (its delay: 0 with
    the device, the two-node 5s without), then every other node's device
    (this node's is not read again)."""
    from tests.unit.test_cli_cib import QUERY, VERIFY, real
    from tests.unit.test_corosync_timing import up_to_date

    live = up_to_date()
    assert 'name="priority-fencing-delay" value="5s"' in live
    if answers[0]:
        live = live.replace('value="5s"', 'value="0"', 1)
    return [(CMAP, read(answers[0])), (QUERY, done(live)), (VERIFY, real),
            (tools.on_node("node2", CMAP), read(answers[1]))]


@pytest.mark.pacemaker_tools
def test_cib_diff_and_apply_change_an_existing_device(on_node1):
    fake, where = on_node1(FakeRunner(cib_steps([cmap(timeout=10000), cmap(timeout=10000)])))
    result = invoke("cib", "diff", *where)
    assert result.exit_code == 0, result.output
    assert fake.finished()
    assert [argv for argv in fake.calls if argv[0] == corosync.CMAPCTL] == [CMAP]  # once here
    assert result.stdout == (
        "node1 runs another quorum device: timeout 10000 (the file: 1250)\n"
        "node2 runs another quorum device: timeout 10000 (the file: 1250)\n"
        "quorum device: /usr/sbin/pcs quorum device update timeout=1250 sync_timeout=3000 "
        f"model host={HOST} algorithm=ffsplit heuristics mode=sync 'exec_sipactive={EXEC}'\n")
    fake, where = on_node1(FakeRunner([*cib_steps([cmap(timeout=10000), cmap()]),
                                       (UPDATE, done())]))
    result = invoke("cib", "apply", *where)
    assert result.exit_code == 0, result.output
    assert fake.finished()
    assert [argv for argv in fake.calls if argv[0] == corosync.CMAPCTL] == [CMAP]
    assert result.stdout == (
        "node1 runs another quorum device: timeout 10000 (the file: 1250)\n"
        f"quorum device: {HOST}, timeout 1250 ms, sync_timeout 3000 ms, heuristic set on "
        "every node\n")
    fake, where = on_node1(FakeRunner(cib_steps([cmap(), cmap()])))
    result = invoke("cib", "apply", *where)
    assert (result.exit_code, result.stdout) == (0, "the cluster already runs this "
                                                    "configuration\n")


@pytest.mark.pacemaker_tools
def test_status_reads_this_nodes_corosync_once(on_node1, helper_here: Path, tmp_path: Path):
    """Corosync's timing and the quorum device from one corosync-cmapctl run
    here (no ssh: status is also the monitoring check)."""
    from cib_templates import render
    from sip_ha import cluster
    from tests.support.scheduler import Simulation
    from tests.unit.test_cli_moves import healthy
    from tests.unit.test_corosync_timing import cmap as timing

    fake, where = on_node1(FakeRunner([]))
    sim = Simulation(render.render(params.load(where[1])).getroot(), tmp_path)
    healthy(sim, "node1")
    healthy(sim, "node2")
    sim.settle()
    for nagios in ([], ["--nagios"]):
        fake, where = on_node1(FakeRunner([
            (cluster.CRM_MON_ARGV, done(sim.crm_mon())),
            (device.HERE_ARGV, done(timing(1000, 1200) + cmap())),
            (QUORUM, done(quorumtool("A,V,NMW")))]))
        result = invoke("status", *where, *nagios)
        assert result.exit_code == 0, result.output
        assert fake.finished()
        assert [argv for argv in fake.calls if argv[0] == corosync.CMAPCTL] == [
            device.HERE_ARGV]


@pytest.mark.pacemaker_tools
def test_cib_apply_without_a_device_prints_the_steps_and_exits_5(on_node1):
    """The live CIB keeps the two-node delay (5s): until the device is in
    place no delay would let a cut link fence both nodes."""
    fake, where = on_node1(FakeRunner(cib_steps(["", ""])))
    result = invoke("cib", "apply", *where)
    assert fake.finished()  # no pcs run, no CIB change
    assert result.exit_code == 5, result.output
    assert result.stderr.startswith(
        f"note: fencing_delay stays 5s until the quorum device on {HOST} is in place "
        "(then 'sip-ha cib apply' again sets it to 0)\n")
    lines = result.stdout.splitlines()
    assert lines[:3] == [f"node1 has no quorum device; the parameter file names {HOST}",
                         f"node2 has no quorum device; the parameter file names {HOST}",
                         "quorum device: 'sip-ha cib apply' cannot add it (pcs needs pcsd on "
                         "the qnetd host); once:"]
    assert lines[3:] == [f"  {step}" for step in device.setup_steps(load())]


@pytest.mark.pacemaker_tools
def test_cib_diff_json_carries_the_device(on_node1):
    from tests.unit.test_cli_output import valid

    fake, where = on_node1(FakeRunner(cib_steps(["", ""])))
    data = valid("cib-diff.json", invoke("cib", "diff", *where, "--output-as", "json").stdout)
    assert fake.finished()
    assert data["changed"] is True
    assert data["quorum_device"]["host"] == HOST
    assert data["quorum_device"]["steps"] == device.setup_steps(load())
    assert [n["configured"] for n in data["quorum_device"]["nodes"]] == [False, False]


def test_the_devices_fencing_delay_waits_for_the_device():
    p = load()
    assert p.fencing_delay_from_device and p.timings.fencing_delay == "0"
    # No device on this node yet (or another host, or unreadable): the
    # two-node delay, and the line that says so.
    for answer in ("", cmap(host="old-qnetd.example.org")):
        fake = FakeRunner([(CMAP, read(answer))])
        held, line, found = device.until_in_place(fake, p)
        assert fake.finished()
        assert held.timings.fencing_delay == "5s" and line is not None and "5s" in line
        assert found == device.parse(answer, device.HERE, device.Wanted.of(p))
        assert held.timings.corosync_token == p.timings.corosync_token
    fake = FakeRunner([(CMAP, done(returncode=1, stderr="Failed to initialize the cmap API. "
                                                        "Error CS_ERR_ACCESS\n"))])
    assert device.until_in_place(fake, p)[0].timings.fencing_delay == "5s"
    # In place: the device's 0.
    fake = FakeRunner([(CMAP, read(cmap()))])
    assert device.until_in_place(fake, p) == (p, None, device.parse(cmap(), device.HERE,
                                                                    device.Wanted.of(p)))
    # A delay the file sets is the file's; no device named: nothing to ask.
    for written in (load(fencing_delay="0"), load(fencing_delay="2s"), load({})):
        assert not written.fencing_delay_from_device
        assert device.until_in_place(FakeRunner([]), written) == (written, None, None)


def test_render_warns_of_a_fencing_delay_with_a_device(tmp_path: Path):
    path = tmp_path / "cluster.toml"
    path.write_text(EXAMPLE.read_text().replace(
        'nodes = ["node1", "node2"]\n', f'nodes = ["node1", "node2"]\nquorum_device = "{HOST}"\n',
        1).replace('# fencing_delay = "5s"\n', 'fencing_delay = "5s"\n'))
    result = invoke("cib", "render", "--no-verify", "--params", str(path))
    assert result.exit_code == 0, result.output
    assert result.stderr == f"warning: {params.warnings(load(fencing_delay='5s'))[0]}\n"


# -- holds-address -----------------------------------------------------------------------

FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 198.51.100.0/24 2 0 2
        |-- 198.51.100.0
           /24 link UNICAST
        |-- 198.51.100.11
           /32 host LOCAL
        |-- 198.51.100.100
           /32 host LOCAL
        |-- 198.51.100.255
           /32 link BROADCAST
"""
IF_INET6 = ("20010db8000000000000000000000100 02 40 00 80     eth0\n"
            "20010db8000000000000000000000101 02 40 00 08     eth0\n")


def test_the_kernels_lists_are_read():
    import socket

    def v4(text: str) -> bytes:
        return socket.inet_pton(socket.AF_INET, text)
    assert local_addresses.local_ipv4(FIB_TRIE) == {v4("198.51.100.11"), v4("198.51.100.100")}
    # The second failed duplicate address detection: another host holds it.
    assert local_addresses.local_ipv6(IF_INET6) == {
        socket.inet_pton(socket.AF_INET6, "2001:db8::100")}


def test_holds_address_on_this_hosts_own_addresses(capsys: pytest.CaptureFixture[str]):
    assert holds_address.main(["127.0.0.1"]) == 0
    assert holds_address.main(["198.51.100.250"]) == 1
    assert holds_address.main(["198.51.100.250", "127.0.0.1/8"]) == 0
    assert holds_address.main(["2001:db8::250"]) == 1
    assert holds_address.main(["198.51.100.250", "pbx"]) == 2
    assert capsys.readouterr().err == "holds-address: 'pbx' is not an IP address\n"
    assert holds_address.main([]) == 2


def test_the_installed_helper_runs_as_corosync_qdevice_runs_it(tmp_path: Path):
    where = ["--ocf-root", str(tmp_path), "--alert-dir", str(tmp_path / "alerts"),
             "--tmpfiles-dir", "", "--helper-dir", str(tmp_path / "lib")]
    assert invoke("install-agents", *where).exit_code == 0
    helper = tmp_path / "lib" / "holds-address"
    assert helper.read_text().startswith(f"#!{sys.executable} -IS\n")
    codes = [subprocess.run([str(helper), *args], env={}, capture_output=True,
                            check=False).returncode
             for args in (["127.0.0.1"], ["198.51.100.250"], ["x"])]
    assert codes == [0, 1, 2]
    result = invoke("install-agents", *where, "--uninstall")
    assert f"removed {helper}" in result.output and not helper.parent.exists()


def test_the_debian_package_ships_the_helper_where_the_heuristic_names_it():
    files = install.package_files("/usr/bin/python3", "/usr/share/sip-ha")
    text = files[qdevice.HOLDS_ADDRESS]
    assert text.startswith("#!/usr/bin/python3 -IS\n# Installed by the sip-ha Debian package")
    assert "sys.path.insert(0, '/usr/share/sip-ha')" in text
