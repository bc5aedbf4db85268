"""Ctrl-C during a command that changes the cluster leaves nothing
half-done, or says exactly what is left and how to clear it: the move
constraint of failover/failback is cleared, a standby is reported as it now
is, a configuration is reported installed or not.  And the command being run
when Ctrl-C arrives (in its own session, so the terminal's SIGINT misses
it) is ended with us."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cib_templates import params
from sip_ha import cluster, tools
from sip_ha.cli import cli
from sipha_runtime.run import Runner
from tests.support.fake_runner import FakeRunner, done
from tests.unit.test_cli_cib import LIVE, QUERY, REPLACE, VERIFY, real
from tests.unit.test_cli_moves import CLEAR, MOVE, gate_state

EXAMPLE = str(Path(params.__file__).parent / "example.toml")
CRM_MON = cluster.CRM_MON_ARGV


def ctrl_c(argv):
    raise KeyboardInterrupt


def invoke(*args: str, params_file: bool = True):
    return CliRunner().invoke(cli, [*args, *(["--params", EXAMPLE] if params_file else [])])


@pytest.mark.pacemaker_tools
def test_ctrl_c_during_the_move_clears_the_constraint(tmp_path, use):
    fake = use(FakeRunner([(CRM_MON, done(gate_state(tmp_path))), (MOVE, ctrl_c),
                           (CLEAR, done())]))
    result = invoke("failback", "--no-probe")
    assert result.exit_code == 130
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        "sip-ha: interrupted while moving pbx from node2 to node1: the move constraint is "
        "cleared; Pacemaker leaves it where health and stickiness put it (see 'sip-ha "
        "status')")
    assert fake.finished()                 # the clear did run


@pytest.mark.pacemaker_tools
def test_ctrl_c_and_a_constraint_that_could_not_be_cleared(tmp_path, use):
    fake = use(FakeRunner([(CRM_MON, done(gate_state(tmp_path))), (MOVE, ctrl_c),
                           (CLEAR, done(returncode=1, stderr="Error: cib is busy\n"))]))
    result = invoke("failback", "--no-probe")
    assert result.exit_code == 130
    assert result.stderr.splitlines()[-1] == (
        "sip-ha: interrupted while moving pbx from node2 to node1: the move constraint may "
        "still be there (pcs resource clear: Error: cib is busy): run 'pcs resource clear "
        "pbx-asterisk-clone'")
    assert fake.finished()


@pytest.mark.pacemaker_tools
def test_ctrl_c_while_waiting_for_the_move_clears_too(tmp_path, use):
    ready = gate_state(tmp_path)
    fake = use(FakeRunner([(CRM_MON, done(ready)), (MOVE, done()), (CRM_MON, ctrl_c),
                           (CLEAR, done())]))
    result = invoke("failback", "--no-probe")
    assert result.exit_code == 130
    assert "the move constraint is cleared" in result.stderr
    assert fake.finished()


@pytest.mark.pacemaker_tools
def test_ctrl_c_before_the_move_changed_nothing(tmp_path, use):
    behind = gate_state(tmp_path, state="behind", pending="2", reconciled=None)
    fake = use(FakeRunner([(CRM_MON, done(behind)), (CRM_MON, ctrl_c)]))
    result = invoke("failback", "--no-probe", "--wait", "60")
    assert result.exit_code == 130
    assert result.stderr.splitlines()[-1] == ("sip-ha: interrupted before anything was "
                                              "changed")
    assert fake.finished()                 # no pcs command ran


NODES = """<pacemaker-result api-version="2.25" request="crm_mon"><nodes>
<node name="node1" online="true" standby="{}"/><node name="node2" online="true"
standby="false"/></nodes><status code="0" message="OK"/></pacemaker-result>"""


@pytest.mark.parametrize(("verb", "now", "said"), [
    ("standby", "true", "sip-ha: interrupted: node1 is in standby (the request was made; its "
                        "services move away by themselves); 'sip-ha unstandby node1' undoes it"),
    ("standby", "false", "sip-ha: interrupted: node1 is not in standby; nothing was changed"),
    ("unstandby", "false", "sip-ha: interrupted: node1 is not in standby (the request was "
                           "made); 'sip-ha standby node1' undoes it"),
])
def test_ctrl_c_during_standby_says_what_the_node_is_now(use, verb, now, said):
    fake = use(FakeRunner([([tools.PCS, "node", verb, "--wait=120"], ctrl_c),
                           ([tools.CRM_NODE, "-n"], done("node1\n")),
                           (CRM_MON, done(NODES.format(now)))]))
    result = invoke(verb, params_file=False)
    assert result.exit_code == 130
    assert result.stderr.splitlines()[-1] == said
    assert fake.finished()


@pytest.mark.pacemaker_tools
@pytest.mark.parametrize("installed", [True, False])
def test_ctrl_c_during_cib_apply_says_whether_it_was_installed(use, installed):
    pushed: list[str] = []

    def interrupted(argv):
        pushed.append(Path(argv[-1]).read_text())
        raise KeyboardInterrupt

    def now(argv):
        if not installed:
            return done(LIVE)
        from lxml import etree
        cib = etree.fromstring(LIVE.encode())
        config = etree.fromstring(pushed[0].encode())
        config.tail = cib.find("configuration").tail
        cib.replace(cib.find("configuration"), config)
        return done(etree.tostring(cib).decode())

    fake = use(FakeRunner([(QUERY, done(LIVE)), (VERIFY, real), (REPLACE, interrupted),
                           (QUERY, now)]))
    result = invoke("cib", "apply", "--prune")
    assert result.exit_code == 130
    assert result.stderr.splitlines()[-1] == (
        "sip-ha: interrupted, but the configuration was installed already" if installed else
        "sip-ha: interrupted before the configuration was installed: the cluster runs its "
        "previous one, nothing was changed")
    assert fake.finished()


def test_ctrl_c_ends_the_running_command(tmp_path):
    pid_file = tmp_path / "pid"
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        Runner(time.monotonic() + 30).run(
            ["/bin/sh", "-c", f"echo $$ > {pid_file}; exec sleep 30"])
    pid = int(pid_file.read_text())
    assert not os.path.exists(f"/proc/{pid}")    # killed and reaped
