"""A scripted Asterisk control socket (asterisk.ctl) for unit tests."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path


class FakeConsole:
    """Speaks asterisk.ctl: banner, then answers 'cli quit after CMD' and closes."""

    def __init__(self, folder: Path, answers: dict[str, bytes], pid: int = 4242,
                 hang: bool = False) -> None:
        self.path = str(folder / "asterisk.ctl")
        self.answers, self.pid, self.hang = answers, pid, hang
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                if self.hang:
                    time.sleep(5)
                    continue
                conn.sendall(f"pbx1/{self.pid}/22.0.0\n".encode())
                request = b""
                while not request.endswith(b"\0"):
                    request += conn.recv(1024)
                command = request[len(b"cli quit after "):-1].decode()
                conn.sendall(self.answers.get(
                    command, f"No such command '{command}'\n".encode()))

    def close(self) -> None:
        # shutdown() wakes the thread blocked in accept(); close() alone would not.
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
