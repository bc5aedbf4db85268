"""Where real SIP clients run for a test: a container, a cluster node or a
network namespace, seen from the harness.

``prefix`` runs a command there; ``netns`` lets this process open a TCP
connection from inside that network namespace (``setns`` in a short-lived
thread: only that thread moves), so a client's control port can stay on the
namespace's loopback and the host needs nothing but the client itself.
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass

CLONE_NEWNET = 0x40000000


class HostError(RuntimeError):
    """A file could not be written or a connection opened there."""


@dataclass(frozen=True)
class ClientHost:
    """Where clients run: ``prefix`` runs a command there (``nsenter ...``,
    ``lxc-attach -n NODE --``, ``ip netns exec NS``), ``netns`` is the path
    of its network namespace (``/proc/PID/ns/net``, ``/run/netns/NS``);
    empty when it is this process's own."""

    prefix: tuple[str, ...]
    netns: str = ""

    @classmethod
    def of_process(cls, pid: int) -> ClientHost:
        """All namespaces of process ``pid`` (a container's init)."""
        return cls(("nsenter", "-t", str(pid), "-m", "-u", "-n", "-p", "-r", "-w",
                    "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C.UTF-8"),
                   f"/proc/{pid}/ns/net")

    def run(self, argv: list[str], *, timeout: float = 30, stdin: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix, *argv], input=stdin, capture_output=True,
                              text=True, timeout=timeout, check=False,
                              stdin=None if stdin is not None else subprocess.DEVNULL)

    def spawn(self, script: str) -> subprocess.Popen[bytes]:
        """Run a shell script there in the background (its own session here)."""
        return subprocess.Popen([*self.prefix, "sh", "-c", script], stdin=subprocess.DEVNULL,
                                start_new_session=True)

    def read(self, path: str) -> str:
        """The file's text; empty if it cannot be read."""
        return self.run(["cat", path]).stdout

    def end(self, pidfile: str, timeout: float) -> None:
        """Wait up to ``timeout`` for the process in ``pidfile`` to exit, then
        kill it."""
        pid = self.read(pidfile).strip()
        if not pid.isdigit():
            return
        deadline = time.monotonic() + timeout
        while self.run(["kill", "-0", pid]).returncode == 0:
            if time.monotonic() > deadline:
                self.run(["kill", "-9", pid])
                return
            time.sleep(0.2)

    def write(self, path: str, text: str, mode: str = "644") -> None:
        script = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1" && chmod "$2" "$1"'
        result = self.run(["sh", "-c", script, "write", path, mode], stdin=text)
        if result.returncode != 0:
            raise HostError(f"cannot write {path}: {result.stderr.strip()}")

    def connect(self, address: tuple[str, int], timeout: float) -> socket.socket:
        """A TCP connection opened inside ``netns``."""
        if not self.netns:
            return socket.create_connection(address, timeout=timeout)
        outcome: list[socket.socket | OSError] = []

        def inside() -> None:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                with open(self.netns, "rb") as ns:
                    if libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
                        err = ctypes.get_errno()
                        raise OSError(err, f"setns {self.netns}: {os.strerror(err)}")
                outcome.append(socket.create_connection(address, timeout=timeout))
            except OSError as exc:  # handed to the caller's thread
                outcome.append(exc)

        # setns changes only the calling thread, which ends right after.
        worker = threading.Thread(target=inside, daemon=True)
        worker.start()
        worker.join(timeout + 5)
        if not outcome:
            raise HostError(f"no connection to {address} in {self.netns}")
        if isinstance(outcome[0], OSError):
            raise outcome[0]
        return outcome[0]
