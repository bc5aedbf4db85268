"""External commands: deadlines, process groups, no waiting on daemons."""

from __future__ import annotations

import os
import time

import pytest

from ocf_agents.framework.ocf import NodeAttributes, OCFCode
from sipha_runtime import processes
from sipha_runtime.run import CommandNotFound, CommandTimeout, Runner


def test_output_and_environment():
    result = Runner(time.monotonic() + 10).run(["/bin/sh", "-c", "echo $LC_ALL; echo oops >&2"])
    assert result.ok
    assert result.stdout == "C\n"
    assert result.stderr == "oops\n"
    assert result.summary() == "oops"


def test_a_variable_set_to_none_is_removed_from_the_child(monkeypatch):
    """How metrics.everywhere hides the agent's node from attrd_updater -Q -A."""
    monkeypatch.setenv("OCF_RESKEY_CRM_meta_on_node", "node2")
    runner = Runner(time.monotonic() + 10)
    script = ["/bin/sh", "-c", 'echo "${OCF_RESKEY_CRM_meta_on_node-unset} $EXTRA"']
    assert runner.run(script).stdout == "node2 \n"
    assert runner.run(script, env={"OCF_RESKEY_CRM_meta_on_node": None,
                                   "EXTRA": "x"}).stdout == "unset x\n"


def test_stdin_is_closed():
    result = Runner(time.monotonic() + 10).run(["/bin/cat"])
    assert result.ok
    assert result.stdout == ""


def test_timeout_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    runner = Runner(time.monotonic() + 10)
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match=r"did not answer within 0\.5s"):
        runner.run(["/bin/sh", "-c", f"sleep 30 & echo $! > {pidfile}; wait"], timeout=0.5)
    assert time.monotonic() - started < 5
    child = int(pidfile.read_text())
    assert processes.wait_gone(child, time.monotonic() + 5)


def test_operation_deadline_caps_every_command():
    runner = Runner(time.monotonic() + 0.3)
    with pytest.raises(CommandTimeout):
        runner.run(["/bin/sleep", "5"], timeout=60)
    with pytest.raises(CommandTimeout, match="no time left"):
        Runner(time.monotonic() - 1).run(["/bin/true"])


def test_a_daemon_keeping_our_descriptors_does_not_block(tmp_path):
    pidfile = tmp_path / "daemon.pid"
    runner = Runner(time.monotonic() + 10)
    # The child leaves a grandchild holding stdout/stderr, like a daemon that forgets to close them.
    result = runner.run(["/bin/sh", "-c", f"sleep 30 & echo $! > {pidfile}; echo started"],
                        timeout=5)
    try:
        assert result.ok
        assert result.stdout == "started\n"
        assert result.elapsed < 5
    finally:
        os.kill(int(pidfile.read_text()), 9)


def test_missing_program_is_not_installed():
    with pytest.raises(CommandNotFound, match="/nonexistent/tool not found") as missing:
        Runner(time.monotonic() + 5).run(["/nonexistent/tool"])
    assert missing.value.exit_code == OCFCode.ERR_INSTALLED


class FakeRunner:
    """Records commands and answers with canned results."""

    def __init__(self, stdout: str = "", returncode: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.stdout, self.returncode = stdout, returncode

    def run(self, argv, timeout=None, env=None):
        from sipha_runtime.run import Completed

        self.calls.append([os.path.basename(argv[0]), *argv[1:]])
        return Completed(argv, self.returncode, self.stdout, "no cluster", 0.0)


def test_node_attribute_commands():
    fake = FakeRunner(stdout='name="sipha-sync" host="node1" value="42"\n')
    attrs = NodeAttributes(fake, "asterisk")  # type: ignore[arg-type]
    attrs.set("sipha-lag", "3")
    attrs.set("sipha-lag", "4", delay=5)
    assert attrs.get("sipha-sync") == "42"
    attrs.delete("sipha-lag")
    attrs.set_promotion_score(100)
    attrs.clear_promotion_score()
    assert fake.calls == [
        ["attrd_updater", "-n", "sipha-lag", "-U", "3"],
        ["attrd_updater", "-n", "sipha-lag", "-B", "4", "-d", "5"],
        ["attrd_updater", "-Q", "-n", "sipha-sync"],
        ["attrd_updater", "-D", "-n", "sipha-lag"],
        ["crm_attribute", "--promotion=asterisk", "-v", "100"],
        ["crm_attribute", "--promotion=asterisk", "-D"],
    ]


def test_node_attribute_failure_says_what_failed():
    attrs = NodeAttributes(FakeRunner(returncode=1), "asterisk")  # type: ignore[arg-type]
    with pytest.raises(Exception, match="could not set the promotion score: no cluster"):
        attrs.set_promotion_score(5)
    assert attrs.get("x") is None
