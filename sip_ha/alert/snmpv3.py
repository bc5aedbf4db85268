"""SNMPv3 notifications: the PACEMAKER-MIB trap of snmp.py, authPriv (SHA,
AES), sent by net-snmp's ``snmptrap`` (Debian package snmp).

snmptrap takes a user's passphrases on its command line only, where any
local user reads them (/proc/PID/cmdline). So they go into a private
snmp.conf (``defSecurityName``, ``defAuthPassphrase``, ``defPrivPassphrase``)
in a 0700 folder of our own that ``SNMPCONFPATH`` names, removed after the
trap; snmptrap reads no other configuration (no /etc/snmp, no ~/.snmp).
The user and passphrases come from a file only its owner reads
(``sipha_snmp_user_file``, see credentials.py).

A trap's sender is the authoritative engine: the receiver knows the user
under the sender's engine ID, here ``80001F8804`` (net-snmp's enterprise,
text format) and the node's short host name, so each node has its own and
keeps it. Its boots and time are 1 and the Unix time: they only grow, on
every node alike, so a receiver never finds a trap outside its time window
(snmptrap's own, its process's uptime, goes back with every reboot).
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import tempfile
import time

from sip_ha.alert import credentials
from sip_ha.alert.errors import AlertError
from sip_ha.alert.snmp import parse_target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

SNMPTRAP = "/usr/bin/snmptrap"
USER_KEYS = ("user", "auth_passphrase", "priv_passphrase")
# RFC 3414 11.2: a passphrase of fewer than 8 characters is refused.
PASSPHRASE_MIN = 8
# RFC 3411 SnmpEngineID: enterprise 8072 (net-snmp) with the high bit, then
# format 4 (text); at most 32 octets in all.
ENGINE_ID_PREFIX = "80001F8804"
ENGINE_ID_TEXT_MAX = 27
# tmpfs where there is one: the passphrases never reach a disk.
PRIVATE_ROOT = "/dev/shm"


def engine_id(hostname: str) -> str:
    """The hex engine ID of the node HOSTNAME: the prefix and its short name in ASCII."""
    short = hostname.partition(".")[0].encode("ascii", errors="replace")[:ENGINE_ID_TEXT_MAX]
    return ENGINE_ID_PREFIX + (short or b"sip-ha").hex().upper()


def read_user(path: str) -> dict[str, str]:
    """The user and passphrases of the file PATH; AlertError if it is not fit."""
    user = credentials.read(path, "snmp_user_file", USER_KEYS)
    for key in ("auth_passphrase", "priv_passphrase"):
        if len(user[key]) < PASSPHRASE_MIN:
            raise AlertError(f"snmp_user_file {path}: {key} has fewer than {PASSPHRASE_MIN} "
                             "characters (SNMPv3 refuses it)")
    return user


def _quoted(value: str) -> str:
    """VALUE as one snmp.conf token: net-snmp's copy_nword undoes the escapes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def config(user: Mapping[str, str]) -> str:
    """The private snmp.conf: the user and its passphrases, nothing else."""
    return (f"defSecurityName {_quoted(user['user'])}\n"
            f"defAuthPassphrase {_quoted(user['auth_passphrase'])}\n"
            f"defPrivPassphrase {_quoted(user['priv_passphrase'])}\n")


def transport(host: str, port: int) -> str:
    """net-snmp's transport address: ``udp6:[addr]:port`` for IPv6, else ``udp:host:port``."""
    return f"udp6:[{host}]:{port}" if ":" in host else f"udp:{host}:{port}"


def argv(target: str, engine: str, now: float, trap_oid: str,
         varbinds: Sequence[tuple[str, str | int]]) -> list[str]:
    """snmptrap's command line: no secret on it (they are in the private snmp.conf);
    strings as hex (``x``), so any UTF-8 text goes through exactly."""
    host, port = parse_target(target)
    args = [SNMPTRAP, "-v", "3", "-l", "authPriv", "-a", "SHA", "-x", "AES",
            "-e", engine, "-Z", f"1,{int(now) % 2**31}", "-r", "0", "-On",
            transport(host, port), "", "." + trap_oid]
    for oid, value in varbinds:
        if isinstance(value, str):
            args += ["." + oid, "x", value.encode("utf-8").hex().upper()]
        else:
            args += ["." + oid, "i", str(value)]
    return args


def send_trap(target: str, user_file: str, trap_oid: str,
              varbinds: Sequence[tuple[str, str | int]], timeout: float = 5.0,
              hostname: str | None = None) -> None:
    """One SNMPv3 authPriv trap to TARGET (``host[:port]``, port 162) as the
    user of USER_FILE, within TIMEOUT seconds. A trap has no answer: a
    receiver that is down or refuses the user is not noticed. AlertError
    naming the target when snmptrap is missing, fails or times out."""
    if not math.isfinite(timeout) or timeout <= 0:
        raise AlertError(f"SNMPv3 trap to {target!r}: timeout {timeout!r} must be positive")
    user = read_user(user_file)
    command = argv(target, engine_id(hostname or socket.gethostname()), time.time(), trap_oid,
                   varbinds)
    if not os.access(SNMPTRAP, os.X_OK):
        raise AlertError(f"SNMPv3 trap to {target!r}: {SNMPTRAP} is not installed "
                         "(Debian package snmp)")
    root = PRIVATE_ROOT if os.path.isdir(PRIVATE_ROOT) and os.access(PRIVATE_ROOT, os.W_OK) \
        else None
    private = tempfile.mkdtemp(prefix="sip-ha-alert-snmp.", dir=root)  # mode 0700
    try:
        descriptor = os.open(os.path.join(private, "snmp.conf"),
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(config(user))
        empty = os.path.join(private, "mibs")
        os.mkdir(empty, 0o700)
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": private,
               "SNMPCONFPATH": private, "SNMP_PERSISTENT_DIR": private,
               "MIBDIRS": empty, "MIBS": ""}
        try:
            done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, errors="replace",
                                  timeout=timeout, check=False, start_new_session=True)
        except subprocess.TimeoutExpired:
            raise AlertError(f"SNMPv3 trap to {target!r}: snmptrap did not finish within "
                             f"{timeout:g} s") from None
        except OSError as err:
            raise AlertError(f"SNMPv3 trap to {target!r}: {SNMPTRAP}: {err.strerror}") from None
    finally:
        shutil.rmtree(private, ignore_errors=True)
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout).split())
        for key in ("auth_passphrase", "priv_passphrase"):
            said = said.replace(user[key], "(passphrase)")
        said = said[:300] or "no message"
        raise AlertError(f"SNMPv3 trap to {target!r} not sent: snmptrap exit "
                         f"{done.returncode}: {said}")
