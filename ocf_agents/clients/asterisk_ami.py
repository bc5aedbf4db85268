"""A small Asterisk Manager Interface (AMI) client, usable without OCF.

Enough for what a standby needs from the active server (``Command``) and
for writing its own astdb quickly (``DBPut``/``DBDel``): one connection,
a challenge login (MD5 of challenge and secret, never the secret itself),
events off, every action matched by its ActionID, one deadline for all.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time


class AmiError(Exception):
    """The manager did not answer, refused the login or an action."""


class Ami:
    def __init__(self, host: str, port: int, user: str, secret: str, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.buffer = b""
        self.counter = 0
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as err:
            raise AmiError(f"cannot reach the manager on {host}:{port}: "
                           f"{err.strerror or err}") from None
        try:
            banner = self._read_line()
            if not banner.startswith("Asterisk Call Manager"):
                raise AmiError(f"{host}:{port} is not an Asterisk manager: {banner[:60]!r}")
            answer = self.action("Login", Username=user, AuthType="MD5",
                                 Key=self._key(host, secret), Events="off")
            if answer.get("Response") != "Success":
                raise AmiError(f"manager login as {user!r} on {host} refused: "
                               f"{answer.get('Message', '')}")
        except BaseException:
            self.sock.close()
            raise

    def _key(self, host: str, secret: str) -> str:
        """Answer to a fresh challenge: the secret itself never crosses the network."""
        answer = self.action("Challenge", AuthType="MD5")
        challenge = answer.get("Challenge", "")
        if answer.get("Response") != "Success" or not challenge:
            raise AmiError(f"the manager on {host} gave no login challenge: "
                           f"{answer.get('Message', '')}")
        # MD5 is what AMI's challenge login is defined with.
        return hashlib.md5((challenge + secret).encode(), usedforsecurity=False).hexdigest()

    def __enter__(self) -> Ami:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._send("Logoff", {})
        except (OSError, AmiError):
            pass
        self.sock.close()

    def action(self, name: str, **fields: str) -> dict[str, str]:
        """Send one action and return the fields of its response."""
        action_id = self._send(name, fields)
        while True:
            message = self._read_message()
            if message.get("ActionID") == action_id and "Response" in message:
                return message

    def command(self, text: str) -> str:
        """Run a CLI command through the manager; its output as text."""
        action_id = self._send("Command", {"Command": text})
        while True:
            raw = self._read_raw_message()
            fields = _fields(raw)
            if fields.get("ActionID") != action_id or "Response" not in fields:
                continue
            if fields["Response"] not in ("Success", "Follows"):
                raise AmiError(f"'{text}' failed: {fields.get('Message', '')}")
            # Asterisk 14+: one "Output:" line per line of output.
            return "\n".join(line[len("Output: "):] for line in raw.split("\r\n")
                             if line.startswith("Output: "))

    def db_put(self, family: str, key: str, value: str) -> None:
        self._check(self.action("DBPut", Family=family, Key=key, Val=value), "DBPut")

    def db_del(self, family: str, key: str) -> None:
        self._check(self.action("DBDel", Family=family, Key=key), "DBDel")

    @staticmethod
    def _check(answer: dict[str, str], what: str) -> None:
        if answer.get("Response") != "Success":
            raise AmiError(f"{what} failed: {answer.get('Message', '')}")

    def _send(self, name: str, fields: dict[str, str]) -> str:
        self.counter += 1
        action_id = f"sipha-{os.getpid()}-{self.counter}"
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        for key, value in fields.items():
            if "\r" in value or "\n" in value:
                raise AmiError(f"{name}: a value may not contain line breaks")
            lines.append(f"{key}: {value}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return action_id

    def _fill(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise AmiError("the manager did not answer in time")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise AmiError("the manager did not answer in time") from None
        except OSError as err:
            raise AmiError(f"manager connection failed: {err.strerror or err}") from None
        if not chunk:
            raise AmiError("the manager closed the connection")
        self.buffer += chunk

    def _read_line(self) -> str:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def _read_raw_message(self) -> str:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        raw, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        return raw.decode("utf-8", "replace")

    def _read_message(self) -> dict[str, str]:
        return _fields(self._read_raw_message())


def _fields(raw: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in raw.split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            found.setdefault(key, value)
    return found
