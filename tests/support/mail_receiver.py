"""A real SMTP server (aiosmtpd) inside an AlertNetns, delivering into a
Maildir the tests read: "the mail received".

Plain or with STARTTLS it is aiosmtpd's own command line. With ``auth`` (a
user and password it requires, and only over TLS, before any mail) or
``implicit_tls`` (SMTPS: TLS from the first byte) it is serve() below, run
in the namespace, reading its settings from a 0600 file of its folder; each
AUTH it answers is a line of ``auth.log`` (mechanism, login, success)."""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
import os
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

from tests.support.alertlab import AlertNetns

PORT = 2525


class MailReceiver:
    def __init__(self, netns: AlertNetns, folder: Path, port: int = PORT,
                 tls: tuple[Path, Path] | None = None, host: str = "127.0.0.1",
                 auth: tuple[str, str] | None = None, implicit_tls: bool = False) -> None:
        if (auth or implicit_tls) and not tls:
            raise ValueError("AUTH and SMTPS need a certificate and key (tls)")
        self.auth = auth
        self.implicit_tls = implicit_tls
        self.auth_log = folder / "auth.log"
        self.netns = netns
        self.host = host
        self.folder = folder
        self.port = port
        self.maildir = folder / "Maildir"
        self.tls = tls
        self.proc: subprocess.Popen[str] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        if self.auth or self.implicit_tls:
            assert self.tls is not None
            settings = self.folder / "smtpd.json"
            descriptor = os.open(settings, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                json.dump({"host": self.host, "port": self.port, "maildir": str(self.maildir),
                           "cert": str(self.tls[0]), "key": str(self.tls[1]),
                           "auth": self.auth, "implicit_tls": self.implicit_tls,
                           "auth_log": str(self.auth_log)}, handle)
            argv = [sys.executable, "-c", "import sys; from tests.support.mail_receiver import "
                    "serve; serve(sys.argv[1])", str(settings)]
            env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C",
                   "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        else:
            argv = [sys.executable, "-m", "aiosmtpd", "-n", "-l", self.address,
                    "-c", "aiosmtpd.handlers.Mailbox"]
            if self.tls:
                argv += ["--tlscert", str(self.tls[0]), "--tlskey", str(self.tls[1])]
            argv.append(str(self.maildir))
            env = None
        with open(self.folder / "aiosmtpd.log", "w") as log:
            self.proc = self.netns.start(argv, stdout=subprocess.DEVNULL, stderr=log, env=env)
        deadline = time.monotonic() + 20
        while not self._listening():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("aiosmtpd did not start: "
                                   + (self.folder / "aiosmtpd.log").read_text())
            time.sleep(0.1)

    def auth_attempts(self) -> list[list[str | bool]]:
        """[mechanism, login, success] of each AUTH answered, oldest first."""
        if not self.auth_log.exists():
            return []
        return [json.loads(line) for line in self.auth_log.read_text().splitlines()]

    def _listening(self) -> bool:
        probe = ("import socket,sys\ntry:\n socket.create_connection((%r, %d), 1)"
                 "\nexcept OSError:\n sys.exit(1)" % (self.host, self.port))
        return self.netns.run([sys.executable, "-c", probe], timeout=10).returncode == 0

    def stop(self) -> None:
        if self.proc is not None:
            self.netns.stop(self.proc)

    def messages(self) -> list[EmailMessage]:
        """Received mails, oldest first, parsed as a mail reader does (headers unfolded)."""
        if not self.maildir.exists():
            return []
        box = mailbox.Maildir(self.maildir, create=False)
        keys = sorted(box.iterkeys(), key=lambda key: box.get_message(key).get_date())
        return [email.message_from_bytes(box.get_bytes(key), _class=EmailMessage,
                                         policy=email.policy.default) for key in keys]

    def wait_for(self, count: int, timeout: float = 15) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(found := self.messages()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} of {count} mails received in {timeout}s")
            time.sleep(0.1)
        return found


def serve(settings_file: str) -> None:
    """aiosmtpd in the foreground until SIGTERM: AUTH (PLAIN, LOGIN) required
    before MAIL and offered only over TLS, STARTTLS or SMTPS as the settings say."""
    import signal
    import ssl
    import threading

    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Mailbox
    from aiosmtpd.smtp import AuthResult, LoginPassword

    with open(settings_file) as handle:
        settings = json.load(handle)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings["cert"], settings["key"])
    user, password = settings["auth"] or (None, None)

    def authenticator(server: object, session: object, envelope: object, mechanism: str,
                      auth_data: object) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and user is not None
              and auth_data.login == user.encode() and auth_data.password == password.encode())
        login = auth_data.login.decode(errors="replace") if isinstance(
            auth_data, LoginPassword) else ""
        with open(settings["auth_log"], "a") as log:
            log.write(json.dumps([mechanism, login, ok]) + "\n")
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 235 or 535

    tls = ({"ssl_context": context} if settings["implicit_tls"]
           else {"tls_context": context, "require_starttls": True})
    controller = Controller(Mailbox(settings["maildir"]), hostname=settings["host"],
                            port=settings["port"], authenticator=authenticator,
                            auth_required=user is not None,
                            # aiosmtpd 1.4 knows TLS from STARTTLS only; SMTPS is TLS throughout
                            auth_require_tls=not settings["implicit_tls"], **tls)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    controller.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        controller.stop()
