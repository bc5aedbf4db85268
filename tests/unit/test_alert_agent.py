"""The alert agent's contract with Pacemaker: recipients choose the channel,
bad configuration is one line on stderr and exit 1, unwanted events exit 0."""

from __future__ import annotations

import re
import socket
import tomllib
from pathlib import Path

import pytest

from cib_templates import params
from sip_ha.alert import agent, mail, recipient, repeats
from sip_ha.alert.errors import AlertError
from sip_ha.alert.event import Event

EXAMPLE = Path(params.__file__).parent / "example.toml"


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Repeated alerts are counted in the test's folder (test_alert_repeats.py)."""
    monkeypatch.setattr(repeats, "STATE_DIR", str(tmp_path))
LOST = {"CRM_alert_kind": "node", "CRM_alert_node": "node2", "CRM_alert_desc": "lost",
        "CRM_alert_version": "2.1.5"}


def test_unknown_recipient_form_is_refused_with_the_forms(capsys):
    assert agent.run({**LOST, "CRM_alert_recipient": "pager-42"}) == 1
    err = capsys.readouterr().err
    assert "recipient 'pager-42'" in err and "snmp://HOST[:PORT]" in err
    assert err.count("\n") == 1


def test_no_recipient_and_unwanted_events_send_nothing():
    assert agent.run(LOST) == 0
    # A recipient that fails whenever delivery is tried: exit 0 shows it was not.
    probe = {"CRM_alert_kind": "resource", "CRM_alert_task": "monitor", "CRM_alert_rc": "7",
             "CRM_alert_target_rc": "7", "CRM_alert_interval": "0", "CRM_alert_status": "0",
             "CRM_alert_recipient": "pager-42"}
    assert agent.run(probe) == 0  # debug: below the default threshold


def test_bad_threshold_is_an_error(capsys):
    assert agent.run({**LOST, "CRM_alert_recipient": "ops@example.org",
                      "sipha_min_severity": "loud"}) == 1
    assert "sipha_min_severity='loud'" in capsys.readouterr().err


def test_unreachable_mail_server_is_reported(capsys):
    env = {**LOST, "CRM_alert_recipient": "ops@example.org",
           "sipha_smtp_server": "localhost:bad"}
    assert agent.run(env) == 1
    assert "SMTP server 'localhost:bad'" in capsys.readouterr().err


def test_mail_text_reads_like_a_report():
    event = Event.from_env({**LOST, "CRM_alert_recipient": "ops@example.org"})
    settings = agent.Settings(cluster="pbx-cluster")
    assert agent.subject(event, settings) == (
        "[sip-ha pbx-cluster] CRIT: node node2 left the cluster (lost)")
    text = agent.body(event, settings, "node1")
    assert text.startswith("node node2 left the cluster (lost)\n\n")
    assert "Node:        node2\n" in text
    assert "Reported by node1 in cluster pbx-cluster, Pacemaker 2.1.5." in text


@pytest.mark.parametrize("value, expected", [
    ("ops@example.org", ["ops@example.org"]),
    ("mailto:a@example.org, b@example.org", ["a@example.org", "b@example.org"]),
])
def test_mail_recipients(value, expected):
    assert mail.parse_addresses(value) == expected


@pytest.mark.parametrize("value", ["mailto:", "a b@example.org", "@example.org",
                                   "ops@example.org\nBcc: x@y"])
def test_bad_mail_recipients(value):
    with pytest.raises(AlertError):
        mail.parse_addresses(value)


@pytest.mark.parametrize("value, expected", [
    ("localhost", ("localhost", 25)), ("mx:2525", ("mx", 2525)),
    ("[2001:db8::1]:587", ("2001:db8::1", 587)), ("2001:db8::1", ("2001:db8::1", 25)),
])
def test_smtp_server(value, expected):
    assert mail.parse_server(value) == expected


def test_smtps_defaults_to_port_465():
    assert mail.parse_server("mx", "smtps") == ("mx", 465)
    assert mail.parse_server("mx:2465", "smtps") == ("mx", 2465)
    assert mail.parse_server("mx", "starttls") == ("mx", 25)


@pytest.mark.parametrize(("tls", "auth_file", "error"), [
    ("none", "", None), ("starttls", "/etc/sip-ha/smtp.auth", None),
    ("smtps", "/etc/sip-ha/smtp.auth", None),
    ("none", "/etc/sip-ha/smtp.auth", "smtp_auth_file needs smtp_tls = starttls or smtps"),
    ("tls", "", "SMTP TLS mode 'tls': expected one of none, starttls, smtps"),
])
def test_auth_only_over_tls(tls, auth_file, error):
    if error is None:
        mail.check_tls(tls, auth_file)
    else:
        with pytest.raises(AlertError, match=re.escape(error)):
            mail.check_tls(tls, auth_file)


def test_auth_in_clear_is_refused_before_the_file_is_read(capsys, tmp_path):
    env = {**LOST, "CRM_alert_recipient": "ops@example.org", "sipha_smtp_server": "mx",
           "sipha_smtp_auth_file": str(tmp_path / "missing")}
    assert agent.run(env) == 1
    assert capsys.readouterr().err == (
        "sip-ha-alert: smtp_auth_file needs smtp_tls = starttls or smtps: SMTP AUTH over an "
        "unencrypted connection would send the password in clear\n")


def test_a_password_smtplib_cannot_send_is_one_line(capsys, tmp_path):
    path = tmp_path / "smtp.auth"
    path.write_text("user = ops\npassword = gr\u00fc\u00dfe-aus-z\u00fcrich\n")
    path.chmod(0o600)
    env = {**LOST, "CRM_alert_recipient": "ops@example.org", "sipha_smtp_server": "mx",
           "sipha_smtp_tls": "starttls", "sipha_smtp_auth_file": str(path)}
    assert agent.run(env) == 1  # before any connection
    assert capsys.readouterr().err == (f"sip-ha-alert: smtp_auth_file {path}: user and password "
                                       "must be ASCII\n")


@pytest.mark.parametrize("value", ["", "mx:", "mx:0", "mx:99999", "[::1", "[::1]x"])
def test_bad_smtp_server(value):
    with pytest.raises(AlertError):
        mail.parse_server(value)


@pytest.mark.parametrize("value, kind", [
    ("ops@example.org", "mail"), ("syslog:local", "syslog"),
    ("syslog:unix:/run/systemd/journal/syslog", "syslog"),
    ("syslog:udp://198.51.100.30", "syslog"), ("syslog:tcp://[2001:db8::30]:6514", "syslog"),
    ("snmp://nms.example.org", "snmp"), ("snmp://[2001:db8::30]:1162", "snmp"),
])
def test_recipient_channels(value, kind):
    assert recipient.channel(value) == kind


@pytest.mark.parametrize("value", ["syslog:", "syslog:udp://", "syslog:http://x",
                                   "syslog:udp://a b", "snmp://", "snmp:x", "snmp://h:p",
                                   "pager", ""])
def test_bad_recipients(value):
    with pytest.raises(AlertError, match=re.escape(f"recipient {value!r}: ")):
        recipient.channel(value)


@pytest.mark.parametrize("value", ["snmp://host:0", "snmp://host:65536",
                                   "syslog:udp://host:99999", "syslog:tcp://host:0",
                                   "snmp://[2001:db8::1", "snmp://[]:162", "syslog:udp://:514"])
def test_what_the_senders_refuse_is_refused_at_render(value):
    with pytest.raises(AlertError, match=re.escape(f"recipient {value!r}: ")):
        recipient.channel(value)
    raw = tomllib.loads(EXAMPLE.read_text())
    raw["alerts"]["recipients"] = [value]
    with pytest.raises(params.ParamError, match=re.escape(f"recipient {value!r}: ")):
        params.parse(raw)


@pytest.mark.parametrize("value, target", [
    ("snmp://2001:db8::1", "2001:db8::1"), ("snmp://[2001:db8::1]/", "[2001:db8::1]"),
    ("syslog:udp://2001:db8::1", "udp://2001:db8::1"), ("syslog:local", "unix:/dev/log"),
])
def test_what_the_senders_take_is_taken_at_render(value, target):
    assert recipient.route(value)[1] == target
    raw = tomllib.loads(EXAMPLE.read_text())
    raw["alerts"]["recipients"] = [value]
    assert params.parse(raw).alerts.recipients == (value,)


def test_key_resources_make_the_address_move_a_notice(monkeypatch):
    sent = []
    monkeypatch.setattr(agent, "deliver", lambda event, settings, host, note="": sent.append(event))
    start = {"CRM_alert_kind": "resource", "CRM_alert_node": "node2", "CRM_alert_rsc": "pbx-ip",
             "CRM_alert_task": "start", "CRM_alert_rc": "0", "CRM_alert_target_rc": "0",
             "CRM_alert_status": "0", "CRM_alert_recipient": "ops@example.org"}
    assert agent.run(start) == 0 and sent == []          # info: below notice
    assert agent.run({**start, "sipha_key_resources": "pbx-ip proxy-ip"}) == 0
    assert [e.summary() for e in sent] == [
        "SIP service address pbx-ip started on node2: SIP-ACTIVE there now"]


FAILED_MONITOR = {"CRM_alert_kind": "resource", "CRM_alert_node": "node1\r\nBcc: x@example.org",
                  "CRM_alert_rsc": "pbx-asterisk", "CRM_alert_task": "monitor",
                  "CRM_alert_interval": "10000", "CRM_alert_rc": "7", "CRM_alert_target_rc": "0",
                  "CRM_alert_status": "0", "CRM_alert_desc": "not running\nexit 7\x1b[0m"}


def test_line_breaks_in_an_event_do_not_break_the_mail():
    event = Event.from_env({**FAILED_MONITOR, "CRM_alert_recipient": "ops@example.org"})
    settings = agent.Settings.from_env({"sipha_cluster": "pbx\ncluster"})
    message = mail.compose("sip-ha@node1", ["ops@example.org"], agent.subject(event, settings),
                           agent.body(event, settings, "node1"), {})
    assert message["Subject"] == ("[sip-ha pbx cluster] ERR: pbx-asterisk monitor (every 10s) "
                                  "FAILED on node1 Bcc: x@example.org: not running exit 7 [0m "
                                  "(rc 7 not running, expected 0 ok)")
    assert message["Bcc"] is None
    assert "Node:        node1 Bcc: x@example.org\n" in message.get_content()


def test_a_line_break_in_the_sender_is_one_error_line(capsys):
    env = {**LOST, "CRM_alert_recipient": "ops@example.org",
           "sipha_mail_from": "sip-ha@example.org\r\nBcc: x@example.org"}
    assert agent.run(env) == 1  # refused before any connection is tried
    err = capsys.readouterr().err
    assert err == ("sip-ha-alert: sipha_mail_from='sip-ha@example.org\\r\\nBcc: x@example.org': "
                   "a line break or other control character cannot go into the From header\n")


def test_syslog_message_has_no_control_characters(tmp_path):
    path = tmp_path / "log"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        assert agent.run({**FAILED_MONITOR, "CRM_alert_recipient": f"syslog:unix:{path}"}) == 0
        payload = sock.recv(65536)
    assert not [byte for byte in payload if byte < 0x20 or byte == 0x7F]
    # A local socket gets syslog(3)'s form: tag and PID, no structured data.
    assert re.match(rb"<27>[A-Z][a-z]{2} [ 1-3][0-9] \d\d:\d\d:\d\d sip-ha-alert\[\d+\]: ",
                    payload), payload
    assert payload.endswith(b"FAILED on node1 Bcc: x@example.org: not running exit 7 [0m "
                            b"(rc 7 not running, expected 0 ok)")
