"""ocf:sipha:asterisk against a real Asterisk 22 (Debian sid) in a container."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from ocf_agents.clients import asterisk_config
from sipha_runtime import processes
from tests.support.asterisk import AMI_SECRET, CHECK_ENDPOINT
from tests.support.asterisk_nodes import (
    AGENT,
    REGISTRAR,
    Node,
    registers,
    registrar_log,
    start_box,
    wait_for,
)
from tests.support.container import Container
from tests.support.freeze import frozen

OCF_SUCCESS, OCF_ERR_GENERIC, OCF_ERR_ARGS, OCF_ERR_PERM, OCF_ERR_INSTALLED = 0, 1, 2, 4, 5
OCF_NOT_RUNNING, OCF_RUNNING_PROMOTED, OCF_FAILED_PROMOTED = 7, 8, 9


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    yield from start_box(tmp_path_factory)


@pytest.fixture
def node(box: Container, request: pytest.FixtureRequest) -> Iterator[Node]:
    name = "ast-" + request.node.name.replace("[", "-").replace("]", "")[:40]
    node = Node(box, name)
    yield node
    node.agent("stop")


def test_roles_switch_trunk_registration(node: Node):
    assert node.agent("monitor")[0] == OCF_NOT_RUNNING
    started = time.time()
    code, reason, _ = node.agent("start")
    assert code == OCF_SUCCESS, reason
    assert node.agent("monitor")[0] == OCF_SUCCESS
    # A standby never registers the trunk, not even while booting.
    time.sleep(3)
    assert registers(node.box, started, expires_zero=False) == []

    promoted_at = time.time()
    assert node.agent("promote")[0] == OCF_SUCCESS
    assert node.agent("monitor")[0] == OCF_RUNNING_PROMOTED
    assert wait_for(lambda: registers(node.box, promoted_at, expires_zero=False))
    assert wait_for(lambda: node.agent("monitor", level=10)[0] == OCF_RUNNING_PROMOTED)
    assert node.agent("promote")[0] == OCF_SUCCESS  # idempotent

    demoted_at = time.time()
    assert node.agent("demote")[0] == OCF_SUCCESS
    assert wait_for(lambda: registers(node.box, demoted_at, expires_zero=True))
    assert node.agent("monitor")[0] == OCF_SUCCESS
    assert node.agent("monitor", level=10)[0] == OCF_SUCCESS
    assert node.agent("demote")[0] == OCF_SUCCESS  # idempotent

    assert node.agent("stop")[0] == OCF_SUCCESS
    assert node.agent("monitor")[0] == OCF_NOT_RUNNING
    assert node.agent("stop")[0] == OCF_SUCCESS


def test_asterisk_inherits_nothing_of_the_ocf_call(node: Node):
    """Its AGI scripts and System() see what it inherits: no parameter, no secret."""
    assert node.agent("start")[0] == OCF_SUCCESS
    environ = node.box.run(["cat", f"/proc/{node.pid()}/environ"], check=True).stdout
    names = sorted(entry.split("=", 1)[0] for entry in environ.split("\0") if entry)
    assert names == ["LC_ALL", "PATH"]
    assert AMI_SECRET not in environ


def test_unregistered_trunk_is_degraded(node: Node):
    node.params["registrations"] = "trunk-reg"
    assert node.agent("start")[0] == OCF_SUCCESS
    assert node.agent("promote")[0] == OCF_SUCCESS
    assert wait_for(lambda: re.search(r"\bRegistered\b", node.rx("pjsip show registrations")))
    assert node.agent("monitor", level=10)[0] == OCF_RUNNING_PROMOTED
    assert "degraded: " not in node.last_stderr
    node.rx("pjsip send unregister trunk-reg")
    assert node.agent("monitor", level=10)[0] == OCF_RUNNING_PROMOTED  # never 191: monitor
    assert "degraded: " in node.last_stderr and "trunk-reg" in node.last_stderr, \
        node.last_stderr
    assert node.agent("monitor")[0] == OCF_RUNNING_PROMOTED


def test_crash_is_a_failure_in_either_role(node: Node):
    assert node.agent("start")[0] == OCF_SUCCESS
    node.box.run(["kill", "-9", str(node.pid())], check=True)
    assert wait_for(lambda: node.agent("monitor")[0] == OCF_ERR_GENERIC, 5)
    assert node.agent("stop")[0] == OCF_SUCCESS
    assert node.agent("start")[0] == OCF_SUCCESS
    assert node.agent("promote")[0] == OCF_SUCCESS
    node.box.run(["kill", "-9", str(node.pid())], check=True)
    code, reason, _ = node.agent("monitor")
    assert code == OCF_FAILED_PROMOTED
    assert "died" in reason


def test_hung_asterisk_fails_by_its_own_deadline(node: Node):
    assert node.agent("start", control_timeout="2s")[0] == OCF_SUCCESS
    assert node.agent("promote")[0] == OCF_SUCCESS
    node.box.run(["kill", "-STOP", str(node.pid())], check=True)
    code, reason, elapsed = node.agent("monitor", control_timeout="2s",
                                       meta={"timeout": "20000", "interval": "9000"})
    assert code == OCF_FAILED_PROMOTED
    assert "stopped" in reason or "did not answer" in reason
    assert elapsed < 10  # the 2 s control deadline, not the 20 s operation timeout
    code, _, _ = node.agent("stop", meta={"timeout": "30000"})
    assert code == OCF_SUCCESS
    assert node.agent("monitor")[0] == OCF_NOT_RUNNING


def test_deadlocked_asterisk_is_found_by_the_control_deadline(node: Node):
    """Alive and not stopped (state D, as in a deadlock), but it never answers."""
    assert node.agent("start")[0] == OCF_SUCCESS
    with frozen(node.host_pid()):
        assert processes.state(node.host_pid()) == "D"
        code, reason, elapsed = node.agent("monitor", control_timeout="1s",
                                           meta={"timeout": "20000", "interval": "10000"})
    assert code == OCF_ERR_GENERIC, reason
    assert "did not answer" in reason
    assert elapsed < 10  # the 1 s control deadline, not the 20 s operation timeout


def test_planned_demote_drains_calls(node: Node):
    assert node.agent("start")[0] == OCF_SUCCESS
    assert node.agent("promote")[0] == OCF_SUCCESS
    node.rx("channel originate Local/600@phones application Wait 60")
    assert wait_for(lambda: "1 active call" in node.rx("core show channels count"), 5)
    code, _, elapsed = node.agent("demote", drain_timeout="3s")
    assert code == OCF_SUCCESS
    assert elapsed >= 3  # it waited for the call ...
    assert "1 active call" in node.rx("core show channels count")  # ... and did not cut it
    assert node.agent("promote")[0] == OCF_SUCCESS
    node.rx("channel request hangup all")
    code, _, elapsed = node.agent("demote", drain_timeout="20s")
    assert code == OCF_SUCCESS
    assert elapsed < 15  # no calls: no waiting


@pytest.mark.parametrize(("params", "code", "words"), [
    ({"binary": "/usr/sbin/asterisk-missing"}, OCF_ERR_INSTALLED, "not installed"),
    ({"config": "/nonexistent/asterisk.conf"}, OCF_ERR_INSTALLED, "not found"),
    ({"user": "nobody-here"}, OCF_ERR_INSTALLED, "does not exist"),
    ({"active_modules": "res_pjsip_outbound_registration.so app_queue.so"}, OCF_ERR_ARGS,
     "noload => app_queue.so"),
    ({"sip_uris": "sip:127.0.0.1;transport=carrier-pigeon"}, 6, "sip_uris"),
    ({"ami_secret_file": "/nonexistent/ami.secret"}, OCF_ERR_INSTALLED, "not found"),
    ({"ami_secret": AMI_SECRET}, 6, "ami_secret_file or the deprecated ami_secret, not both"),
])
def test_bad_configuration(node: Node, params: dict[str, str], code: int, words: str):
    result, reason, _ = node.agent("start", **params)
    assert result == code
    assert words in reason
    assert node.agent("monitor")[0] == OCF_NOT_RUNNING


def test_the_ami_secret_is_in_a_root_only_file(node: Node):
    """Checked like mysql-mm's password_file; the old parameter works, with a warning."""
    node.box.path(node.secret_file).chmod(0o644)
    code, reason, _ = node.agent("start")
    assert code == OCF_ERR_PERM
    assert reason.endswith("ami.secret is accessible by group or others (chmod 600 it)")
    code, reason, _ = node.agent("start", ami_secret_file="", ami_secret=AMI_SECRET)
    assert code == OCF_SUCCESS, reason
    assert "ami_secret is deprecated" in node.last_stderr


def test_ocf_tester(node: Node):
    options = []
    for key, value in node.params.items():
        options += ["-o", f"{key}={value}"]
    result = node.box.run(["/usr/sbin/ocf-tester", "-n", "asterisk-tester", *options, AGENT],
                          env={"OCF_ROOT": "/usr/lib/ocf"}, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed all tests" in result.stdout


def test_signal_from_outside_the_container_is_seen(node: Node):
    """The container's pid namespace does not hide a crash from the agent."""
    assert node.agent("start")[0] == OCF_SUCCESS
    os.kill(node.host_pid(), signal.SIGKILL)
    assert wait_for(lambda: node.agent("monitor")[0] == OCF_ERR_GENERIC, 5)


def test_reload_applies_changed_configuration(node: Node):
    """What the file sync will trigger after pushing new configuration."""
    assert node.agent("start")[0] == OCF_SUCCESS
    assert "777" not in node.rx("dialplan show phones")
    extensions = node.box.path(f"{node.setup.inside}/etc/extensions.conf")
    extensions.write_text(extensions.read_text() + "\n[phones]\nexten => 777,1,Answer()\n")
    assert node.agent("reload")[0] == OCF_SUCCESS
    assert wait_for(lambda: "'777'" in node.rx("dialplan show phones"), 5)
    assert node.agent("monitor")[0] == OCF_SUCCESS
    node.agent("stop")
    assert node.agent("reload")[0] == OCF_NOT_RUNNING


def _write(path: os.PathLike[str], text: str, quiet: bool = True) -> None:
    """Write as a sync does; QUIET: wait until the agent takes it as settled."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    if quiet:
        time.sleep(asterisk_config.SETTLE + 0.1)


def test_configuration_that_arrives_on_a_standby_is_loaded(node: Node):
    """What the file sync brings is what Asterisk runs: a standby reloads it
    once it is quiet, keeps its dialplan and reports degraded when Asterisk
    refuses a file, and promote loads what arrived a moment before."""
    assert node.agent("start")[0] == OCF_SUCCESS
    ext = node.box.path(f"{node.setup.inside}/etc/extensions.conf")
    original = ext.read_text()
    _write(ext, original + "exten => 700,1,Answer()\n")
    assert node.agent("monitor")[0] == OCF_SUCCESS
    assert "reloaded 1 changed file(s): extensions.conf" in node.last_stderr
    assert "'700'" in node.rx("dialplan show phones")

    _write(ext, original + "exten => 700,1,Answer()\n[broken\n")
    assert node.agent("monitor")[0] == OCF_SUCCESS   # published and scored, never 190
    assert "refused its new configuration: pbx_config.so refused extensions.conf" \
        in node.last_stderr
    assert "'700'" in node.rx("dialplan show phones")  # the running dialplan stays
    assert node.agent("monitor")[0] == OCF_SUCCESS

    _write(ext, original + "exten => 701,1,Answer()\n", quiet=False)  # just now: not yet quiet
    assert node.agent("promote")[0] == OCF_SUCCESS
    assert "'701'" in node.rx("dialplan show phones")
    assert node.agent("monitor")[0] == OCF_RUNNING_PROMOTED


def test_phones_are_qualified_once_the_service_address_is_up(node: Node):
    """A standby's qualifies fail from an address it does not own; the new
    active qualifies its phones' contacts the moment the address arrives
    (after the promote, as the CIB orders it), not a minute later."""
    pjsip = node.box.path(f"{node.setup.inside}/etc/pjsip.conf")
    pjsip.write_text(pjsip.read_text().replace(
        "[100]\ntype = aor\nmax_contacts = 1\n",
        f"[100]\ntype = aor\nmax_contacts = 1\ncontact = sip:100@{REGISTRAR}\n"))
    service_ip = "198.51.100.77"
    assert node.agent("start", service_ip=service_ip)[0] == OCF_SUCCESS

    def qualified(since: float) -> list[dict[str, object]]:
        return [r for r in registrar_log(node.box) if r["method"] == "OPTIONS"
                and r["uri"] == f"sip:100@{REGISTRAR}" and float(r["time"]) >= since]

    promoted = time.time()
    code, _, took = node.agent("promote", service_ip=service_ip)
    assert code == OCF_SUCCESS
    assert took < 10  # the agent does not wait for the address: the CIB starts it after
    time.sleep(1)
    assert qualified(promoted) == []  # nothing sent from an address not yet up
    # As service-ip adds it in the node's own subnet: a secondary address,
    # for which the kernel picks the subnet's primary one as the source.
    node.box.run(["ip", "addr", "add", "198.51.100.76/24", "dev", "lo"], check=True)
    up = time.time()
    node.box.run(["ip", "addr", "add", f"{service_ip}/24", "dev", "lo"], check=True)
    try:
        assert wait_for(lambda: qualified(up), 5)
        print(f"phone qualified {float(qualified(up)[0]['time']) - up:.2f}s after the "
              "service address came up")
    finally:
        node.box.run(["ip", "addr", "del", f"{service_ip}/24", "dev", "lo"])
        node.box.run(["ip", "addr", "del", "198.51.100.76/24", "dev", "lo"])


def test_the_local_sip_check_is_silent_in_asterisks_log(node: Node):
    """The check is an OPTIONS round trip (UDP and TCP here).  Without the
    README's endpoint Asterisk logs each one as a request from nobody it
    knows, and the agent says once what is missing; with it, monitors add no
    line to Asterisk's log; and a PJSIP that does not answer still fails."""
    log = node.box.path(f"{node.setup.inside}/log/messages")

    def unknown() -> int:
        time.sleep(0.5)  # Asterisk's logger thread writes a moment later
        return log.read_text().count("No matching endpoint found") if log.exists() else 0

    code, reason, _ = node.agent("start")
    assert code == OCF_SUCCESS, reason
    assert "Asterisk does not know the SIP check (it answered 401)" in node.last_stderr
    assert node.agent("monitor")[0] == OCF_SUCCESS
    assert "does not know the SIP check" not in node.last_stderr  # said once
    assert unknown() >= 4  # start's and the monitor's checks, UDP and TCP

    pjsip = node.box.path(f"{node.setup.inside}/etc/pjsip.conf")
    _write(pjsip, pjsip.read_text() + CHECK_ENDPOINT)
    assert node.agent("monitor")[0] == OCF_SUCCESS  # the standby loads pjsip.conf
    assert "reloaded 1 changed file(s): pjsip.conf" in node.last_stderr
    before = unknown()
    monitors = 10
    for _ in range(monitors):
        code, reason, _ = node.agent("monitor")
        assert code == OCF_SUCCESS, reason
    assert unknown() == before, f"{monitors} monitors logged 'No matching endpoint found'"
    print(f"{monitors} monitors, {2 * monitors} OPTIONS: no line in Asterisk's log")

    drop = [["-p", proto, "--dport", "5060", "-j", "DROP"] for proto in ("udp", "tcp")]
    iptables = ["nsenter", "-t", str(node.box.pid), "-n", "iptables"]
    try:
        for rule in drop:
            subprocess.run([*iptables, "-I", "INPUT", *rule], check=True)
        code, reason, _ = node.agent("monitor")
        assert code == OCF_ERR_GENERIC
        assert "SIP OPTIONS sip:127.0.0.1" in reason and "no answer" in reason
    finally:
        for rule in drop:
            subprocess.run([*iptables, "-D", "INPUT", *rule], check=False)
    assert node.agent("monitor")[0] == OCF_SUCCESS
