"""ocf:sipha:sipserver against a real Kamailio on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ocf_agents.clients.sip_options import SipError, probe
from tests.support.agent_run import run_agent
from tests.support.kamailio import KamailioSetup

OCF_SUCCESS, OCF_ERR_GENERIC, OCF_ERR_ARGS, OCF_ERR_UNIMPLEMENTED = 0, 1, 2, 3
OCF_ERR_INSTALLED, OCF_ERR_CONFIGURED, OCF_NOT_RUNNING = 5, 6, 7


def agent(ocf_root: Path, kam: KamailioSetup, action: str, **params: str):
    return run_agent(ocf_root, "sipserver", action, kam.environ(**params))


def answers_sip(kam: KamailioSetup) -> bool:
    try:
        return all(probe(uri, 1).status == 200 for uri in kam.uris)
    except SipError:
        return False


def test_lifecycle_is_idempotent_and_sip_answers(ocf_root: Path, kamailio: KamailioSetup):
    assert agent(ocf_root, kamailio, "monitor").rc == OCF_NOT_RUNNING
    assert agent(ocf_root, kamailio, "stop").rc == OCF_SUCCESS
    start = agent(ocf_root, kamailio, "start")
    assert start.rc == OCF_SUCCESS, start.stderr
    assert answers_sip(kamailio)
    assert agent(ocf_root, kamailio, "start").rc == OCF_SUCCESS
    assert len({kamailio.main_pid()}) == 1
    assert agent(ocf_root, kamailio, "monitor").rc == OCF_SUCCESS
    deep = run_agent(ocf_root, "sipserver", "monitor",
                     {**kamailio.environ(), "OCF_CHECK_LEVEL": "10"})
    assert deep.rc == OCF_SUCCESS, deep.stderr
    assert agent(ocf_root, kamailio, "stop").rc == OCF_SUCCESS
    assert kamailio.processes() == []
    assert not answers_sip(kamailio)
    assert agent(ocf_root, kamailio, "stop").rc == OCF_SUCCESS
    assert agent(ocf_root, kamailio, "monitor").rc == OCF_NOT_RUNNING


def test_crash_is_a_failure_not_a_clean_stop(ocf_root: Path, kamailio: KamailioSetup):
    assert agent(ocf_root, kamailio, "start").rc == OCF_SUCCESS
    os.kill(kamailio.main_pid(), signal.SIGKILL)
    time.sleep(0.2)
    crashed = agent(ocf_root, kamailio, "monitor")
    assert crashed.rc == OCF_ERR_GENERIC
    assert "died without being stopped" in crashed.reason
    # The probe Pacemaker runs after a crash says the same.
    probe_env = {**kamailio.environ(), "OCF_RESKEY_CRM_meta_interval": "0"}
    assert run_agent(ocf_root, "sipserver", "monitor", probe_env).rc == OCF_ERR_GENERIC
    # Recovery: stop ends the orphaned workers, so a restart can bind the ports again.
    assert agent(ocf_root, kamailio, "stop").rc == OCF_SUCCESS
    assert kamailio.processes() == []
    assert agent(ocf_root, kamailio, "monitor").rc == OCF_NOT_RUNNING
    assert agent(ocf_root, kamailio, "start").rc == OCF_SUCCESS
    assert answers_sip(kamailio)


def test_hung_server_fails_by_the_sip_deadline(ocf_root: Path, kamailio: KamailioSetup):
    assert agent(ocf_root, kamailio, "start").rc == OCF_SUCCESS
    workers = [pid for pid in kamailio.processes() if pid != kamailio.main_pid()]
    for pid in workers:  # the SIP workers hang; the main process still looks fine
        os.kill(pid, signal.SIGSTOP)
    env = {**kamailio.environ(), "OCF_RESKEY_CRM_meta_timeout": "20000",
           "OCF_RESKEY_CRM_meta_interval": "10000"}
    hung = run_agent(ocf_root, "sipserver", "monitor", env)
    assert hung.rc == OCF_ERR_GENERIC
    assert "no answer" in hung.reason
    # Found by the agent's own 1 s SIP deadline, not by the 20 s operation timeout.
    assert hung.elapsed < 10
    assert agent(ocf_root, kamailio, "stop").rc == OCF_SUCCESS
    assert kamailio.processes() == []


def test_stopped_main_process_is_reported(ocf_root: Path, kamailio: KamailioSetup):
    assert agent(ocf_root, kamailio, "start").rc == OCF_SUCCESS
    os.kill(kamailio.main_pid(), signal.SIGSTOP)
    stopped = agent(ocf_root, kamailio, "monitor")
    assert stopped.rc == OCF_ERR_GENERIC
    assert "stopped" in stopped.reason


def test_control_channel_checked_at_depth_10(ocf_root: Path, kamailio: KamailioSetup):
    assert agent(ocf_root, kamailio, "start").rc == OCF_SUCCESS
    wrong = {**kamailio.environ(), "OCF_CHECK_LEVEL": "10",
             "OCF_RESKEY_control_command": f"/usr/sbin/kamcmd -s unix:{kamailio.folder}/none"
                                           " core.uptime"}
    result = run_agent(ocf_root, "sipserver", "monitor", wrong)
    assert result.rc == OCF_ERR_GENERIC
    assert result.reason.startswith("control channel")
    # Depth 0 does not run the control command at all.
    assert run_agent(ocf_root, "sipserver", "monitor",
                     {**wrong, "OCF_CHECK_LEVEL": "0"}).rc == OCF_SUCCESS


@pytest.mark.parametrize(("params", "action", "code", "words"), [
    ({"sip_timeout": "soon"}, "monitor", OCF_ERR_CONFIGURED, "sip_timeout='soon'"),
    ({"profile": "asterisk"}, "start", OCF_ERR_CONFIGURED, "not one of"),
    ({"sip_uris": "http://127.0.0.1"}, "validate-all", OCF_ERR_CONFIGURED, "sip_uris"),
    ({"sip_accept": "ok"}, "validate-all", OCF_ERR_CONFIGURED, "sip_accept"),
    ({"start_options": "'-Y"}, "start", OCF_ERR_CONFIGURED, "start_options"),
    ({"profile": "custom"}, "start", OCF_ERR_CONFIGURED, "start_command"),
    ({"binary": "/usr/sbin/kamailio-missing"}, "start", OCF_ERR_INSTALLED, "not installed"),
    ({"config": "/nonexistent/kamailio.cfg"}, "start", OCF_ERR_INSTALLED, "not found"),
    ({"user": "no-such-user-x"}, "start", OCF_ERR_INSTALLED, "does not exist"),
])
def test_bad_parameters_get_a_code_and_a_reason(ocf_root, kamailio, params, action, code, words):
    result = agent(ocf_root, kamailio, action, **params)
    assert result.rc == code, result.stderr
    assert words in result.reason
    assert kamailio.processes() == []


def test_missing_binary_is_not_running_on_a_probe(ocf_root: Path, kamailio: KamailioSetup):
    env = {**kamailio.environ(binary="/usr/sbin/kamailio-missing"),
           "OCF_RESKEY_CRM_meta_interval": "0"}
    assert run_agent(ocf_root, "sipserver", "monitor", env).rc == OCF_NOT_RUNNING


def test_broken_configuration_is_reported(ocf_root: Path, kamailio: KamailioSetup):
    kamailio.config.write_text(kamailio.config.read_text() + "\nthis is not kamailio\n")
    checked = agent(ocf_root, kamailio, "validate-all")
    assert checked.rc == OCF_ERR_ARGS
    assert "kamailio -c" in checked.reason
    started = agent(ocf_root, kamailio, "start")
    assert started.rc == OCF_ERR_GENERIC
    assert "failed to start" in started.reason
    assert kamailio.processes() == []


def test_unknown_action(ocf_root: Path, kamailio: KamailioSetup):
    assert agent(ocf_root, kamailio, "migrate_to").rc == OCF_ERR_UNIMPLEMENTED


def test_ocf_tester_passes(ocf_root: Path, kamailio: KamailioSetup):
    options = []
    for key, value in kamailio.params().items():
        options += ["-o", f"{key}={value}"]
    env = {**kamailio.environ(), "OCF_ROOT": "/usr/lib/ocf"}
    result = subprocess.run(
        ["/usr/sbin/ocf-tester", "-n", "kam", *options,
         str(ocf_root / "resource.d" / "sipha" / "sipserver")],
        env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed all tests" in result.stdout
    assert kamailio.processes() == []
