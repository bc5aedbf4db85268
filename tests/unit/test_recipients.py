"""The recipient grammar in sipha_runtime.recipients: the typed target each
recipient names, and the one error the alert agent and the CIB templates
both turn into their own.  What each sender refuses, and that render refuses
the same, is tested in test_alert_agent.py."""

from __future__ import annotations

import pytest

from sip_ha.alert import recipient
from sip_ha.alert.errors import AlertError
from sipha_runtime import recipients
from sipha_runtime.recipients import MailTarget, Recipient, SnmpTarget, SyslogTarget


@pytest.mark.parametrize(("value", "parsed"), [
    ("ops@example.org", Recipient("mail", "ops@example.org", MailTarget(("ops@example.org",)))),
    ("mailto:a@example.org,b@example.org",
     Recipient("mail", "mailto:a@example.org,b@example.org",
               MailTarget(("a@example.org", "b@example.org")))),
    ("syslog:local", Recipient("syslog", "unix:/dev/log", SyslogTarget("unix", path="/dev/log"))),
    ("syslog:tcp://[2001:db8::30]:6514",
     Recipient("syslog", "tcp://[2001:db8::30]:6514", SyslogTarget("tcp", "2001:db8::30", 6514))),
    ("syslog:udp://loghost", Recipient("syslog", "udp://loghost", SyslogTarget("udp", "loghost",
                                                                               514))),
    ("snmp://2001:db8::1", Recipient("snmp", "2001:db8::1", SnmpTarget("2001:db8::1", 162))),
    ("snmp://nms:1162/", Recipient("snmp", "nms:1162", SnmpTarget("nms", 1162))),
])
def test_each_recipient_is_a_typed_target(value: str, parsed: Recipient) -> None:
    assert recipients.parse(value) == parsed


@pytest.mark.parametrize(("value", "message"), [
    ("snmp://host:0", "recipient 'snmp://host:0': SNMP target 'host:0': port '0' is not 1-65535"),
    ("syslog:udp://host:99999", "recipient 'syslog:udp://host:99999': syslog target "
                                "'udp://host:99999': port '99999' is not 1-65535"),
    ("pager", "recipient 'pager': expected an e-mail address"),
    ("a b@example.org", "mail recipient 'a b@example.org' is not an address"),
])
def test_one_error_with_the_same_words_for_both_callers(value: str, message: str) -> None:
    with pytest.raises(recipients.RecipientError) as runtime:
        recipients.parse(value)
    with pytest.raises(AlertError) as alert:
        recipient.route(value)
    assert str(runtime.value).startswith(message)
    assert str(alert.value) == str(runtime.value)


def test_smtp_settings() -> None:
    assert recipients.smtp_server("[2001:db8::25]", "smtps") == ("2001:db8::25", 465)
    with pytest.raises(recipients.RecipientError, match=r"^SMTP server 'mx:0': "):
        recipients.smtp_server("mx:0")
    with pytest.raises(recipients.RecipientError, match=r"^smtp_auth_file needs smtp_tls"):
        recipients.check_tls("none", "/etc/sip-ha/smtp.auth")
