"""sip-ha-alert run the way Pacemaker runs it (a process with CRM_alert_*
and the alert's instance attributes in its environment) sends a mail that a
real SMTP server (aiosmtpd) receives, in plain text, over STARTTLS and over
SMTPS, logged in with SMTP AUTH where the server requires it; the same failure
again within the repeat interval is held back, the next mail counts it."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.alertlab import ALERT_AGENT, AlertNetns, run_alert
from tests.support.mail_receiver import MailReceiver

pytestmark = pytest.mark.integration
FAILED_MONITOR = {"CRM_alert_kind": "resource", "CRM_alert_node": "node1",
                  "CRM_alert_rsc": "pbx-asterisk", "CRM_alert_task": "monitor",
                  "CRM_alert_interval": "3000", "CRM_alert_rc": "7", "CRM_alert_target_rc": "8",
                  "CRM_alert_status": "0", "CRM_alert_desc": "not running",
                  "CRM_alert_timestamp": "2026-11-25 19:30:01.123456",
                  "CRM_alert_version": "2.1.5"}


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def test_failed_monitor_mail_is_received(alert_netns, mail_receiver):
    res = run_alert(alert_netns, **FAILED_MONITOR, CRM_alert_recipient="mailto:ops@example.org",
                    sipha_smtp_server=mail_receiver.address, sipha_cluster="pbx-cluster",
                    sipha_mail_from="pbx-ha@example.org")
    assert res.returncode == 0, res.stderr
    [mail] = mail_receiver.wait_for(1)
    assert mail["To"] == "ops@example.org" and mail["From"] == "pbx-ha@example.org"
    assert mail["Subject"] == ("[sip-ha pbx-cluster] ERR: pbx-asterisk monitor (every 3s) "
                               "FAILED on node1: not running (rc 7 not running, expected 8 "
                               "running (promoted))")
    assert mail["Auto-Submitted"] == "auto-generated"
    text = mail.get_content()
    assert "Resource:    pbx-asterisk\n" in text and "When:        2026-11-25 19:30:01" in text


def test_one_mail_for_several_addresses(alert_netns, mail_receiver):
    res = run_alert(alert_netns, CRM_alert_kind="node", CRM_alert_node="node2",
                    CRM_alert_desc="lost", CRM_alert_recipient="a@example.org,b@example.org",
                    sipha_smtp_server=mail_receiver.address)
    assert res.returncode == 0, res.stderr
    [mail] = mail_receiver.wait_for(1)
    assert mail["To"] == "a@example.org, b@example.org"
    assert mail["Subject"] == "[sip-ha] CRIT: node node2 left the cluster (lost)"


def test_below_threshold_sends_nothing(alert_netns, mail_receiver):
    res = run_alert(alert_netns, CRM_alert_kind="resource", CRM_alert_node="node1",
                    CRM_alert_rsc="pbx-ip", CRM_alert_task="start", CRM_alert_rc="0",
                    CRM_alert_target_rc="0", CRM_alert_status="0",
                    CRM_alert_recipient="ops@example.org", sipha_smtp_server=mail_receiver.address)
    assert res.returncode == 0, res.stderr
    res = run_alert(alert_netns, CRM_alert_kind="resource", CRM_alert_node="node1",
                    CRM_alert_rsc="pbx-ip", CRM_alert_task="start", CRM_alert_rc="0",
                    CRM_alert_target_rc="0", CRM_alert_status="0", sipha_min_severity="info",
                    CRM_alert_recipient="ops@example.org", sipha_smtp_server=mail_receiver.address)
    assert res.returncode == 0, res.stderr
    [mail] = mail_receiver.wait_for(1)
    assert mail["Subject"] == "[sip-ha] INFO: pbx-ip start on node1: ok"


def test_starttls_with_a_trusted_certificate(alert_netns, tmp_path, tls_files):
    cert, _ = tls_files
    smtp = MailReceiver(alert_netns, tmp_path, port=2587, tls=tls_files)
    smtp.start()
    try:
        res = run_alert(alert_netns, **FAILED_MONITOR, CRM_alert_recipient="ops@example.org",
                        sipha_smtp_server=smtp.address, sipha_smtp_tls="starttls",
                        SSL_CERT_FILE=str(cert))
        assert res.returncode == 0, res.stderr
        assert len(smtp.wait_for(1)) == 1
        # Without the certificate among the trusted ones nothing is sent in clear.
        res = run_alert(alert_netns, **FAILED_MONITOR, CRM_alert_recipient="ops@example.org",
                        sipha_smtp_server=smtp.address, sipha_smtp_tls="starttls")
        assert res.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in res.stderr
        assert len(smtp.messages()) == 1
    finally:
        smtp.stop()


def test_receiver_down_is_exit_1_with_the_reason(alert_netns):
    res = run_alert(alert_netns, **FAILED_MONITOR, CRM_alert_recipient="ops@example.org",
                    sipha_smtp_server="127.0.0.1:2599")
    assert res.returncode == 1
    assert res.stderr.startswith("sip-ha-alert: mail to ops@example.org through 127.0.0.1:2599")
    assert "Connection refused" in res.stderr


def test_line_breaks_in_an_event_or_the_sender(alert_netns, mail_receiver):
    injected = {**FAILED_MONITOR, "CRM_alert_node": "node1\r\nBcc: intruder@example.org"}
    res = run_alert(alert_netns, **injected, CRM_alert_recipient="ops@example.org",
                    sipha_smtp_server=mail_receiver.address)
    assert res.returncode == 0, res.stderr
    [mail] = mail_receiver.wait_for(1)
    assert mail["Bcc"] is None
    assert "FAILED on node1 Bcc: intruder@example.org: not running" in mail["Subject"]
    res = run_alert(alert_netns, **FAILED_MONITOR, CRM_alert_recipient="ops@example.org",
                    sipha_smtp_server=mail_receiver.address,
                    sipha_mail_from="pbx-ha@example.org\nBcc: intruder@example.org")
    assert res.returncode == 1
    assert res.stderr.startswith("sip-ha-alert: sipha_mail_from=") and res.stderr.count("\n") == 1
    assert len(mail_receiver.messages()) == 1


USER, PASSWORD = "alerts@example.org", 'pass word "with" = signs \\ #'


def auth_file(folder: Path, password: str = PASSWORD, mode: int = 0o600) -> Path:
    path = folder / "smtp.auth"
    path.write_text(f"# SMTP AUTH of sip-ha-alert\nuser = {USER}\npassword = {password}\n",
                    encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.fixture(params=["starttls", "smtps"])
def auth_smtp(request: pytest.FixtureRequest, alert_netns, tmp_path: Path,
              tls_files) -> Iterator[tuple[MailReceiver, dict[str, str]]]:
    """aiosmtpd that takes mail only after AUTH as USER, offered over TLS
    only; the alert settings and certificate that reach it."""
    smtps = request.param == "smtps"
    receiver = MailReceiver(alert_netns, tmp_path, port=2465 if smtps else 2588, tls=tls_files,
                            auth=(USER, PASSWORD), implicit_tls=smtps)
    receiver.start()
    yield receiver, {"sipha_smtp_server": receiver.address, "sipha_smtp_tls": request.param,
                     "SSL_CERT_FILE": str(tls_files[0])}
    receiver.stop()


def test_auth_over_tls_is_received(alert_netns, auth_smtp, tmp_path):
    smtp, settings = auth_smtp
    res = run_alert(alert_netns, **FAILED_MONITOR, CRM_alert_recipient="ops@example.org",
                    **settings, sipha_smtp_auth_file=str(auth_file(tmp_path)))
    assert res.returncode == 0, res.stderr
    [mail] = smtp.wait_for(1)
    assert mail["Subject"].startswith("[sip-ha] ERR: pbx-asterisk monitor (every 3s) FAILED")
    assert [login for _, login, ok in smtp.auth_attempts() if ok] == [USER]


def test_a_server_requiring_auth_refuses_mail_without(alert_netns, auth_smtp):
    smtp, settings = auth_smtp
    res = run_alert(alert_netns, **FAILED_MONITOR, CRM_alert_recipient="ops@example.org",
                    **settings)
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert "530" in res.stderr and "Authentication required" in res.stderr
    assert smtp.messages() == []


def test_a_wrong_password_is_one_line_without_it(alert_netns, auth_smtp, tmp_path):
    smtp, settings = auth_smtp
    wrong = "not the password at all"
    res = run_alert(alert_netns, **FAILED_MONITOR, CRM_alert_recipient="ops@example.org",
                    **settings, sipha_smtp_auth_file=str(auth_file(tmp_path, wrong)))
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert "535" in res.stderr and wrong not in res.stderr
    assert smtp.auth_attempts() == [["PLAIN", USER, False]]  # one attempt, no other mechanism
    assert smtp.messages() == []


def test_auth_in_clear_is_refused_before_connecting(alert_netns, tmp_path, tls_files):
    """No TLS, no AUTH: the password never leaves, even to a server that would take it."""
    smtp = MailReceiver(alert_netns, tmp_path, port=2589, tls=tls_files, auth=(USER, PASSWORD))
    smtp.start()
    try:
        res = run_alert(alert_netns, **FAILED_MONITOR, CRM_alert_recipient="ops@example.org",
                        sipha_smtp_server=smtp.address, sipha_smtp_tls="none",
                        sipha_smtp_auth_file=str(auth_file(tmp_path)))
        assert res.returncode == 1
        assert res.stderr == ("sip-ha-alert: smtp_auth_file needs smtp_tls = starttls or smtps: "
                              "SMTP AUTH over an unencrypted connection would send the password "
                              "in clear\n")
        assert smtp.auth_attempts() == [] and smtp.messages() == []
    finally:
        smtp.stop()


def test_an_auth_file_others_can_read_is_refused(alert_netns, auth_smtp, tmp_path):
    smtp, settings = auth_smtp
    loose = auth_file(tmp_path, mode=0o644)
    res = run_alert(alert_netns, **FAILED_MONITOR, CRM_alert_recipient="ops@example.org",
                    **settings, sipha_smtp_auth_file=str(loose))
    assert res.returncode == 1
    assert res.stderr == (f"sip-ha-alert: smtp_auth_file {loose} is accessible by group or "
                          "others (chmod 600 it)\n")
    assert smtp.auth_attempts() == [] and smtp.messages() == []


# The agent counts repeats in /run/sip-ha-alert (sip_ha.alert.repeats): each
# run gets a mount namespace of its own whose /run is the test's folder.
ON_TEST_RUN = 'mount --bind "$0" /run && exec "$@"'


def run_alert_counting(netns: AlertNetns, run: Path, **env: str,
                       ) -> subprocess.CompletedProcess[str]:
    return netns.run(["/usr/bin/unshare", "--mount", "--propagation", "private",
                      "/bin/sh", "-c", ON_TEST_RUN, str(run), ALERT_AGENT],
                     env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", **env}, timeout=30)


def test_repeated_failures_are_held_back_and_counted(alert_netns, mail_receiver, tmp_path):
    run = tmp_path / "run"
    (run / "sip-ha-alert").mkdir(parents=True, mode=0o750)
    settings = {**FAILED_MONITOR, "CRM_alert_recipient": "ops@example.org",
                "sipha_smtp_server": mail_receiver.address, "sipha_repeat_interval": "10s"}
    # The first is sent at the agent's clock between BEGAN and SENT_BY; the
    # interval is long enough for three runs even on a loaded machine.
    began, held = time.time(), []
    for number in range(3):
        before = time.time()
        res = run_alert_counting(alert_netns, run, **settings)
        assert res.returncode == 0, res.stderr
        if number:
            held.append((before, time.time()))
        else:
            sent_by = time.time()
    assert time.time() - began < 10, "three runs took longer than the interval"
    [first] = mail_receiver.wait_for(1)
    subject = ("[sip-ha] ERR: pbx-asterisk monitor (every 3s) FAILED on node1: not running "
               "(rc 7 not running, expected 8 running (promoted))")
    assert first["Subject"] == subject
    time.sleep(max(0.0, sent_by + 10.2 - time.time()))
    res = run_alert_counting(alert_netns, run, **settings)
    assert res.returncode == 0, res.stderr
    first, second = mail_receiver.wait_for(2)
    match = re.fullmatch(re.escape(subject) + r"; 2 more like this since "
                         r"(\d\d):(\d\d):(\d\d) UTC were held back", second["Subject"])
    assert match, second["Subject"]
    # "since" is when the first held back one came (UTC, to the second).
    since = time.strftime("%H:%M:%S", time.gmtime(held[0][0]))
    until = time.strftime("%H:%M:%S", time.gmtime(held[0][1]))
    assert since <= ":".join(match.groups()) <= until
    assert "Held back:   2 more like this since" in second.get_content()
    time.sleep(1)
    assert len(mail_receiver.messages()) == 2
