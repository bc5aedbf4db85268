"""A real SMTP server (aiosmtpd) inside an AlertNetns, delivering into a
Maildir the tests read: "the mail received"."""

from __future__ import annotations

import email
import email.policy
import mailbox
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

from tests.support.alertlab import AlertNetns

PORT = 2525


class MailReceiver:
    def __init__(self, netns: AlertNetns, folder: Path, port: int = PORT,
                 tls: tuple[Path, Path] | None = None, host: str = "127.0.0.1") -> None:
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
        argv = [sys.executable, "-m", "aiosmtpd", "-n", "-l", self.address,
                "-c", "aiosmtpd.handlers.Mailbox"]
        if self.tls:
            argv += ["--tlscert", str(self.tls[0]), "--tlskey", str(self.tls[1])]
        with open(self.folder / "aiosmtpd.log", "w") as log:
            self.proc = self.netns.start([*argv, str(self.maildir)],
                                         stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 20
        while not self._listening():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("aiosmtpd did not start: "
                                   + (self.folder / "aiosmtpd.log").read_text())
            time.sleep(0.1)

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
