"""`sip-ha test-alerts`: one test notification per recipient of [alerts],
received by a real SMTP server, rsyslogd and snmptrapd; an unreachable
recipient is named with the reason and the exit code is 1."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from cib_templates import params
from sip_ha.alert import snmp

pytestmark = pytest.mark.integration
SIP_HA = str(Path(sys.executable).with_name("sip-ha"))
EXAMPLE = Path(params.__file__).parent / "example.toml"


def parameter_file(folder: Path, smtp: str, recipients: list[str]) -> Path:
    alerts = ("[alerts]\nrecipients = [%s]\nsmtp_server = \"%s\"\ncluster_name = \"lab\"\n"
              % (", ".join(f'"{r}"' for r in recipients), smtp))
    text = re.sub(r"(?ms)^\[alerts\]\n.*?(?=^# Operation intervals)", alerts + "\n",
                  EXAMPLE.read_text())
    path = folder / "cluster.toml"
    path.write_text(text)
    return path


def test_every_recipient_gets_a_test(syslog_lab, trap_lab, mail_receiver, tmp_path):
    netns, syslog = syslog_lab
    _, traps = trap_lab
    logged, trapped = len(syslog.messages()), len(traps.traps())
    path = parameter_file(tmp_path, mail_receiver.address, [
        "voip-admins@example.org", "syslog:tcp://[::1]:5514", "snmp://127.0.0.1:1162",
        "syslog:tcp://127.0.0.1:5599"])
    res = netns.run([SIP_HA, "test-alerts", "--params", str(path)],
                    env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
    lines = res.stdout.splitlines()
    assert lines[:3] == ["voip-admins@example.org: sent", "syslog:tcp://[::1]:5514: sent",
                         "snmp://127.0.0.1:1162: sent"]
    assert lines[3].startswith("syslog:tcp://127.0.0.1:5599: ")
    assert "refused" in lines[3].lower()
    assert res.returncode == 1

    [mail] = mail_receiver.wait_for(1)
    assert re.fullmatch(r"\[sip-ha lab\] NOTICE: test notification from \S+: this recipient "
                        r"gets SIP-HA alerts", mail["Subject"])
    message = syslog.wait_for(logged + 1)[logged]
    assert (message["msgid"], message["severity"]) == ("test", "notice")
    trap = traps.wait_for_traps(trapped + 1)[trapped]
    assert trap[snmp.PCMK_DESCRIPTION_OID].startswith("test notification from ")


def test_no_alerts_section_is_an_error(tmp_path):
    text = re.sub(r"(?ms)^\[alerts\]\n.*?(?=^# Operation intervals)", "",
                  EXAMPLE.read_text())
    (tmp_path / "cluster.toml").write_text(text)
    res = subprocess.run([SIP_HA, "test-alerts", "--params", str(tmp_path / "cluster.toml")],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 1
    assert "has no [alerts] section" in res.stderr
