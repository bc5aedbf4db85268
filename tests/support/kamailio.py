"""A real Kamailio on loopback for tests and benchmarks: UDP, TCP and TLS
listeners on free ports, a control socket, OPTIONS answered with 200."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

AGENT_ROOT = Path(__file__).resolve().parents[2]

CONFIG = """#!KAMAILIO
debug=2
log_stderror=no
log_facility=LOG_LOCAL0
children=2
tcp_children=2
auto_aliases=no
enable_tls=yes
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
listen=tls:127.0.0.1:{tls_port}
loadmodule "sl.so"
loadmodule "ctl.so"
loadmodule "tls.so"
modparam("ctl", "binrpc", "unix:{folder}/ctl.sock")
modparam("tls", "config", "{folder}/tls.cfg")
request_route {{
    if (method == "OPTIONS") {{
        sl_send_reply("200", "OK");
        exit;
    }}
    sl_send_reply("404", "Not here");
}}
"""

TLS = """[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = {folder}/key.pem
certificate = {folder}/cert.pem
"""


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port


class KamailioSetup:
    """Files and OCF parameters for one Kamailio instance in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.tls_port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=sipha-test", "-keyout", str(folder / "key.pem"),
             "-out", str(folder / "cert.pem")],
            check=True, capture_output=True)
        (folder / "tls.cfg").write_text(TLS.format(folder=folder))
        self.config = folder / "kamailio.cfg"
        self.config.write_text(CONFIG.format(port=self.port, tls_port=self.tls_port,
                                             folder=folder))
        self.pidfile = folder / "kamailio.pid"
        self.uris = (f"sip:127.0.0.1:{self.port}",
                     f"sip:127.0.0.1:{self.port};transport=tcp",
                     f"sips:127.0.0.1:{self.tls_port}")

    def params(self, **extra: str) -> dict[str, str]:
        values = {
            "config": str(self.config),
            "pidfile": str(self.pidfile),
            "start_options": f"-Y {self.folder}",
            "control_command": f"/usr/sbin/kamcmd -s unix:{self.folder}/ctl.sock core.uptime",
            "sip_uris": " ".join(self.uris),
            "sip_timeout": "1s",
        }
        values.update(extra)
        return values

    def environ(self, instance: str = "kam", **extra: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("OCF_", "HA_"))}
        env.update({f"OCF_RESKEY_{k}": v for k, v in self.params(**extra).items()})
        env.update({"OCF_ROOT": "/usr/lib/ocf", "OCF_RESOURCE_INSTANCE": instance,
                    "HA_RSCTMP": str(self.folder / "rsctmp")})
        return env

    def main_pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def processes(self) -> list[int]:
        """Every live process running this instance's configuration."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                status = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if str(self.config).encode() in cmdline and status != "Z":
                found.append(int(entry))
        return found
