"""--version on every program prints the one version: the installed
package's metadata (setup.cfg), never a copy."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def declared() -> str:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config["metadata"]["version"]


@pytest.mark.parametrize(("program", "code"), [
    ("sip-ha", "from sip_ha.cli import main; main()"),
    ("sip-ha-sync", "from sync_helper.cli import main; main()"),
    ("sip-ha-alert", "from sip_ha.alert.agent import main; main()"),
    ("sip-ha-sip-options", "import sys; from ocf_agents.clients.sip_options import main; "
                           "sys.exit(main())"),
    ("asterisk", "from ocf_agents.asterisk import AGENT; AGENT.main()"),
    ("service-ip", "from ocf_agents.service_ip import AGENT; AGENT.main()"),
])
def test_version(program, code):
    result = subprocess.run([sys.executable, "-c", code, "--version"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{program} (SIP-HA) {declared()}\n"
