"""A real rsyslogd inside an AlertNetns: "the syslog server that got the alert".

It runs in the foreground (``-n``) with its own config file, pid file and
work directory in a folder of the test's; it loads imudp and imtcp,
listening on 127.0.0.1 and ::1 of the namespace, and imuxsock with the
system socket off (``SysSock.Use="off"``: /dev/log is neither opened nor
replaced) and one socket of its own, ``log.sock`` in the folder, read with
imuxsock's defaults otherwise, as a node's rsyslog reads /dev/log (never
imklog); it writes each message it receives as one JSON object a line.
Its own status messages stay in the folder too (``processInternalMessages``:
by default rsyslog sends them through syslog(3), i.e. to this host's
/dev/log). The host's rsyslog service, if
any, is neither started nor stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.alertlab import LOOPBACKS, AlertNetns, listening

RSYSLOGD = "/usr/sbin/rsyslogd"
PORT = 5514
MAX_MESSAGE_SIZE = 8192
SOCKET = "log.sock"  # imuxsock's socket, in the receiver's folder
# (output name, rsyslog property, more property options) for every message received.
FIELDS = (
    ("timereported", "timereported", ' dateFormat="rfc3339"'),
    ("pri", "pri", ""),
    ("facility", "syslogfacility-text", ""),
    ("severity", "syslogseverity-text", ""),
    ("version", "protocol-version", ""),
    ("hostname", "hostname", ""),
    ("app-name", "app-name", ""),
    ("syslogtag", "syslogtag", ""),
    ("programname", "programname", ""),
    ("procid", "procid", ""),
    ("msgid", "msgid", ""),
    ("structured-data", "structured-data", ""),
    ("msg", "msg", ""),
    ("inputname", "inputname", ""),
    ("fromhost-ip", "fromhost-ip", ""),
)


def available() -> str | None:
    """Why this receiver cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if not os.access(RSYSLOGD, os.X_OK):
        return f"{RSYSLOGD} is not installed (scripts/host-deps.sh installs rsyslog)"
    return None


def config(folder: Path, port: int = PORT, addresses: Sequence[str] = LOOPBACKS) -> str:
    """The whole rsyslog.conf: nothing from /etc/rsyslog.conf or /etc/rsyslog.d."""
    if any(c in str(folder) for c in '"\\\n'):
        raise ValueError(f"{folder}: rsyslog config strings cannot hold this path")
    properties = '\n    constant(value=",")\n'.join(
        f'    property(outname="{out}" name="{name}" format="jsonf"{more})'
        for out, name, more in FIELDS)
    inputs = "\n".join(
        f'input(type="{kind}" address="{address}" port="{port}" ruleset="received")'
        for kind in ("imudp", "imtcp") for address in addresses)
    inputs += f'\ninput(type="imuxsock" socket="{folder}/{SOCKET}" ruleset="received")'
    return f"""\
# written by tests/support/rsyslog.py
global(processInternalMessages="on" maxMessageSize="{MAX_MESSAGE_SIZE}"
       workDirectory="{folder}/work" net.enableDNS="off")
$RepeatedMsgReduction off
module(load="imuxsock" SysSock.Use="off")
module(load="imudp")
module(load="imtcp")
template(name="json_line" type="list") {{
    constant(value="{{")
{properties}
    constant(value="}}\\n")
}}
ruleset(name="received") {{
    action(type="omfile" file="{folder}/messages.jsonl" template="json_line")
}}
{inputs}
# rsyslogd's own messages (default ruleset)
*.* action(type="omfile" file="{folder}/rsyslogd-internal.log")
"""


class SyslogReceiver:
    """rsyslogd in NETNS; ``start()``, ``messages()``/``wait_for()``, ``stop()``."""

    def __init__(self, netns: AlertNetns, folder: Path, port: int = PORT,
                 addresses: Sequence[str] = LOOPBACKS) -> None:
        self.netns = netns
        self.addresses = tuple(addresses)
        self.folder = folder
        self.port = port
        self.conf = folder / "rsyslog.conf"
        self.pidfile = folder / "rsyslogd.pid"
        self.output = folder / "messages.jsonl"
        self.log = folder / "rsyslogd.out"
        self.socket = folder / SOCKET
        self.proc: subprocess.Popen[str] | None = None

    def start(self, within: float = 20.0) -> None:
        (self.folder / "work").mkdir(parents=True, exist_ok=True)
        self.conf.write_text(config(self.folder, self.port, self.addresses))
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C",
               # internal messages of the start-up, before the config is read
               "RSYSLOG_DFLT_LOG_INTERNAL": "1"}
        check = self.netns.run([RSYSLOGD, "-N1", "-f", str(self.conf)], env=env, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"rsyslog config rejected: {check.stderr}{check.stdout}")
        with open(self.log, "w") as log:
            self.proc = self.netns.start(
                [RSYSLOGD, "-n", "-f", str(self.conf), "-i", str(self.pidfile)],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + within
        while not self.listening():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"rsyslogd did not start: {self.log.read_text()}")
            time.sleep(0.1)

    def listening(self) -> bool:
        """Whether rsyslogd has UDP and TCP sockets on each of its addresses."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        return self.socket.is_socket() and all(
            listening(self.proc.pid, proto, self.addresses, self.port) for proto in ("tcp", "udp"))

    def stop(self) -> None:
        if self.proc is not None:
            self.netns.stop(self.proc)

    def messages(self) -> list[dict[str, str]]:
        try:
            lines = self.output.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def wait_for(self, n: int, timeout: float = 10.0) -> list[dict[str, str]]:
        """The messages once there are at least N of them; AssertionError after TIMEOUT."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages()
            if len(found) >= n:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"rsyslogd received {len(found)} of {n} messages within "
                                     f"{timeout:g} s: {found}")
            time.sleep(0.05)
