"""A scriptable SIP responder on loopback for unit tests (UDP or TCP)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


def reply(request: bytes, status: str, extra: str = "") -> bytes:
    head = request.split(b"\r\n\r\n", 1)[0].decode()
    keep = [line for line in head.split("\r\n")[1:]
            if line.split(":", 1)[0].lower() in ("via", "from", "to", "call-id", "cseq")]
    lines = [f"SIP/2.0 {status}", *keep, "Server: fake", *([extra] if extra else []),
             "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class FakeSip:
    """``answer(request, count)`` returns the datagrams/bytes to send back."""

    def __init__(self, transport: str, answer: Callable[[bytes, int], list[bytes]]) -> None:
        self.transport = transport
        self.answer = answer
        self.requests: list[bytes] = []
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        if transport == "tcp":
            self.sock.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def uri(self) -> str:
        return f"sip:127.0.0.1:{self.port};transport={self.transport}"

    def _serve(self) -> None:
        try:
            if self.transport == "udp":
                while True:
                    data, peer = self.sock.recvfrom(65535)
                    if peer is None:
                        return  # woken by close()
                    self.requests.append(data)
                    for out in self.answer(data, len(self.requests)):
                        self.sock.sendto(out, peer)
            else:
                while True:
                    conn, _ = self.sock.accept()
                    with conn:
                        data = conn.recv(65535)
                        self.requests.append(data)
                        for out in self.answer(data, len(self.requests)):
                            conn.sendall(out)
                        conn.recv(1)
        except OSError:
            return

    def close(self) -> None:
        # shutdown() wakes the serving thread; close() alone would leave the
        # socket open inside its blocked accept()/recvfrom().
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
