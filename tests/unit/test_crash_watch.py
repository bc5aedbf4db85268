"""The crash watcher: an exit nobody asked for is reported to Pacemaker at
once (a fake crm_resource on the agent's PATH records it); a disarmed
watcher (stop's first step) never reports and is gone.  The daemon here is
a plain sleep."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ocf_agents import crash_watch, sipserver
from ocf_agents.ocf import Context
from sipha_runtime import processes
from sipha_runtime.log import Logger


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    fake = tmp_path / "bin"
    fake.mkdir()
    script = fake / "crm_resource"
    script.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/reported\n')
    script.chmod(0o755)
    env = {"OCF_RESOURCE_INSTANCE": "proxy-sipserver:1", "HA_RSCTMP": str(tmp_path / "rsc"),
           "OCF_RESKEY_CRM_meta_on_node": "node2", "PATH": f"{fake}:/usr/bin:/bin"}
    return Context(sipserver.AGENT, "start", env, Logger("sipserver", "proxy", {}), 10)


def daemon() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["/bin/sleep", "60"])


def until(predicate, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def watcher(ctx: Context) -> int:
    return int(Path(crash_watch.watch_file(ctx)).read_text().split()[2])


def test_an_exit_without_a_stop_is_reported_at_once(ctx: Context, tmp_path: Path):
    proc = daemon()
    crash_watch.arm(ctx, proc.pid, "sleep")
    pid = watcher(ctx)
    assert processes.is_alive(pid)
    time.sleep(0.2)
    assert not (tmp_path / "reported").exists()
    killed = time.monotonic()
    proc.kill()
    assert until((tmp_path / "reported").exists)
    took = time.monotonic() - killed
    assert (tmp_path / "reported").read_text() == (
        "--fail --resource proxy-sipserver --node node2\n")
    assert took < 2.0, took
    assert until(lambda: not processes.is_alive(pid))
    proc.wait()
    crash_watch.disarm(ctx)


def test_a_planned_stop_is_never_reported(ctx: Context, tmp_path: Path):
    proc = daemon()
    crash_watch.arm(ctx, proc.pid, "sleep")
    pid = watcher(ctx)
    crash_watch.disarm(ctx)
    assert not os.path.exists(crash_watch.watch_file(ctx))
    assert until(lambda: not processes.is_alive(pid))
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    time.sleep(0.5)
    assert not (tmp_path / "reported").exists()
    crash_watch.disarm(ctx)   # nothing armed: nothing to do


def test_arming_again_replaces_the_watcher(ctx: Context, tmp_path: Path):
    """A start of what runs already (a restart's start, a repeated start)."""
    proc = daemon()
    crash_watch.arm(ctx, proc.pid, "sleep")
    first = watcher(ctx)
    crash_watch.arm(ctx, proc.pid, "sleep")
    assert until(lambda: not processes.is_alive(first))
    assert watcher(ctx) != first
    proc.kill()
    proc.wait()
    assert until((tmp_path / "reported").exists)
    time.sleep(0.3)
    assert (tmp_path / "reported").read_text().count("--fail") == 1
    crash_watch.disarm(ctx)


def test_a_watcher_whose_file_was_removed_stays_quiet(ctx: Context, tmp_path: Path):
    """Stop removes the file before it ends the watcher: a watcher that sees
    the exit in between reports nothing."""
    proc = daemon()
    crash_watch.arm(ctx, proc.pid, "sleep")
    pid = watcher(ctx)
    os.unlink(crash_watch.watch_file(ctx))
    proc.kill()
    proc.wait()
    assert until(lambda: not processes.is_alive(pid))
    assert not (tmp_path / "reported").exists()


def test_wait_exit_returns_for_a_process_already_gone():
    proc = daemon()
    proc.kill()
    proc.wait()
    started = time.monotonic()
    crash_watch.wait_exit(proc.pid)
    assert time.monotonic() - started < 0.5


def test_a_monitor_re_arms_a_missing_watcher_of_what_the_agent_started(ctx: Context,
                                                                      tmp_path: Path):
    from ocf_agents import daemon as daemons

    proc = daemon()
    crash_watch.ensure(ctx, proc.pid, "sleep")         # not started by the agent: left alone
    assert not os.path.exists(crash_watch.watch_file(ctx))
    daemons.record_group(ctx, None)
    crash_watch.arm(ctx, proc.pid, "sleep")
    first = watcher(ctx)
    assert crash_watch.watching(ctx, proc.pid)
    crash_watch.ensure(ctx, proc.pid, "sleep")         # watched: nothing to do
    assert watcher(ctx) == first
    os.kill(first, signal.SIGKILL)                      # a watcher killed by hand
    assert until(lambda: not processes.is_alive(first))
    assert not crash_watch.watching(ctx, proc.pid)
    crash_watch.ensure(ctx, proc.pid, "sleep")
    assert crash_watch.watching(ctx, proc.pid) and watcher(ctx) != first
    proc.kill()
    proc.wait()
    assert until((tmp_path / "reported").exists)
    crash_watch.disarm(ctx)
