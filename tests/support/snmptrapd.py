"""The real net-snmp ``snmptrapd`` as the SNMP trap receiver of the alert tests.

It runs in the foreground inside an AlertNetns, listening on
its addresses (default udp:127.0.0.1:1162 and udp6:[::1]:1162) only. Everything it
reads or writes is in its folder: its own config (``-C -c``, no
/etc/snmp/*.conf, no ~/.snmp), its persistent state (SNMP_PERSISTENT_DIR,
not /var/lib/snmp), an empty MIB directory, its pid file and its log (``-Lf``,
never syslog). It is no AgentX subagent (``-X``), so it does not touch
/var/agentx either.

Each trap becomes one record of the log, in a format of our own (``-F``)::

    TRAP<TAB>version<TAB>community<TAB>transport<TAB>vb<US>vb<US>...<TAB>END

with numeric OIDs (``-On``), every octet string in hex (``-Ox``: a string
with tabs, newlines or non-ASCII bytes cannot break the record; net-snmp
wraps long hex dumps over lines, which the parser joins) and raw TimeTicks
(``-Ot``). ``traps()`` turns the records back into ``{oid: value}`` dicts:
OIDs without the leading dot, strings decoded as UTF-8, numbers in decimal.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.alertlab import LOOPBACKS, AlertNetns, listening

SNMPTRAPD = "/usr/sbin/snmptrapd"
PORT = 1162
COMMUNITY = "public"
_US = "\x1f"  # the varbind separator: -Ox keeps control characters out of values
_FORMAT = f"TRAP\\t%s\\t%u\\t%b\\t%V{_US}%v\\tEND\\n"
_RECORD = re.compile(r"^TRAP\t(\d+)\t([^\t\n]*)\t([^\t\n]*)\t(.*?)\tEND$", re.M | re.S)
_TYPED = re.compile(r"^([A-Za-z][A-Za-z0-9-]*): ?(.*)$", re.S)


@dataclass(frozen=True)
class Trap:
    """One received notification: version (1 = v2c), community, transport
    (e.g. ``UDP/IPv6: [::1]:40000``) and its varbinds, OID -> value."""

    version: str
    community: str
    transport: str
    varbinds: dict[str, str] = field(default_factory=dict)


def parse_value(text: str) -> str:
    """One value as net-snmp printed it with -On -Ox -Ot, as a plain string."""
    text = text.strip()
    if text == '""':
        return ""
    typed = _TYPED.match(text)
    if typed is None:
        return text  # raw TimeTicks (-Ot), and whatever has no type prefix
    kind, value = typed.groups()
    if kind == "Hex-STRING":
        return bytes.fromhex("".join(value.split())).decode("utf-8", "backslashreplace")
    if kind == "STRING" and len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r'\\(["\\])', r"\1", value[1:-1])
    if kind == "OID":
        return value.strip().removeprefix(".")
    return value.strip()


def parse_log(text: str) -> list[Trap]:
    traps = []
    for version, community, transport, body in _RECORD.findall(text):
        varbinds = {}
        for binding in body.split(_US):
            oid, sep, value = binding.partition(" = ")
            if sep:
                varbinds[oid.strip().removeprefix(".")] = parse_value(value)
        traps.append(Trap(version, community, transport, varbinds))
    return traps


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class V3User:
    """An SNMPv3 user whose authPriv (SHA, AES) traps from ENGINE_ID (hex) are
    logged; traps with any other user, engine ID, key or level are not."""

    engine_id: str
    name: str
    auth_passphrase: str
    priv_passphrase: str

    def config(self) -> str:
        return (f"createUser -e 0x{self.engine_id} {self.name} SHA "
                f"{_quoted(self.auth_passphrase)} AES {_quoted(self.priv_passphrase)}\n"
                f"authUser log,execute,net {self.name} priv\n")


class TrapReceiver:
    """``start()`` (returns once both sockets listen), ``traps()``,
    ``wait_for_traps()``, ``stop()``; the namespace is the caller's."""

    def __init__(self, netns: AlertNetns, folder: Path, port: int = PORT,
                 community: str = COMMUNITY, addresses: Sequence[str] = LOOPBACKS,
                 users: Sequence[V3User] = ()) -> None:
        self.netns = netns
        self.users = tuple(users)
        self.addresses = tuple(addresses)
        self.folder = folder
        self.port = port
        self.community = community
        self.config = folder / "snmptrapd.conf"
        self.log = folder / "snmptrapd.log"
        self.output = folder / "snmptrapd.out"
        self.pidfile = folder / "snmptrapd.pid"
        self.persistent = folder / "persist"
        self.mibs = folder / "mibs"
        self.process: subprocess.Popen[str] | None = None

    @property
    def listen(self) -> list[str]:
        return [f"udp6:[{a}]:{self.port}" if ":" in a else f"udp:{a}:{self.port}"
                for a in self.addresses]

    def argv(self) -> list[str]:
        return [SNMPTRAPD, "-Lf", str(self.log), "-f", "-C", "-c", str(self.config),
                "-p", str(self.pidfile), "-X", "-n", "-On", "-Ox", "-Ot",
                "-M", str(self.mibs), "-F", _FORMAT, *self.listen]

    def environ(self) -> dict[str, str]:
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C",
                "HOME": str(self.folder), "SNMPCONFPATH": str(self.folder),
                "SNMP_PERSISTENT_DIR": str(self.persistent),
                "MIBDIRS": str(self.mibs), "MIBS": ""}

    def start(self, timeout: float = 10.0) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.mibs.mkdir(exist_ok=True)
        self.persistent.mkdir(mode=0o700, exist_ok=True)
        # No disableAuthorization: authCommunity alone admits v2c traps with
        # this community (and only those) for logging.
        self.config.write_text(
            f"authCommunity log,execute,net {self.community}\n"
            + "".join(user.config() for user in self.users)
            + f"[snmp] persistentDir {self.persistent}\n")
        self.config.chmod(0o600)
        with self.output.open("w") as output:
            self.process = self.netns.start(self.argv(), env=self.environ(),
                                            stdin=subprocess.DEVNULL, stdout=output,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self._listening():
            if self.process.poll() is not None:
                raise RuntimeError(f"snmptrapd exited with {self.process.returncode}: "
                                   f"{self.diagnostics()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"snmptrapd not listening on {self.listen} within "
                                   f"{timeout}s: {self.diagnostics()}")
            time.sleep(0.05)
        pid = self.pidfile.read_text().strip() if self.pidfile.exists() else ""
        if pid != str(self.process.pid):  # `ip netns exec` execs: stop() must reach it
            self.stop()
            raise RuntimeError(f"snmptrapd pid {pid!r} is not the started {self.process.pid}")

    def _listening(self) -> bool:
        """Both sockets bound, seen through the daemon's own /proc/PID/net
        (its namespace's view)."""
        assert self.process is not None
        return listening(self.process.pid, "udp", self.addresses, self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.netns.stop(self.process)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def diagnostics(self) -> str:
        parts = [path.read_text(errors="replace").strip() for path in (self.output, self.log)
                 if path.exists()]
        return " | ".join(part for part in parts if part) or "(no output)"

    def received(self) -> list[Trap]:
        if not self.log.exists():
            return []
        return parse_log(self.log.read_text(errors="replace"))

    def traps(self) -> list[dict[str, str]]:
        """OID -> value of each trap received so far, oldest first."""
        return [trap.varbinds for trap in self.received()]

    def wait_for_traps(self, n: int, timeout: float = 10.0) -> list[dict[str, str]]:
        """At least N traps in all; raises TimeoutError (with the log) otherwise."""
        deadline = time.monotonic() + timeout
        while len(traps := self.traps()) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(traps)} of {n} traps within {timeout}s; "
                                   f"snmptrapd {'runs' if self.running() else 'is gone'}: "
                                   f"{self.diagnostics()}")
            time.sleep(0.05)
        return traps
