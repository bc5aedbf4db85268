"""A private sshd in its own network namespace, for the sync tests.

Nothing of the host's ssh setup is used or changed: the daemon has its own
host key, its own authorized_keys, its own port, and listens only on an
address inside a namespace named ``sipsync-<random>``. A veth pair joins that
namespace to the host with a /31 from 198.51.100.240-249 (documentation
addresses; one pair per lab, a free one is picked). ``down`` ends the daemon
by its PID and removes the namespace (which removes the veth pair with it).

Users that exist for the daemon alone: ``ip netns exec`` mounts
``/etc/netns/<namespace>/passwd`` over ``/etc/passwd`` in the mount namespace
it gives the daemon, so the host's accounts stay as they are; that folder
goes with ``down``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

IP = "/usr/sbin/ip"
SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
PORT = 2222
# (host side, namespace side) pairs inside 198.51.100.240-249
PAIRS = tuple((f"198.51.100.{n}", f"198.51.100.{n + 1}") for n in range(240, 250, 2))


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=30)


def available() -> str | None:
    """Why a private sshd cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in (IP, SSHD, SSH_KEYGEN, "/usr/bin/ssh", "/usr/bin/rsync"):
        if not os.access(tool, os.X_OK):
            return f"{tool} is not installed (scripts/host-deps.sh installs it)"
    return None


def _addresses_in_use() -> set[str]:
    found = json.loads(_run(IP, "-j", "addr", "show").stdout or "[]")
    return {a.get("local", "") for link in found for a in link.get("addr_info", [])}


@dataclass(frozen=True)
class User:
    """An account (its group the same number) with a shell, for the daemon alone."""

    name: str
    uid: int
    home: Path


class PrivateSshd:
    """Lifecycle: ``up()`` then ``down()``; ``ssh_options`` says how to reach it."""

    def __init__(self, folder: Path, users: tuple[User, ...] = ()) -> None:
        token = secrets.token_hex(3)
        self.netns = f"sipsync-{token}"
        self.host_link = f"sipsync{token}"  # 13 characters: under IFNAMSIZ
        self.folder = folder
        self.host_address = ""
        self.address = ""
        self.port = PORT
        self.process: subprocess.Popen[bytes] | None = None
        self.client_key = folder / "client_ed25519"
        self.known_hosts = folder / "known_hosts"
        self.log = folder / "sshd.log"
        self.authorized_keys = folder / "authorized_keys"
        self.users = users
        self.etc = Path("/etc/netns") / self.netns
        self._made_netns_etc = False

    # -- lifecycle -------------------------------------------------------------

    def up(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._network()
        self._keys()
        self._accounts()
        self._start()

    def down(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        _run(IP, "link", "del", self.host_link, check=False)
        _run(IP, "netns", "del", self.netns, check=False)
        shutil.rmtree(self.etc, ignore_errors=True)
        if self._made_netns_etc:
            with contextlib.suppress(OSError):
                self.etc.parent.rmdir()  # only when empty: another lab's may be there

    def leftovers(self) -> list[str]:
        names = [line.split()[0] for line in _run(IP, "netns", "list").stdout.splitlines()
                 if line.strip()]
        links = _run(IP, "-o", "link", "show").stdout
        return [n for n in names if n == self.netns] + (
            [self.host_link] if f" {self.host_link}@" in links
            or f" {self.host_link}:" in links else []) + (
            [str(self.etc)] if self.etc.exists() else [])

    # -- the client's side -----------------------------------------------------

    def ssh_options(self) -> dict[str, str]:
        """What a sync configuration needs to reach this daemon."""
        return {"port": str(self.port), "identity_file": str(self.client_key),
                "known_hosts_file": str(self.known_hosts)}

    def public_key(self) -> str:
        """The client key's public line, as ``authorized_keys`` wants it."""
        return Path(f"{self.client_key}.pub").read_text().strip()

    def authorize(self, *lines: str) -> None:
        """Replace ``authorized_keys`` (read at every login); no line: the
        client key with no options, what ``up`` installs."""
        self.authorized_keys.write_text("".join(f"{line}\n" for line in
                                                lines or (self.public_key(),)))

    # -- steps -----------------------------------------------------------------

    def _network(self) -> None:
        used = _addresses_in_use()
        free = [p for p in PAIRS if p[0] not in used and p[1] not in used]
        if not free:
            raise RuntimeError("no free address pair in 198.51.100.240-249")
        self.host_address, self.address = free[secrets.randbelow(len(free))]
        _run(IP, "netns", "add", self.netns)
        _run(IP, "link", "add", self.host_link, "type", "veth", "peer", "name", "eth0",
             "netns", self.netns)
        _run(IP, "addr", "add", f"{self.host_address}/31", "dev", self.host_link)
        _run(IP, "link", "set", self.host_link, "up")
        _run(IP, "-n", self.netns, "link", "set", "lo", "up")
        _run(IP, "-n", self.netns, "addr", "add", f"{self.address}/31", "dev", "eth0")
        _run(IP, "-n", self.netns, "link", "set", "eth0", "up")

    def _keys(self) -> None:
        host_key = self.folder / "host_ed25519"
        for key in (host_key, self.client_key):
            _run(SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "sipsync-test",
                 "-f", str(key))
        self.authorize()
        host_public = Path(f"{host_key}.pub").read_text().split()[:2]
        self.known_hosts.write_text(f"[{self.address}]:{self.port} {' '.join(host_public)}\n")
        (self.folder / "sshd_config").write_text(
            f"Port {self.port}\n"
            f"ListenAddress {self.address}\n"
            f"HostKey {host_key}\n"
            f"AuthorizedKeysFile {self.authorized_keys}\n"
            f"PidFile {self.folder / 'sshd.pid'}\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "LogLevel VERBOSE\n"
            "Subsystem sftp internal-sftp\n")

    def _accounts(self) -> None:
        if not self.users:
            return
        self._made_netns_etc = not self.etc.parent.exists()
        self.etc.mkdir(parents=True)
        lines = [f"{u.name}:x:{u.uid}:{u.uid}::{u.home}:/bin/sh\n" for u in self.users]
        (self.etc / "passwd").write_text(Path("/etc/passwd").read_text() + "".join(lines))

    def _start(self) -> None:
        # sshd insists on its privilege-separation directory (Debian's unit makes it too)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [IP, "netns", "exec", self.netns, SSHD, "-D", "-e",
                 "-f", str(self.folder / "sshd_config")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log.read_text()[-500:]}")
            try:
                with socket.create_connection((self.address, self.port), timeout=1) as conn:
                    if conn.recv(8).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not answer on {self.address}:{self.port}")

