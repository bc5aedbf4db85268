"""A node whose cluster does not run: one sentence and exit code 7, never
crm_mon's XML (the fixture is crm_mon 2.1.5's real answer on such a host)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cib_templates import params
from sip_ha import cluster, pacemaker_result, tools
from sip_ha.cli import cli
from sip_ha.errors import NotRunning, SipHaError
from tests.support.fake_runner import FakeRunner, done

EXAMPLE = str(Path(params.__file__).parent / "example.toml")
NOT_RUNNING = (Path(__file__).parent / "data" / "crm_mon_not_running.xml").read_text()
CRM_MON = cluster.CRM_MON_ARGV
# cibadmin has no XML output: its complaint on stderr, the same exit code
CIBADMIN_DOWN = done(returncode=102, stderr="Could not connect to the CIB: Transport "
                     "endpoint is not connected\nInit failed, could not perform requested "
                     "operations\n")
SENTENCE = ("sip-ha: the cluster is not running on this node (crm_mon: Connection to cluster "
            "failed: Connection refused): start it with 'pcs cluster start' (or 'systemctl "
            "start corosync pacemaker'), or run sip-ha on a node where it runs\n")


@pytest.mark.parametrize("args", [["status"], ["status", "--output-as", "json"],
                                  ["failover", "--no-probe"], ["failback", "--no-probe"]])
def test_crm_mon_not_connected_is_one_sentence_and_exit_7(use, args):
    fake = use(FakeRunner([(CRM_MON, done(NOT_RUNNING, returncode=102))]))
    result = CliRunner().invoke(cli, [*args, "--params", EXAMPLE])
    assert result.exit_code == NotRunning.exit_code == 7
    *progress, last = result.stderr.splitlines(keepends=True)
    assert last == SENTENCE
    assert all(line[20:21] == " " for line in progress)    # timestamped steps only
    assert "<" not in result.stderr
    assert result.stdout == ""
    assert fake.finished()


@pytest.mark.parametrize("args", [["cib", "diff"], ["cib", "apply"]])
def test_cibadmin_not_connected(use, args):
    use(FakeRunner([([tools.CIBADMIN, "--query"], CIBADMIN_DOWN)]))
    result = CliRunner().invoke(cli, [*args, "--params", EXAMPLE])
    assert result.exit_code == 7
    assert result.stderr.splitlines(keepends=True)[-1] == (
        "sip-ha: the cluster is not running on this node (cibadmin: Could not connect to "
        "the CIB: Transport endpoint is not connected): start it with 'pcs cluster start' "
        "(or 'systemctl start corosync pacemaker'), or run sip-ha on a node where it runs\n")


def test_another_crm_mon_error_is_its_last_error_line():
    document = NOT_RUNNING.replace('code="102" message="Not connected"',
                                   'code="105" message="No such object"').replace(
        "Connection to cluster failed: Connection refused", "No such resource")
    fake = FakeRunner([(CRM_MON, done(document, returncode=105))])
    with pytest.raises(SipHaError) as caught:
        cluster.read(fake, params.load(EXAMPLE))
    assert not isinstance(caught.value, NotRunning)
    assert str(caught.value) == ("could not read the cluster status: No such resource. "
                                 "Try 'pcs status'.")


def test_output_that_is_no_document_is_its_first_line():
    fake = FakeRunner([(CRM_MON, done(returncode=1, stderr="crm_mon: bad option\n"))])
    with pytest.raises(SipHaError, match=r"^could not read the cluster status: crm_mon: bad "
                                         r"option\. Try 'pcs status'\.$"):
        pacemaker_result.run(fake, CRM_MON, "read the cluster status", "Try 'pcs status'.")
