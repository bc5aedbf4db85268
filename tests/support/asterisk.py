"""A real Asterisk configuration for tests: its own folders, PJSIP on a given
address, a trunk registration to a test registrar, phones, a queue."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

MODULES = "/usr/lib/x86_64-linux-gnu/asterisk/modules"

ASTERISK_CONF = """[directories]
astetcdir => {root}/etc
astmoddir => {modules}
astvarlibdir => {root}/lib
astdbdir => {root}/lib
astkeydir => {root}/lib
astdatadir => /usr/share/asterisk
astagidir => /usr/share/asterisk/agi-bin
astspooldir => {root}/spool
astrundir => {root}/run
astlogdir => {root}/log
astsbindir => /usr/sbin

[options]
entityid = 02:00:00:00:00:{eid:02x}
"""

MODULES_CONF = """[modules]
autoload = yes
{noload}
"""

PJSIP_CONF = """[global]
type = global
user_agent = sip-ha test PBX

[transport-udp]
type = transport
protocol = udp
bind = {address}:{port}

[transport-tcp]
type = transport
protocol = tcp
bind = {address}:{port}

[trunk-reg]
type = registration
transport = transport-udp
server_uri = sip:{registrar}
client_uri = sip:sipha@{registrar}
contact_user = sipha
expiration = 60
retry_interval = 5
max_retries = 1000

[trunk]
type = endpoint
transport = transport-udp
context = from-trunk
disallow = all
allow = ulaw
aors = trunk

[trunk]
type = aor
contact = sip:{registrar}

[trunk]
type = identify
endpoint = trunk
match = {registrar_host}

{phones}
"""

PHONE = """[{ext}]
type = endpoint
context = phones
disallow = all
allow = ulaw
aors = {ext}
{extra}
[{ext}]
type = aor
max_contacts = 1
remove_existing = yes
"""

EXTENSIONS_CONF = """[from-trunk]
exten => _X.,1,Dial(PJSIP/${EXTEN},20)

[phones]
exten => 600,1,Answer()
 same => n,Wait(3600)
"""

MANAGER_CONF = """[general]
enabled = yes
bindaddr = {address}
port = {ami_port}

[{ami_user}]
secret = {ami_secret}
read = system,call,command,agent
write = system,call,command,agent
"""

AMI_USER, AMI_SECRET = "sipha", "carry-the-astdb"

TLS_TRANSPORT = """
[transport-tls]
type = transport
protocol = tls
bind = {address}:{port}
cert_file = {root}/etc/keys/asterisk.pem
priv_key_file = {root}/etc/keys/asterisk.key
method = tlsv1_2
"""

PHONE_AUTH = """[{ext}-auth]
type = auth
auth_type = userpass
username = {ext}
password = {secret}
"""

LOAD_ENDPOINT = """[load]
type = endpoint
context = phones
disallow = all
allow = ulaw
direct_media = no

[load]
type = identify
endpoint = load
match = {source}
"""

PHONE_DIALPLAN = """exten => _1XX,1,Dial(PJSIP/${{EXTEN}},20)
 same => n,Hangup()
exten => {answer},1,Answer()
 same => n,Wait({seconds})
 same => n,Hangup()
"""

# The README's "The local SIP check": the endpoint that makes the agent's
# check known to Asterisk, which then answers it 200 and logs nothing.
CHECK_ENDPOINT = """
[sipha-check]
type = endpoint
context = sipha-check-nowhere
allow = !all
allow_subscribe = no

[sipha-check]
type = identify
endpoint = sipha-check
match_header = X-SIP-HA-Check: monitor
"""

QUEUES_CONF = """[general]
persistentmembers = yes

[support]
strategy = ringall
"""


@dataclass(frozen=True)
class Certificates:
    """PEM texts: a test CA, and a server certificate it signed with its key."""

    ca: str
    cert: str
    key: str


def make_certificates(folder: Path, *addresses: str) -> Certificates:
    """A CA made for this test run and a server certificate it signed for
    ``addresses`` (IP subjectAltNames; the first is also the CN), valid two
    days.  Phones trust the CA (what they verify the service against); the CA's
    own key stays in ``folder``, mode 600 as openssl writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    names = ",".join(f"IP:{address}" for address in addresses)
    (folder / "server.ext").write_text(
        f"subjectAltName = {names}\nextendedKeyUsage = serverAuth\n"
        "basicConstraints = critical, CA:FALSE\n")
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=sip-ha test CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-keyout", "ca.key", "-out", "ca.pem"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={addresses[0]}",
         "-keyout", "server.key", "-out", "server.csr"],
        ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-set_serial", "1", "-days", "2", "-extfile", "server.ext", "-out", "server.pem"],
    ]
    for step in steps:
        subprocess.run(["openssl", *step], cwd=folder, check=True, capture_output=True,
                       timeout=60)
    return Certificates(*((folder / name).read_text()
                          for name in ("ca.pem", "server.pem", "server.key")))


@dataclass(frozen=True)
class PhoneService:
    """What real phones and a load generator need, on top of the default setup.

    ``secrets``: extension -> password (digest auth for REGISTER and INVITE).
    ``endpoint``: extra lines for every phone endpoint (``rewrite_contact =
    yes``...).  ``tls``: certificate and key (PEM) for a TLS transport on
    ``tls_port``.  ``load_from``: the address a load generator calls from,
    identified without auth as endpoint ``load``.  Phones dial ``1XX``;
    ``answer`` answers, waits ``answer_seconds`` and hangs up.
    ``check_endpoint``: add ``CHECK_ENDPOINT``."""

    secrets: Mapping[str, str]
    endpoint: Mapping[str, str] = field(default_factory=dict)
    tls: tuple[str, str] | None = None
    tls_port: int = 5061
    load_from: str | None = None
    answer: str = "700"
    answer_seconds: float = 2
    check_endpoint: bool = False


class AsteriskSetup:
    """Configuration files for one Asterisk in ``root``."""

    def __init__(self, root: Path, address: str, registrar: str, *, port: int = 5060,
                 eid: int = 1, phones: tuple[str, ...] = ("100", "101"),
                 register_at_boot: bool = False, inside: str | None = None,
                 service: PhoneService | None = None) -> None:
        """Files go to ``root``; ``inside`` is that folder as Asterisk sees it
        (in a container), if different.  Without ``service`` the phones have
        no auth and only extension 600 answers."""
        self.root = root
        self.inside = inside or str(root)
        self.address, self.port = address, port
        for sub in ("etc", "lib", "spool", "run", "log"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "asterisk.conf").write_text(
            ASTERISK_CONF.format(root=self.inside, modules=MODULES, eid=eid))
        self.config = f"{self.inside}/asterisk.conf"
        etc = root / "etc"
        noload = ["chan_dahdi.so", "res_pjsip_phoneprov.so", "chan_mobile.so", "res_ari.so"]
        if not register_at_boot:
            noload.append("res_pjsip_outbound_registration.so")
        (etc / "modules.conf").write_text(MODULES_CONF.format(
            noload="\n".join(f"noload => {name}" for name in noload)))
        (etc / "pjsip.conf").write_text(PJSIP_CONF.format(
            address=address, port=port, registrar=registrar,
            registrar_host=registrar.split(":", maxsplit=1)[0],
            phones="\n".join(PHONE.format(ext=ext, extra=self._endpoint_extra(service, ext))
                             for ext in phones))
            + (self._service_pjsip(service) if service else ""))
        (etc / "extensions.conf").write_text(EXTENSIONS_CONF + (PHONE_DIALPLAN.format(
            answer=service.answer, seconds=service.answer_seconds) if service else ""))
        self.tls_port = service.tls_port if service and service.tls else None
        (etc / "queues.conf").write_text(QUEUES_CONF)
        (etc / "pjsip_notify.conf").write_text(
            "[sipha-resync]\nEvent => check-sync;reboot=false\n")
        self.ami_port = 5038
        (etc / "manager.conf").write_text(MANAGER_CONF.format(
            address=address, ami_port=self.ami_port, ami_user=AMI_USER, ami_secret=AMI_SECRET))
        for empty in ("logger.conf", "cdr.conf", "cel.conf"):
            (etc / empty).write_text("")
        (etc / "logger.conf").write_text("[logfiles]\nmessages => notice,warning,error\n")

    @staticmethod
    def _endpoint_extra(service: PhoneService | None, ext: str) -> str:
        if service is None:
            return ""
        lines = [f"{key} = {value}" for key, value in service.endpoint.items()]
        if ext in service.secrets:
            lines.append(f"auth = {ext}-auth")
        return "".join(f"{line}\n" for line in lines)

    def _service_pjsip(self, service: PhoneService) -> str:
        parts = [PHONE_AUTH.format(ext=ext, secret=secret)
                 for ext, secret in service.secrets.items()]
        if service.tls:
            keys = self.root / "etc" / "keys"
            keys.mkdir(mode=0o750, exist_ok=True)
            (keys / "asterisk.pem").write_text(service.tls[0])
            key = keys / "asterisk.key"
            key.touch(mode=0o640)
            key.chmod(0o640)  # before the secret goes in
            key.write_text(service.tls[1])
            parts.append(TLS_TRANSPORT.format(address=self.address, port=service.tls_port,
                                              root=self.inside))
        if service.load_from:
            parts.append(LOAD_ENDPOINT.format(source=service.load_from))
        if service.check_endpoint:
            parts.append(CHECK_ENDPOINT)
        return "\n".join(parts)

    @property
    def keys(self) -> str:
        """The TLS key folder as Asterisk sees it.  Give it (and its files) to
        root:asterisk after any ``chown -R asterisk``: Asterisk drops to its
        user before it loads PJSIP, so the key must be readable by that group,
        and by nobody else."""
        return f"{self.inside}/etc/keys"

    @property
    def uris(self) -> tuple[str, ...]:
        return (f"sip:{self.address}:{self.port}",
                f"sip:{self.address}:{self.port};transport=tcp")

    def params(self, **extra: str) -> dict[str, str]:
        values = {"config": self.config, "user": "asterisk", "group": "asterisk",
                  "sip_uris": " ".join(self.uris), "sip_timeout": "1s",
                  "ami_host": self.address, "ami_user": AMI_USER, "ami_secret": AMI_SECRET}
        values.update(extra)
        return values
