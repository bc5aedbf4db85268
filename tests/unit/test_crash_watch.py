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

from ocf_agents import sipserver
from ocf_agents.framework import crash_watch
from ocf_agents.framework.ocf import Context
from sipha_runtime import processes
from sipha_runtime.log import Logger


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    fake = tmp_path / "bin"
    fake.mkdir()
    script = fake / "crm_resource"
    script.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/reported\n')
    script.chmod(0o755)
    # A fake cibadmin --query: the CIB a test writes to cib.xml (none: fails).
    cibadmin = fake / "cibadmin"
    cibadmin.write_text(f"#!/bin/sh\nexec cat {tmp_path}/cib.xml\n")
    cibadmin.chmod(0o755)
    env = {"OCF_RESOURCE_INSTANCE": "proxy-sipserver:1", "HA_RSCTMP": str(tmp_path / "rsc"),
           "OCF_RESKEY_CRM_meta_on_node": "node2", "PATH": f"{fake}:/usr/bin:/bin",
           "HA_LOGFILE": str(tmp_path / "log")}
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
    # Not named after the agent's shim: "killall asterisk" spares it.
    assert until(lambda: Path(f"/proc/{pid}/comm").read_text() == "sipha-watch\n")
    time.sleep(0.2)
    assert not (tmp_path / "reported").exists()
    killed = time.monotonic()
    proc.kill()
    assert until((tmp_path / "reported").exists)
    print(f"reported {time.monotonic() - killed:.3f} s after the kill")
    assert (tmp_path / "reported").read_text() == (
        "--fail --resource proxy-sipserver --node node2\n")
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


def test_disarm_ends_a_watcher_whose_file_was_removed(ctx: Context):
    proc = daemon()
    crash_watch.arm(ctx, proc.pid, "sleep")
    pid = watcher(ctx)
    os.unlink(crash_watch.watch_file(ctx))
    crash_watch.disarm(ctx)
    assert until(lambda: not processes.is_alive(pid))
    assert processes.is_alive(proc.pid)
    proc.kill()
    proc.wait()


def test_wait_exit_returns_for_a_process_already_gone():
    proc = daemon()
    proc.kill()
    proc.wait()
    crash_watch.wait_exit(proc.pid)   # returns (no pidfd to wait on) instead of hanging


def test_a_monitor_re_arms_a_missing_watcher_of_what_the_agent_started(ctx: Context,
                                                                      tmp_path: Path):
    from ocf_agents.framework import daemon as daemons

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


def cib(*, crm_config: str = "", nodes: str = "", status: str = "",
        primitive_meta: str = "", clone_meta: str = "", defaults: str = "") -> str:
    def meta(pairs: str) -> str:
        return f"<meta_attributes id='m'>{pairs}</meta_attributes>" if pairs else ""

    return f"""<cib><configuration>
  <crm_config><cluster_property_set id="cib-bootstrap-options">{crm_config}
  </cluster_property_set></crm_config>
  <nodes><node id="1" uname="node1"/><node id="2" uname="node2">{nodes}</node></nodes>
  <resources><clone id="proxy-sipserver-clone">{meta(clone_meta)}
    <primitive id="proxy-sipserver" class="ocf" provider="sip-ha" type="sipserver">
      {meta(primitive_meta)}</primitive></clone>
    <primitive id="other" class="ocf" provider="sip-ha" type="asterisk">
      {meta("<nvpair id='o' name='is-managed' value='false'/>")}</primitive>
  </resources>
  <rsc_defaults>{meta(defaults)}</rsc_defaults>
</configuration><status>
  <node_state id="2" uname="node2"><transient_attributes id="2">{status}
  </transient_attributes></node_state></status></cib>"""


def pair(name: str, value: str) -> str:
    return f"<nvpair id='{name}' name='{name}' value='{value}'/>"


def attrs(pairs: str) -> str:
    return f"<instance_attributes id='a'>{pairs}</instance_attributes>"


UNMANAGED = {
    "maintenance-mode": (cib(crm_config=pair("maintenance-mode", "true")),
                         "the cluster is in maintenance-mode"),
    "node attribute": (cib(nodes=attrs(pair("maintenance", "on"))),
                       "node node2 is in maintenance"),
    "transient node attribute": (cib(status=attrs(pair("maintenance", "1"))),
                                 "node node2 is in maintenance"),
    "primitive is-managed": (cib(primitive_meta=pair("is-managed", "false")),
                             "proxy-sipserver has is-managed=false"),
    "clone is-managed": (cib(clone_meta=pair("is-managed", "false")),
                         "proxy-sipserver-clone has is-managed=false"),
    "resource maintenance": (cib(clone_meta=pair("maintenance", "true")),
                             "proxy-sipserver-clone has maintenance=true"),
    "rsc_defaults": (cib(defaults=pair("is-managed", "false")),
                     "rsc_defaults has is-managed=false"),
}


@pytest.mark.parametrize("kind", UNMANAGED)
def test_an_exit_while_unmanaged_is_logged_not_reported(ctx: Context, tmp_path: Path,
                                                        kind: str):
    """Maintenance: an operator restarting the server by hand must not leave
    a fail-count that moves the service when maintenance ends."""
    text, why = UNMANAGED[kind]
    (tmp_path / "cib.xml").write_text(text)
    proc = daemon()
    crash_watch.arm(ctx, proc.pid, "sleep")
    pid = watcher(ctx)
    proc.kill()
    proc.wait()
    assert until(lambda: not processes.is_alive(pid))
    assert not (tmp_path / "reported").exists()
    log = (tmp_path / "log").read_text()
    assert f"sleep (pid {proc.pid}) exited without a stop while Pacemaker does not " \
           f"manage proxy-sipserver here ({why}): not reported" in log
    crash_watch.disarm(ctx)


@pytest.mark.parametrize("text", [
    cib(),
    # the resource's own is-managed=true wins over its clone's false
    cib(primitive_meta=pair("is-managed", "true"), clone_meta=pair("is-managed", "false")),
    cib(crm_config=pair("maintenance-mode", "false"), nodes=attrs(pair("maintenance", "off"))),
    None,   # the CIB cannot be read: a crash is reported as ever
    "<cib",
], ids=["managed", "own-wins", "explicitly-off", "no-cib", "bad-xml"])
def test_an_exit_while_managed_is_reported(ctx: Context, tmp_path: Path, text: str | None):
    if text is not None:
        (tmp_path / "cib.xml").write_text(text)
    proc = daemon()
    crash_watch.arm(ctx, proc.pid, "sleep")
    proc.kill()
    proc.wait()
    assert until((tmp_path / "reported").exists)
    assert "not reported" not in (tmp_path / "log").read_text()
    crash_watch.disarm(ctx)


def test_a_monitor_does_not_arm_a_watcher_while_unmanaged(ctx: Context, tmp_path: Path):
    from ocf_agents.framework import daemon as daemons

    (tmp_path / "cib.xml").write_text(UNMANAGED["maintenance-mode"][0])
    proc = daemon()
    daemons.record_group(ctx, None)
    crash_watch.ensure(ctx, proc.pid, "sleep")
    assert not os.path.exists(crash_watch.watch_file(ctx))
    (tmp_path / "cib.xml").write_text(cib())
    crash_watch.ensure(ctx, proc.pid, "sleep")
    assert crash_watch.watching(ctx, proc.pid)
    crash_watch.disarm(ctx)
    proc.kill()
    proc.wait()
