"""SNMPv3 through snmptrap (sip_ha.alert.snmpv3) and the credentials files
of the alert channels (sip_ha.alert.credentials), with a fake snmptrap run:
what goes on its command line, into its environment and its private
snmp.conf. The real round trip to snmptrapd is tests/integration/test_alert_snmpv3.py."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sip_ha.alert import credentials, snmp, snmpv3
from sip_ha.alert.errors import AlertError
from tests.support.missing import missing, require_root

AUTH = 'auth pass "q" \\ #x'
PRIV = "priv-passphrase"


def user_file(tmp_path: Path, text: str | None = None, mode: int = 0o600) -> Path:
    path = tmp_path / "snmpv3.user"
    path.write_text(text if text is not None else
                    f"user = sipha\nauth_passphrase = {AUTH}\npriv_passphrase = {PRIV}\n")
    path.chmod(mode)
    return path


class FakeSnmptrap:
    """Stands for subprocess.run: records the call and what snmptrap would read."""

    def __init__(self, returncode: int = 0, stderr: str = "",
                 raises: BaseException | None = None) -> None:
        self.returncode, self.stderr, self.raises = returncode, stderr, raises
        self.calls: list[dict[str, Any]] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        private = Path(kwargs["env"]["SNMPCONFPATH"])
        conf = private / "snmp.conf"
        self.calls.append({"argv": argv, **kwargs, "conf": conf.read_text(),
                           "conf_mode": stat.S_IMODE(conf.stat().st_mode),
                           "dir_mode": stat.S_IMODE(private.stat().st_mode),
                           "private": private})
        if self.raises:
            raise self.raises
        return subprocess.CompletedProcess(argv, self.returncode, "", self.stderr)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeSnmptrap:
    runner = FakeSnmptrap()
    monkeypatch.setattr(snmpv3.subprocess, "run", runner)
    monkeypatch.setattr(snmpv3, "PRIVATE_ROOT", str(tmp_path))
    monkeypatch.setattr(snmpv3.os, "access", lambda path, mode: True)
    return runner


def test_engine_id_is_the_short_host_name_in_text_format():
    assert snmpv3.engine_id("pbx1.example.org") == "80001F8804" + b"pbx1".hex().upper()
    assert len(bytes.fromhex(snmpv3.engine_id("n" * 80))) == 32
    assert snmpv3.engine_id("") == "80001F8804" + b"sip-ha".hex().upper()


def test_argv_holds_no_secret_and_every_string_in_hex():
    varbinds = snmp.pacemaker_varbinds("resource", "n\u00f6de1", "1", "pbx", "monitor",
                                       "not running", 0, 7, 8, "", "")
    argv = snmpv3.argv("[2001:db8::1]", "80001F880470", 1_790_000_000.7,
                       snmp.PACEMAKER_TRAP_OID, varbinds)
    assert argv[:18] == [snmpv3.SNMPTRAP, "-v", "3", "-l", "authPriv", "-a", "SHA", "-x", "AES",
                         "-e", "80001F880470", "-Z", "1,1790000000", "-r", "0", "-On",
                         "udp6:[2001:db8::1]:162", ""]
    assert argv[18] == "." + snmp.PACEMAKER_TRAP_OID
    assert argv[19:22] == ["." + snmp.PCMK_NODE_OID, "x", "n\u00f6de1".encode().hex().upper()]
    assert argv[-3:] == ["." + snmp.PCMK_TARGET_RETURN_CODE_OID, "i", "8"]
    assert snmpv3.argv("192.0.2.9:1162", "80", 0, "1.2", [])[16] == "udp:192.0.2.9:1162"


def test_the_passphrases_go_into_a_private_conf_only(fake: FakeSnmptrap, tmp_path: Path):
    snmpv3.send_trap("127.0.0.1:1162", str(user_file(tmp_path)), snmp.PACEMAKER_TRAP_OID,
                     [(snmp.PCMK_NODE_OID, "node1")], timeout=4, hostname="pbx1")
    [call] = fake.calls
    assert call["conf"] == ('defSecurityName "sipha"\n'
                            'defAuthPassphrase "auth pass \\"q\\" \\\\ #x"\n'
                            'defPrivPassphrase "priv-passphrase"\n')
    assert (call["conf_mode"], call["dir_mode"]) == (0o600, 0o700)
    assert call["private"].parent == tmp_path
    assert not call["private"].exists()  # removed after the trap
    everything_else = " ".join(call["argv"]) + " ".join(call["env"].values())
    assert AUTH not in everything_else and PRIV not in everything_else
    assert "sipha" not in call["argv"]
    assert call["env"] == {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": str(call["private"]),
                           "SNMPCONFPATH": str(call["private"]),
                           "SNMP_PERSISTENT_DIR": str(call["private"]),
                           "MIBDIRS": str(call["private"] / "mibs"), "MIBS": ""}
    assert call["argv"][10] == snmpv3.engine_id("pbx1")
    assert (call["timeout"], call["stdin"], call["start_new_session"]) == (
        4, subprocess.DEVNULL, True)


def test_a_failure_is_one_line_without_the_passphrases(fake: FakeSnmptrap, tmp_path: Path):
    fake.returncode, fake.stderr = 1, f"snmptrap: bad\n{PRIV} in here\n"
    with pytest.raises(AlertError) as caught:
        snmpv3.send_trap("127.0.0.1", str(user_file(tmp_path)), "1.2", [], hostname="h")
    assert str(caught.value) == ("SNMPv3 trap to '127.0.0.1' not sent: snmptrap exit 1: "
                                 "snmptrap: bad (passphrase) in here")
    assert not list(tmp_path.glob("sip-ha-alert-snmp.*"))


def test_a_hanging_snmptrap_is_a_timeout(fake: FakeSnmptrap, tmp_path: Path):
    fake.raises = subprocess.TimeoutExpired(["snmptrap"], 2)
    with pytest.raises(AlertError, match=r"did not finish within 2 s"):
        snmpv3.send_trap("127.0.0.1", str(user_file(tmp_path)), "1.2", [], timeout=2,
                         hostname="h")
    assert not list(tmp_path.glob("sip-ha-alert-snmp.*"))


def test_snmptrap_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(snmpv3, "SNMPTRAP", str(tmp_path / "snmptrap"))
    with pytest.raises(AlertError, match=r"snmptrap is not installed \(Debian package snmp\)"):
        snmpv3.send_trap("127.0.0.1", str(user_file(tmp_path)), "1.2", [], hostname="h")


@pytest.mark.parametrize(("text", "mode", "error"), [
    (None, 0o640, "is accessible by group or others (chmod 600 it)"),
    (None, 0o604, "is accessible by group or others (chmod 600 it)"),
    ("user = u\nauth_passphrase = short\npriv_passphrase = long-enough\n", 0o600,
     "auth_passphrase has fewer than 8 characters"),
    ("user = u\nauth_passphrase = long-enough\n", 0o600, ": no priv_passphrase"),
    ("user = u\nuser = v\n", 0o600, "line 2: user is given twice"),
    ("community = public\n", 0o600, "line 1: expected one of user = ..., auth_passphrase"),
    ("user\n", 0o600, "line 1: expected one of"),
    ("user =   \n", 0o600, "line 1: user is empty or holds control characters"),
    (b"user = \xff\n", 0o600, "not UTF-8 text"),
])
def test_unfit_user_files(tmp_path: Path, text: str | bytes | None, mode: int, error: str):
    path = user_file(tmp_path, text if isinstance(text, str) else None, mode)
    if isinstance(text, bytes):
        path.write_bytes(text)
    with pytest.raises(AlertError) as caught:
        snmpv3.read_user(str(path))
    message = str(caught.value)
    assert message.startswith(f"snmp_user_file {path}") and error in message
    assert "\n" not in message and "long-enough" not in message


def test_credentials_skip_comments_and_trim(tmp_path: Path):
    path = user_file(tmp_path, "# who\n\n  user =  ops@example.org \npassword = a = b # c\n")
    assert credentials.read(str(path), "smtp_auth_file", ("user", "password")) == {
        "user": "ops@example.org", "password": "a = b # c"}


def test_credentials_file_missing(tmp_path: Path):
    with pytest.raises(AlertError, match=r"^smtp_auth_file .*/nothing: No such file"):
        credentials.read(str(tmp_path / "nothing"), "smtp_auth_file", ("user",))


def test_credentials_file_of_another_user(tmp_path: Path):
    require_root("a file of another user (chown)")
    path = user_file(tmp_path)
    os.chown(path, 65534, 65534)
    with pytest.raises(AlertError, match=r"snmp_user_file .* is not owned by root or hacluster$"):
        snmpv3.read_user(str(path))


def test_credentials_file_of_hacluster_is_read_by_root_too(tmp_path: Path):
    """Pacemaker runs the agent as hacluster; sip-ha test-alerts runs it as root."""
    import pwd

    require_root("a file of another user (chown)")
    try:
        hacluster = pwd.getpwnam("hacluster")
    except KeyError:
        missing("no hacluster account (pacemaker is not installed)")
    path = user_file(tmp_path)
    os.chown(path, hacluster.pw_uid, hacluster.pw_gid)
    assert snmpv3.read_user(str(path))["user"] == "sipha"
