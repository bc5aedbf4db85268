"""One network namespace for the alert tests: the receivers (SMTP, syslog,
SNMP trap daemons) and the alert agent itself run in it, on its loopback
(127.0.0.1 and ::1), so nothing reaches this host's own services.

Every name starts with ``siphaal`` and a random suffix; processes started
here are ended by their PID.  ``AlertNetns(existing="NAME")`` runs receivers
in a namespace someone else made (a test cluster's trunk host) and leaves
the namespace itself alone.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

IP = "/usr/sbin/ip"
ALERT_AGENT = str(Path(sys.executable).with_name("sip-ha-alert"))
LOOPBACKS = ("127.0.0.1", "::1")


def proc_net(address: str) -> tuple[str, str]:
    """The /proc/PID/net/{tcp,udp} file suffix for ADDRESS and how that file
    writes it (32-bit words in host byte order): 127.0.0.1 is 0100007F in
    udp, ::1 is 00000000000000000000000001000000 in udp6."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    packed = socket.inet_pton(family, address)
    words = "".join(packed[i:i + 4][::-1].hex() for i in range(0, len(packed), 4))
    return ("6" if family == socket.AF_INET6 else ""), words.upper()


# /proc/net/{tcp,udp} socket states: a listening TCP socket, a bound unconnected UDP one.
SOCKET_STATES = {"tcp": "0A", "udp": "07"}


def listening(pid: int, proto: str, addresses: Sequence[str], port: int) -> bool:
    """Whether process PID's network namespace has a PROTO (tcp or udp) socket
    listening on PORT of each of ADDRESSES, as /proc/PID/net shows it."""
    state = SOCKET_STATES[proto]
    for suffix, address in map(proc_net, addresses):
        try:
            rows = Path(f"/proc/{pid}/net/{proto}{suffix}").read_text().splitlines()[1:]
        except OSError:
            return False
        local = f"{address}:{port:04X}"
        # columns: sl local_address rem_address st ...
        if not any(columns[1] == local and columns[3] == state
                   for columns in map(str.split, rows)):
            return False
    return True


def _sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=30)


class AlertNetns:
    def __init__(self, existing: str | None = None) -> None:
        self.name = existing or f"siphaal{secrets.token_hex(3)}"
        self.owned = existing is None
        self.processes: list[subprocess.Popen[str]] = []

    def up(self) -> None:
        if not self.owned:
            return
        _sh(IP, "netns", "add", self.name)
        _sh(IP, "-n", self.name, "link", "set", "lo", "up")

    def argv(self, *argv: str) -> list[str]:
        """ARGV run inside the namespace."""
        return [IP, "netns", "exec", self.name, *argv]

    def run(self, argv: Sequence[str], env: Mapping[str, str] | None = None,
            timeout: float = 60, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*argv), env=dict(env) if env is not None else None,
                              capture_output=True, text=True, check=False, timeout=timeout,
                              input=input, stdin=None if input is not None else subprocess.DEVNULL)

    def start(self, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[str]:
        """A long-running process in the namespace, ended by PID in down()."""
        proc = subprocess.Popen(self.argv(*argv), text=True, **kwargs)  # type: ignore[call-overload]
        self.processes.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def down(self) -> None:
        for proc in self.processes:
            self.stop(proc)
        if self.owned:
            _sh(IP, "netns", "del", self.name, check=False)

    def leftovers(self) -> list[str]:
        found = [f"process {proc.pid}" for proc in self.processes if proc.poll() is None]
        if self.owned:
            found += [line for line in _sh(IP, "netns", "list").stdout.splitlines()
                      if line.startswith(self.name)]
        return found


def run_alert(netns: AlertNetns, **env: str) -> subprocess.CompletedProcess[str]:
    """sip-ha-alert as Pacemaker runs it: a process whose environment holds
    the CRM_alert_* variables and the alert's instance attributes, nothing else."""
    return netns.run([ALERT_AGENT], env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", **env},
                     timeout=30)
