"""Pacemaker's calls stay cheap: a monitor loads neither lxml nor click."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.fake_sip import FakeSip, reply

PROBE = """
import sys
from ocf_agents.sipserver import AGENT
code = AGENT.run([sys.argv[1]], dict(__import__("os").environ))
heavy = sorted(m for m in ("lxml", "click", "pymysql", "watchdog", "pexpect", "ssl")
               if m in sys.modules)
print(code, ",".join(heavy) or "-", file=sys.stderr)
"""


def run_action(action: str, tmp_path: Path, sip_uri: str, pid: int) -> tuple[int, str]:
    pidfile = tmp_path / "server.pid"
    pidfile.write_text(f"{pid}\n")
    env = {**os.environ, "OCF_RESOURCE_INSTANCE": "imports", "HA_RSCTMP": str(tmp_path),
           "OCF_RESKEY_profile": "custom", "OCF_RESKEY_start_command": "/bin/sleep 60",
           "OCF_RESKEY_pidfile": str(pidfile), "OCF_RESKEY_sip_uris": sip_uri}
    out = subprocess.run([sys.executable, "-I", "-c", PROBE, action], env=env,
                         capture_output=True, text=True, check=True).stderr.splitlines()[-1].split()
    return int(out[0]), out[1]


def test_monitor_imports_nothing_heavy(tmp_path: Path):
    server = FakeSip("udp", lambda req, n: [reply(req, "200 OK")])
    sleeper = subprocess.Popen(["/bin/sleep", "60"])
    try:
        code, heavy = run_action("monitor", tmp_path, server.uri, sleeper.pid)
        assert code == 0
        assert heavy == "-"
        # meta-data is the one Pacemaker call that needs lxml.
        assert run_action("meta-data", tmp_path, server.uri, sleeper.pid)[1] == "lxml"
    finally:
        sleeper.kill()
        sleeper.wait()
        server.close()
