"""Talk to a running Asterisk through its control socket (``asterisk -rx``).

Usable without OCF: give it anything with ``run(argv, timeout=...)``
returning an object with ``returncode``/``stdout``/``stderr`` (the OCF
``Runner``).  ``asterisk -rx`` exits 0 even for unknown or failed commands
(1 only when it cannot connect), so every answer is parsed, and a command
the running Asterisk does not know raises ``AsteriskError``.

Measured on Asterisk 22 (see ``make bench``): one ``-rx`` round trip takes
about 12 ms, so the agent asks at most one or two questions per monitor.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class AsteriskError(Exception):
    """Asterisk did not answer, or answered that the command failed."""


class AsteriskDown(AsteriskError):
    """Nothing listens on the control socket."""


def read_directories(config: str) -> dict[str, str]:
    """The ``[directories]`` section of asterisk.conf (defaults where unset)."""
    found = {"astetcdir": "/etc/asterisk", "astrundir": "/var/run/asterisk",
             "astdbdir": "/var/lib/asterisk", "astlogdir": "/var/log/asterisk"}
    section = ""
    with open(config, encoding="utf-8", errors="replace") as handle:
        for raw in handle:
            line = raw.split(";", 1)[0].strip()
            if line.startswith("["):
                section = line[1:].split("]", 1)[0].strip().lower()
            elif section == "directories" and "=" in line:
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


_REGISTRATION = re.compile(r"^\s*(\S+?)/(\S+)\s+(\S+)\s+(\S+)")


class AsteriskCli:
    def __init__(self, runner: Any, binary: str, config: str, timeout: float) -> None:
        self.runner = runner
        self.binary = binary
        self.config = config
        self.timeout = timeout

    def command(self, text: str, timeout: float | None = None) -> str:
        from ocf_agents.ocf import CommandTimeout

        argv = [self.binary, "-C", self.config, "-rx", text]
        try:
            result = self.runner.run(argv, timeout=timeout or self.timeout)
        except CommandTimeout:
            raise AsteriskError(
                f"control socket did not answer '{text}' within "
                f"{timeout or self.timeout:g}s (Asterisk hung?)") from None
        if result.returncode != 0:
            raise AsteriskDown(f"cannot reach the control socket: {result.summary()}")
        output = result.stdout
        if output.startswith("No such command"):
            raise AsteriskError(f"Asterisk does not know '{text}' (module not loaded?)")
        return output

    def uptime(self) -> int:
        output = self.command("core show uptime seconds")
        match = re.search(r"System uptime:\s*(\d+)", output)
        if not match:
            raise AsteriskError(f"unexpected answer to 'core show uptime': {output[:80]!r}")
        return int(match.group(1))

    def wait_fully_booted(self, timeout: float) -> None:
        output = self.command("core waitfullybooted", timeout=timeout)
        if "fully booted" not in output:
            raise AsteriskError(f"Asterisk did not finish booting: {output.strip()[:80]}")

    def active_calls(self) -> int:
        output = self.command("core show channels count")
        match = re.search(r"(\d+) active call", output)
        if not match:
            raise AsteriskError(f"unexpected answer to 'core show channels count': "
                                f"{output[:80]!r}")
        return int(match.group(1))

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
            if line.lstrip().startswith(("<", "=", "Objects found")):
                continue
            match = _REGISTRATION.match(line)
            if match:
                found[match.group(1)] = match.group(4)
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
