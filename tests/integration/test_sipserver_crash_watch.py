"""ocf:sipha:sipserver learns that a real Kamailio crashed as it happens and
tells Pacemaker at once; a planned stop or restart is never reported.  No
cluster here: a fake crm_resource first on the agent's PATH records the
report, as Pacemaker's would receive it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.agent_run import run_agent
from tests.support.kamailio import KamailioSetup

OCF_SUCCESS = 0


@pytest.fixture
def reported(tmp_path: Path) -> Path:
    return tmp_path / "reported"


@pytest.fixture
def env(tmp_path: Path, kamailio: KamailioSetup, reported: Path) -> dict[str, str]:
    fake = tmp_path / "bin"
    fake.mkdir()
    script = fake / "crm_resource"
    script.write_text(f'#!/bin/sh\necho "$(date +%s.%N) $*" >> {reported}\n')
    script.chmod(0o755)
    base = kamailio.environ(instance="proxy-sipserver:0")
    return {**base, "PATH": f"{fake}:{base.get('PATH', '/usr/bin:/bin')}",
            "OCF_RESKEY_CRM_meta_on_node": "node1"}


def agent(ocf_root: Path, env: dict[str, str], action: str) -> None:
    result = run_agent(ocf_root, "sipserver", action, env)
    assert result.rc == OCF_SUCCESS, result.stderr


def waited_for(path: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return True
        time.sleep(0.01)
    return False


def test_a_crash_is_reported_at_once(ocf_root: Path, kamailio: KamailioSetup,
                                     env: dict[str, str], reported: Path):
    agent(ocf_root, env, "start")
    main = kamailio.main_pid()
    assert main is not None
    killed = time.time()
    os.kill(main, signal.SIGKILL)
    assert waited_for(reported, 5), "no report within 5 s"
    stamp, _, words = reported.read_text().strip().partition(" ")
    assert words == "--fail --resource proxy-sipserver --node node1"
    took = float(stamp) - killed
    print(f"Kamailio SIGKILLed: reported to Pacemaker after {took * 1000:.0f} ms")
    # What Pacemaker does next: stop (the orphaned workers go), start again.
    agent(ocf_root, env, "stop")
    assert kamailio.processes() == []
    assert reported.read_text().count("--fail") == 1


def test_planned_stops_and_restarts_are_never_reported(ocf_root: Path,
                                                       kamailio: KamailioSetup,
                                                       env: dict[str, str], reported: Path):
    agent(ocf_root, env, "start")
    agent(ocf_root, env, "stop")                      # a stop
    agent(ocf_root, env, "start")
    agent(ocf_root, env, "stop")                      # a restart: stop, then start
    agent(ocf_root, env, "start")
    agent(ocf_root, env, "start")                     # a repeated start re-arms
    time.sleep(1)
    assert not reported.exists()
    # Still watched after all that: the next crash is reported once.
    os.kill(kamailio.main_pid(), signal.SIGKILL)
    assert waited_for(reported, 5)
    time.sleep(0.5)
    assert reported.read_text().count("--fail") == 1
    agent(ocf_root, env, "stop")


def test_a_monitor_re_arms_a_watcher_that_is_gone(ocf_root: Path, kamailio: KamailioSetup,
                                                  env: dict[str, str], reported: Path):
    agent(ocf_root, env, "start")
    watch = Path(env["HA_RSCTMP"]) / "sipha-sipserver-proxy-sipserver.watch"
    first = int(watch.read_text().split()[2])
    os.kill(first, signal.SIGKILL)                 # a watcher killed by hand
    agent(ocf_root, {**env, "OCF_RESKEY_CRM_meta_interval": "10000"}, "monitor")
    second = int(watch.read_text().split()[2])
    assert second != first
    os.kill(kamailio.main_pid(), signal.SIGKILL)
    assert waited_for(reported, 5)
    agent(ocf_root, env, "stop")
