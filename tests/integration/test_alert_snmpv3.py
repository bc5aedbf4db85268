"""sip-ha-alert, run the way Pacemaker runs it, with an SNMPv3 user file:
net-snmp's snmptrap sends an authPriv (SHA, AES) trap that net-snmp's
snmptrapd, knowing the user under the node's engine ID, decrypts and logs."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sip_ha.alert import snmp, snmpv3
from tests.support.alertlab import ALERT_AGENT, AlertNetns, run_alert
from tests.support.missing import missing
from tests.support.snmptrapd import TrapReceiver, V3User

pytestmark = pytest.mark.integration
PORT = 1163
# Spaces, quotes, a backslash and a hash: each must reach snmptrap unchanged.
AUTH = 'auth pass "quoted" \\ #not-a-comment'
PRIV = "priv-passphrase-\u00e9t\u00e9"
FAILED = {"CRM_alert_kind": "resource", "CRM_alert_node": "node1",
          "CRM_alert_rsc": "pbx-asterisk", "CRM_alert_task": "monitor",
          "CRM_alert_interval": "3000", "CRM_alert_rc": "7", "CRM_alert_target_rc": "8",
          "CRM_alert_status": "0", "CRM_alert_desc": "not running \u2013 \u00fc"}


def user_file(path: Path, auth: str = AUTH, priv: str = PRIV, mode: int = 0o600) -> Path:
    path.write_text(f"# the alert agent's SNMPv3 user\nuser = sipha\n"
                    f"auth_passphrase = {auth}\npriv_passphrase = {priv}\n", encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.fixture(scope="module")
def v3_lab(alert_netns: AlertNetns, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[tuple[AlertNetns, TrapReceiver, Path]]:
    """snmptrapd on 127.0.0.1 and ::1 port 1163 that logs the user sipha's
    authPriv traps from this host's engine ID, and that user's file."""
    folder = tmp_path_factory.mktemp("snmpv3")
    user = V3User(snmpv3.engine_id(socket.gethostname()), "sipha", AUTH, PRIV)
    receiver = TrapReceiver(alert_netns, folder / "snmptrapd", port=PORT, users=[user])
    try:
        receiver.start()
        yield alert_netns, receiver, user_file(folder / "snmpv3.user")
    finally:
        receiver.stop()
    assert receiver.process is not None and receiver.process.poll() is not None


@pytest.mark.parametrize("target", [f"127.0.0.1:{PORT}", f"[::1]:{PORT}"])
def test_an_authpriv_trap_arrives(v3_lab, target: str):
    netns, receiver, secrets = v3_lab
    before = len(receiver.received())
    res = run_alert(netns, **FAILED, CRM_alert_recipient=f"snmp://{target}",
                    sipha_snmp_user_file=str(secrets))
    assert res.returncode == 0, res.stderr
    receiver.wait_for_traps(before + 1)
    trap = receiver.received()[before]
    assert (trap.version, trap.community) == ("3", "sipha")  # SNMPv3, its security name
    varbinds = trap.varbinds
    assert varbinds[snmp.SNMP_TRAP_OID_OID] == snmp.PACEMAKER_TRAP_OID
    assert (varbinds[snmp.PCMK_NODE_OID], varbinds[snmp.PCMK_RESOURCE_OID],
            varbinds[snmp.PCMK_OPERATION_OID], varbinds[snmp.PCMK_DESCRIPTION_OID]) == (
        "node1", "pbx-asterisk", "monitor", "not running \u2013 \u00fc")
    assert (varbinds[snmp.PCMK_STATUS_OID], varbinds[snmp.PCMK_RETURN_CODE_OID],
            varbinds[snmp.PCMK_TARGET_RETURN_CODE_OID]) == ("0", "7", "8")


def test_a_wrong_passphrase_is_not_accepted(v3_lab, tmp_path: Path):
    netns, receiver, secrets = v3_lab
    before = len(receiver.traps())
    for auth, priv in ((AUTH, "another-priv-pass"), ("another-auth-pass", PRIV)):
        wrong = user_file(tmp_path / "wrong.user", auth, priv)
        res = run_alert(netns, CRM_alert_kind="node", CRM_alert_node="intruder",
                        CRM_alert_recipient=f"snmp://127.0.0.1:{PORT}",
                        sipha_snmp_user_file=str(wrong))
        assert res.returncode == 0, res.stderr  # a trap has no answer
    res = run_alert(netns, CRM_alert_kind="node", CRM_alert_node="node2",
                    CRM_alert_recipient=f"snmp://127.0.0.1:{PORT}",
                    sipha_snmp_user_file=str(secrets))
    assert res.returncode == 0, res.stderr
    traps = receiver.wait_for_traps(before + 1)
    assert [trap[snmp.PCMK_NODE_OID] for trap in traps[before:]] == ["node2"]


def test_a_user_file_others_can_read_is_refused(v3_lab, tmp_path: Path):
    netns, receiver, _ = v3_lab
    before = len(receiver.traps())
    loose = user_file(tmp_path / "loose.user", mode=0o640)
    res = run_alert(netns, **FAILED, CRM_alert_recipient=f"snmp://127.0.0.1:{PORT}",
                    sipha_snmp_user_file=str(loose))
    assert res.returncode == 1
    assert res.stderr == (f"sip-ha-alert: snmp_user_file {loose} is accessible by group or "
                          "others (chmod 600 it)\n")
    assert len(receiver.traps()) == before


def test_nothing_of_the_passphrases_is_left_behind(v3_lab):
    """The private snmp.conf goes with its folder; snmptrap's state too."""
    netns, receiver, secrets = v3_lab
    before = len(receiver.traps())
    res = run_alert(netns, CRM_alert_kind="node", CRM_alert_node="node3",
                    CRM_alert_recipient=f"snmp://127.0.0.1:{PORT}",
                    sipha_snmp_user_file=str(secrets))
    assert res.returncode == 0, res.stderr
    receiver.wait_for_traps(before + 1)
    root = Path(snmpv3.PRIVATE_ROOT)
    assert not [p for p in root.iterdir() if p.name.startswith("sip-ha-alert-snmp.")]
    assert AUTH not in res.stderr + res.stdout and PRIV not in res.stderr + res.stdout
    assert os.stat(secrets).st_mode & 0o777 == 0o600


def test_as_hacluster_its_own_file_is_read_and_roots_is_not(v3_lab):
    """As Pacemaker runs it: hacluster reads a file of its own, mode 600 (so
    does root's `sip-ha test-alerts`); one of root's, mode 600, it cannot."""
    netns, receiver, _ = v3_lab
    try:
        hacluster = pwd.getpwnam("hacluster")
    except KeyError:
        missing("no hacluster account (pacemaker is not installed)")
    folder = Path(tempfile.mkdtemp(prefix="sipha-alert-v3-"))
    try:
        folder.chmod(0o711)  # hacluster may reach the file, not list the folder
        secrets = user_file(folder / "snmpv3.user")
        os.chown(secrets, hacluster.pw_uid, hacluster.pw_gid)
        as_hacluster = ["/usr/bin/setpriv", f"--reuid={hacluster.pw_uid}",
                        f"--regid={hacluster.pw_gid}", "--clear-groups", ALERT_AGENT]
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "CRM_alert_kind": "node",
               "CRM_alert_node": "node4", "CRM_alert_recipient": f"snmp://127.0.0.1:{PORT}",
               "sipha_snmp_user_file": str(secrets)}
        before = len(receiver.traps())
        res = netns.run(as_hacluster, env=env, timeout=30)
        assert res.returncode == 0, res.stderr
        assert receiver.wait_for_traps(before + 1)[before][snmp.PCMK_NODE_OID] == "node4"
        res = run_alert(netns, **{k: v for k, v in env.items() if k.startswith(("CRM", "sipha"))})
        assert res.returncode == 0, res.stderr  # root, as sip-ha test-alerts
        receiver.wait_for_traps(before + 2)
        os.chown(secrets, 0, 0)
        res = netns.run(as_hacluster, env=env, timeout=30)
        assert res.returncode == 1
        assert res.stderr == (f"sip-ha-alert: snmp_user_file {secrets}: permission denied "
                              "(Pacemaker runs the alert agent as hacluster: chown hacluster "
                              f"{secrets}; chmod 600 {secrets})\n")
    finally:
        shutil.rmtree(folder)
