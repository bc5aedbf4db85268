"""Pacemaker's calls stay cheap (issue #14: a monitor runs every few seconds
on every node).  A monitor imports none of the costly modules below, and one
in steady state runs no command: no Pacemaker tool, no crash watcher armed
again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sip_ha.install import code_root
from tests.support.fake_asterisk import FakeConsole
from tests.support.fake_sip import FakeSip, reply

# What a monitor must not load: the third-party modules, and the standard
# library modules that cost a millisecond or more each (with what they pull in).
HEAVY = ("lxml", "click", "pymysql", "watchdog", "pexpect",
         "ssl", "socket", "selectors", "enum", "signal", "typing", "re", "dataclasses",
         "inspect", "subprocess", "contextlib", "collections", "functools", "ipaddress",
         "encodings.idna", "shlex", "argparse", "json", "xml.etree.ElementTree", "tempfile",
         "shutil", "datetime", "threading", "secrets", "random", "hashlib", "traceback")

# Run as the lean shims run a monitor (sip_ha.install.LEAN_MONITOR): without
# site-packages, the code's folder last on sys.path.
PROBE = """
import sys
before = set(sys.modules)
sys.path.append(sys.argv.pop())
from sipha_runtime.run import Runner
commands = []
real_run = Runner.run
def recording(self, argv, *args, **kwargs):
    commands.append(list(argv))
    return real_run(self, argv, *args, **kwargs)
Runner.run = recording
agent = __import__(f"ocf_agents.{sys.argv[1]}", fromlist=["AGENT"]).AGENT
code = agent.run([sys.argv[2]], dict(__import__("os").environ))
heavy = sorted(set(sys.argv[3].split()) & (set(sys.modules) - before))
print(__import__("json").dumps([code, heavy, commands]), file=sys.stderr)
"""


def run_action(agent: str, action: str, env: dict[str, str],
               site: bool = False) -> tuple[int, list[str], list[str]]:
    """Exit code, the HEAVY modules the action loaded, the commands it ran
    (but the RTT attribute, published only when the round trip moved by
    more than metrics.close allows, which a loaded machine can cause)."""
    flags = "-I" if site else "-IS"
    result = subprocess.run([sys.executable, flags, "-c", PROBE, agent, action, " ".join(HEAVY),
                             code_root()],
                            env={**os.environ, **env}, capture_output=True, text=True, check=True)
    code, heavy, commands = json.loads(result.stderr.splitlines()[-1])
    return code, heavy, [" ".join(argv) for argv in commands if not _rtt(argv)]


def _rtt(argv: list[str]) -> bool:
    return "-n" in argv[:-1] and argv[argv.index("-n") + 1].endswith("-sip-rtt-ms")


def sip_uris(udp: FakeSip, tcp: FakeSip) -> str:
    return f"{udp.uri} {tcp.uri}"


def answering() -> tuple[FakeSip, FakeSip]:
    return (FakeSip("udp", lambda req, n: [reply(req, "200 OK")]),
            FakeSip("tcp", lambda req, n: [reply(req, "200 OK")]))


def test_a_sipserver_monitor_imports_and_runs_nothing_heavy(tmp_path: Path):
    udp, tcp = answering()
    sleeper = subprocess.Popen(["/bin/sleep", "60"])
    (tmp_path / "server.pid").write_text(f"{sleeper.pid}\n")
    env = {"OCF_RESOURCE_INSTANCE": "imports", "HA_RSCTMP": str(tmp_path),
           "OCF_RESKEY_profile": "custom", "OCF_RESKEY_start_command": "/bin/sleep 60",
           "OCF_RESKEY_binary": "/bin/sleep", "OCF_RESKEY_pidfile": str(tmp_path / "server.pid"),
           "OCF_RESKEY_sip_uris": sip_uris(udp, tcp), "OCF_RESKEY_CRM_meta_interval": "10000"}
    # Started by the agent (its marker) but watched by no one: the first
    # monitor arms the crash watcher, the next one is the steady state.
    (tmp_path / "sipha-sipserver-imports.running").write_text("0\n")
    watch = tmp_path / "sipha-sipserver-imports.watch"
    try:
        assert run_action("sipserver", "monitor", env)[0] == 0
        armed = watch.read_text()
        code, heavy, commands = run_action("sipserver", "monitor", env)
        assert (code, heavy, commands) == (0, [], [])
        assert watch.read_text() == armed
        # meta-data is the one Pacemaker call that needs lxml (and the probe sees it).
        assert "lxml" in run_action("sipserver", "meta-data", env, site=True)[1]
    finally:
        run_action("sipserver", "stop", env, site=True)  # ends the watcher, then the sleeper
        sleeper.kill()
        sleeper.wait()
        udp.close()
        tcp.close()


def test_an_asterisk_monitor_imports_and_runs_nothing_heavy(tmp_path: Path):
    udp, tcp = answering()
    sleeper = subprocess.Popen(["/bin/sleep", "60"])
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "extensions.conf").write_text("[default]\n")
    (tmp_path / "asterisk.pid").write_text(f"{sleeper.pid}\n")
    (tmp_path / "asterisk.conf").write_text(
        f"[directories]\nastetcdir => {tmp_path}/etc\nastrundir => {tmp_path}\n")
    console = FakeConsole(tmp_path, {"core show uptime seconds": b"System uptime: 1234\n"},
                          pid=sleeper.pid)
    env = {"OCF_RESOURCE_INSTANCE": "pbx:0", "HA_RSCTMP": str(tmp_path / "state"),
           "OCF_RESKEY_binary": "/bin/sleep", "OCF_RESKEY_config": str(tmp_path / "asterisk.conf"),
           "OCF_RESKEY_sip_uris": sip_uris(udp, tcp), "OCF_RESKEY_CRM_meta_interval": "10000",
           "OCF_RESKEY_CRM_meta_promotable": "true"}
    try:
        # The first monitor publishes the promotion score (failing here, out
        # of a cluster: retried a minute later); the next one only compares.
        assert run_action("asterisk", "monitor", env)[0] == 0
        assert run_action("asterisk", "monitor", env) == (0, [], [])
    finally:
        console.close()
        sleeper.kill()
        sleeper.wait()
        udp.close()
        tcp.close()
