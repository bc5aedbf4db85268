"""``sip-ha-alert``: the Pacemaker alert agent of SIP-HA.

Pacemaker runs it once per event and recipient, as hacluster, with the event
in ``CRM_alert_*`` variables and the alert's instance attributes as variables
of their own name. The recipient says the channel:

- ``ops@example.org`` or ``mailto:a@example.org,b@example.org``: e-mail
  through ``sipha_smtp_server`` (default ``localhost:25``), ``sipha_smtp_tls``
  none, starttls or smtps, logged in with the user and password of
  ``sipha_smtp_auth_file`` (over TLS only);
- ``syslog:local`` (this node's /dev/log) or ``syslog:unix:/path``: the
  line syslog(3) writes there (``<PRI>Mmm dd hh:mm:ss sip-ha-alert[PID]: MSG``);
  ``syslog:udp://host[:port]``, ``syslog:tcp://host[:port]``: an RFC 5424
  message with the event's fields as structured data; facility
  ``sipha_syslog_facility`` (default daemon);
- ``snmp://host[:port]``: an SNMPv2c trap of the PACEMAKER-MIB, community
  ``sipha_snmp_community`` (default public), or with ``sipha_snmp_user_file``
  an SNMPv3 authPriv (SHA, AES) trap of that file's user, sent by net-snmp's
  snmptrap.

Within ``sipha_repeat_interval`` (default 10m, 0: never) of one sent to the
same recipient, the same failed resource operation again is held back and
counted, and so is the same successful one while that resource keeps failing
(a server failing on both nodes bouncing); the next alert about that resource
sent says how many (sip_ha.alert.repeats).

Events below ``sipha_min_severity`` (default notice: node, fencing, failed
operations, promote and demote, and the start and stop of the resources in
``sipha_key_resources``, the service addresses) are not sent. Exit 0 when sent or not
wanted, 1 with one line on stderr when the recipient could not be reached
or the configuration is wrong; Pacemaker logs both.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import time
from dataclasses import dataclass

from sip_ha.alert import mail, repeats
from sip_ha.alert.errors import AlertError
from sip_ha.alert.event import SEVERITIES, Event, EventError, has_control, printable
from sip_ha.alert.recipient import route
from sipha_runtime.duration import Duration
from sipha_runtime.recipients import SnmpTarget, SyslogTarget

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

APP = "sip-ha-alert"
# Pacemaker's default alert timeout is 30 s; every channel gives up well before.
SEND_TIMEOUT = 10.0


@dataclass(frozen=True)
class Settings:
    cluster: str = ""
    min_severity: str = "notice"
    smtp_server: str = "localhost:25"
    smtp_tls: str = "none"
    # Root-only files (their paths are in the CIB, never their contents).
    smtp_auth_file: str = ""
    snmp_user_file: str = ""
    mail_from: str = ""
    syslog_facility: str = "daemon"
    snmp_community: str = "public"
    # Resource ids whose start/stop is the SIP service moving (service addresses).
    key_resources: str = ""
    # Repeated resource alerts within this are held back and counted (repeats).
    repeat_interval: str = "10m"

    @property
    def repeat_seconds(self) -> float:
        """The interval; 0 (nothing held back) with one line on stderr if it is
        not a duration: the alerts, above all node and fencing ones, still go out."""
        try:
            return Duration.parse(self.repeat_interval)
        except ValueError:
            print(f"{APP}: sipha_repeat_interval={self.repeat_interval!r}: expected a "
                  "duration such as 10m (0: send every alert); every alert is sent",
                  file=sys.stderr)
            return 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        values = {name: env[f"sipha_{name}"].strip() for name in cls.__dataclass_fields__
                  if env.get(f"sipha_{name}", "").strip()}
        settings = cls(**values)
        # The name goes into mail subjects, as the event's text does.
        settings = dataclasses.replace(settings, cluster=printable(settings.cluster))
        if settings.min_severity not in SEVERITIES:
            raise AlertError(f"sipha_min_severity={settings.min_severity!r}: expected one of "
                             f"{', '.join(SEVERITIES)}")
        return settings


def sentence(event: Event, note: str = "") -> str:
    """The event's one line; NOTE says what like it was held back."""
    return f"{event.summary()}; {note}" if note else event.summary()


def subject(event: Event, settings: Settings, note: str = "") -> str:
    where = f"sip-ha {settings.cluster}" if settings.cluster else "sip-ha"
    return f"[{where}] {event.severity.upper()}: {sentence(event, note)}"


def body(event: Event, settings: Settings, hostname: str, note: str = "") -> str:
    labels = {"node": "Node", "resource": "Resource", "task": "Operation",
              "description": "Result", "rc": "Return code", "target_rc": "Expected",
              "attribute": "Attribute", "value": "Value", "timestamp": "When",
              "severity": "Severity"}
    details = event.details()
    lines = [sentence(event, note), ""]
    lines += [f"{label + ':':<13}{details[key]}" for key, label in labels.items()
              if key in details]
    if note:
        lines += ["", f"Held back:   {note}. Within {settings.repeat_interval} ([alerts] "
                      "repeat_interval) of one sent, the same failure again (same node, "
                      "resource, operation and result) is counted instead of sent, and so "
                      "is the same success while that resource keeps failing."]
    lines += ["", f"Reported by {hostname}"
              + (f" in cluster {settings.cluster}" if settings.cluster else "")
              + (f", Pacemaker {event.version}" if event.version else "") + ".",
              "See where the SIP service runs now: sip-ha status"]
    return "\n".join(lines) + "\n"


def deliver(event: Event, settings: Settings, hostname: str, note: str = "") -> str:
    """Send EVENT to its recipient, NOTE saying what like it was held back;
    return which channel took it."""
    kind, target, address = route(event.recipient)
    if isinstance(address, SyslogTarget):
        from sip_ha.alert import syslog

        try:
            if address.transport == "unix":
                payload = syslog.format_local(settings.syslog_facility, event.severity, APP,
                                              sentence(event, note))
            else:
                payload = syslog.format_rfc5424(settings.syslog_facility, event.severity,
                                                hostname, APP, event.kind, sentence(event, note),
                                                event.details())
        except ValueError as err:
            raise AlertError(f"sipha_syslog_facility: {err}") from err
        syslog.send_syslog(target, payload, timeout=SEND_TIMEOUT)
    elif isinstance(address, SnmpTarget):
        from sip_ha.alert import snmp

        varbinds = snmp.pacemaker_varbinds(
            event.kind, event.node, event.node_id, event.rsc, event.task,
            snmp.description(event.desc or event.summary(), note), event.status, event.rc,
            event.target_rc, event.attribute_name, event.attribute_value)
        if settings.snmp_user_file:
            from sip_ha.alert import snmpv3

            snmpv3.send_trap(target, settings.snmp_user_file, snmp.PACEMAKER_TRAP_OID, varbinds,
                             timeout=SEND_TIMEOUT)
        else:
            snmp.send_trap(target, settings.snmp_community, snmp.PACEMAKER_TRAP_OID, varbinds,
                           timeout=SEND_TIMEOUT)
    else:
        sender = settings.mail_from or f"sip-ha@{socket.gethostname()}"
        if has_control(sender):
            raise AlertError(f"sipha_mail_from={sender!r}: a line break or other control "
                             "character cannot go into the From header")
        message = mail.compose(sender, list(address.addresses),
                               subject(event, settings, note),
                               body(event, settings, hostname, note),
                               {"X-SIP-HA-Event": event.kind,
                                "X-SIP-HA-Severity": event.severity})
        mail.send(message, settings.smtp_server, settings.smtp_tls, timeout=SEND_TIMEOUT,
                  auth_file=settings.smtp_auth_file)
    return kind


def send(env: Mapping[str, str], now: float | None = None) -> str | None:
    """Handle the alert in ENV (come at NOW, Unix time): None when sent, held
    back or not wanted, else why not."""
    try:
        event = Event.from_env(env)
        settings = Settings.from_env(env)
        if event.rsc and event.rsc in settings.key_resources.split():
            event = dataclasses.replace(event, key=True)
        if not event.recipient:
            return None  # an alert without recipients yet: nothing to do
        if not event.wanted(settings.min_severity):
            return None
        now = time.time() if now is None else now
        verdict = repeats.Verdict(send=True)
        interval = settings.repeat_seconds
        if alike := repeats.key(event):
            verdict = repeats.admit(event.recipient, alike, interval, now)
        if not verdict.send:
            return None
        try:
            deliver(event, settings, socket.gethostname(), verdict.note(now))
        except BaseException:
            if alike:  # not sent: the next one like it must not be held back for it
                repeats.release(event.recipient, alike, verdict, now, interval)
            raise
        if alike:
            repeats.confirm(event.recipient, alike, verdict, interval)
    except (AlertError, EventError) as err:
        return str(err)
    return None


def run(env: Mapping[str, str], now: float | None = None) -> int:
    error = send(env, now)
    if error is None:
        return 0
    print(f"{APP}: {error}", file=sys.stderr)
    return 1


def main() -> None:
    if sys.argv[1:] == ["--version"]:  # Pacemaker passes no arguments, only a person does
        from sipha_runtime.version import banner

        print(banner(APP))
        sys.exit(0)
    sys.exit(run(os.environ))
