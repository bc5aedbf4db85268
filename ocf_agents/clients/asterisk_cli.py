"""Talk to a running Asterisk through its control socket, without a process.

This speaks what ``asterisk -rx`` speaks: connect to ``asterisk.ctl``, read
the banner (``host/pid/version``), send ``cli quit after COMMAND`` and read
the output until Asterisk closes the connection.  A question costs well
under a millisecond instead of the ~15 ms of starting ``asterisk -rx``, and
the deadline is the socket's own.  Unknown commands are answered with
"No such command", which raises ``AsteriskError``.  Usable without OCF.
"""

from __future__ import annotations

# _socket is the socket module's C core: socket.py adds enum types and
# selectors, 5 ms of imports on every monitor, for nothing used here.
import _socket
import time


class AsteriskError(Exception):
    """Asterisk did not answer, or answered that the command failed."""


class AsteriskDown(AsteriskError):
    """Nothing listens on the control socket."""


def read_directories(config: str) -> dict[str, str]:
    """asterisk.conf's folders and control socket name (defaults where unset)."""
    found = {"astetcdir": "/etc/asterisk", "astrundir": "/var/run/asterisk",
             "astdbdir": "/var/lib/asterisk", "astlogdir": "/var/log/asterisk",
             "astctl": "asterisk.ctl"}
    section = ""
    with open(config, encoding="utf-8", errors="replace") as handle:
        for raw in handle:
            line = raw.split(";", 1)[0].strip()
            if line.startswith("["):
                section = line[1:].split("]", 1)[0].strip().lower()
            elif section in ("directories", "options") and "=" in line:
                key, _, value = line.partition("=")
                found[key.strip().lower()] = value.lstrip(">").strip()
    return found


def noload_modules(modules_conf: str) -> set[str]:
    """Modules that modules.conf keeps from loading at boot."""
    names = set()
    try:
        with open(modules_conf, encoding="utf-8", errors="replace") as handle:
            for raw in handle:
                line = raw.split(";", 1)[0].strip()
                key, sep, value = line.partition("=")
                if sep and key.strip().lower() == "noload":
                    names.add(value.lstrip(">").strip())
    except FileNotFoundError:
        pass
    return names


def parse_database(output: str, family: str) -> dict[str, str]:
    """``database show FAMILY`` output as {key below the family: value}."""
    prefix = f"/{family.strip('/')}/"
    entries = {}
    for line in output.splitlines():
        key, sep, value = line.partition(": ")
        key = key.strip()
        if sep and key.startswith(prefix):
            entries[key[len(prefix):]] = value.strip()
    return entries


class AsteriskCli:
    def __init__(self, control_socket: str, timeout: float) -> None:
        self.path = control_socket
        self.timeout = timeout
        self.banner = ""

    def command(self, text: str, timeout: float | None = None) -> str:
        limit = timeout or self.timeout
        deadline = time.monotonic() + limit
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.settimeout(limit)
            try:
                sock.connect(self.path)
            except (FileNotFoundError, ConnectionRefusedError) as err:
                raise AsteriskDown(f"nothing listens on {self.path}: {err.strerror}") from None
            banner = _receive_until(sock, b"\n", deadline)
            self.banner = banner.decode("utf-8", "replace").strip()
            sock.sendall(b"cli quit after " + text.encode() + b"\0")
            output = _receive_until(sock, None, deadline)
        except TimeoutError:
            raise AsteriskError(f"control socket did not answer '{text}' within {limit:g}s "
                                "(Asterisk hung?)") from None
        except OSError as err:
            raise AsteriskError(f"control socket: {err.strerror or err}") from None
        finally:
            sock.close()
        # Verbose log lines (first byte with the high bit set) are not output.
        lines = [line for line in output.split(b"\n") if not line or line[0] < 0x80]
        answer = b"\n".join(lines).decode("utf-8", "replace").replace("\0", "")
        if answer.startswith("No such command"):
            raise AsteriskError(f"Asterisk does not know '{text}' (module not loaded?)")
        return answer

    def uptime(self) -> int:
        output = self.command("core show uptime seconds")
        for line in output.splitlines():
            if line.startswith("System uptime:") and line.split(":")[1].strip().isdigit():
                return int(line.split(":")[1])
        raise AsteriskError(f"unexpected answer to 'core show uptime': {output[:80]!r}")

    def wait_fully_booted(self, timeout: float) -> None:
        output = self.command("core waitfullybooted", timeout=timeout)
        if "fully booted" not in output:
            raise AsteriskError(f"Asterisk did not finish booting: {output.strip()[:80]}")

    def active_calls(self) -> int:
        output = self.command("core show channels count")
        for line in output.splitlines():
            words = line.split()
            if len(words) >= 2 and words[0].isdigit() and words[1] == "active" and \
                    words[2:3] in (["call"], ["calls"]):
                return int(words[0])
        raise AsteriskError(f"unexpected answer to 'core show channels count': "
                            f"{output[:80]!r}")

    def module_loaded(self, module: str) -> bool:
        output = self.command(f"module show like {module.removesuffix('.so')}")
        return any(line.split()[:1] == [module] for line in output.splitlines())

    def load_module(self, module: str) -> None:
        output = self.command(f"module load {module}", timeout=max(self.timeout, 10))
        if not self.module_loaded(module):
            raise AsteriskError(f"could not load {module}: {output.strip()[:120]}")

    def unload_module(self, module: str) -> None:
        output = self.command(f"module unload {module}", timeout=max(self.timeout, 10))
        if self.module_loaded(module):
            raise AsteriskError(f"could not unload {module}: {output.strip()[:120]}")

    def registrations(self) -> dict[str, str]:
        """Outbound registration name -> status (Registered, Unregistered, Rejected, ...)."""
        output = self.command("pjsip show registrations")
        found = {}
        for line in output.splitlines():
            words = line.split()
            if len(words) < 3 or line.lstrip().startswith(("<", "=", "Objects found")):
                continue
            name, slash, _ = words[0].partition("/")
            if slash:
                found[name] = words[2]
        return found

    def database(self, family: str) -> dict[str, str]:
        """Keys (without the family) and values of one astdb family."""
        return parse_database(self.command(f"database show {family}"), family)

    def reload(self) -> None:
        self.command("core reload", timeout=max(self.timeout, 10))

    def stop_now(self, timeout: float) -> None:
        try:
            self.command("core stop now", timeout=timeout)
        except AsteriskDown:
            pass  # it went away while we asked: that is what we wanted


def _receive_until(sock: _socket.socket, marker: bytes | None, deadline: float) -> bytes:
    """Read up to ``marker`` (None: until the peer closes) before ``deadline``."""
    data = b""
    while marker is None or marker not in data:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            if marker is None:
                return data
            raise AsteriskError("control socket closed before the banner")
        data += chunk
    return data
