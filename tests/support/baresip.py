"""A real softphone for tests: baresip, driven over its ctrl_tcp module.

The harness runs where pytest runs and baresip where the phone lives (a
container, a cluster node, a network namespace; see ``client_host``).  The
control connection is opened from this process inside the phone's network
namespace, so the phone's host needs nothing but baresip, and the control
port (on 127.0.0.1) is never on a network.  Commands and events are
netstring-framed JSON.

Every wait is bounded; a phone that does not answer its control connection
in time is an error, a call that is not answered is an outcome.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tests.support.client_host import ClientHost

BARESIP = "/usr/bin/baresip"
MODULES = "/usr/lib/baresip/modules"
T = TypeVar("T")

# Headless: no sound card, no video, no NAT helpers (no STUN traffic), no UI
# module reading stdin.  ausine produces 48 kHz only, and in 1.0.0 (Debian 12) stereo only.
CONFIG = """\
poll_method\tepoll
sip_listen\t{listen}
{tls}call_local_timeout\t{ring_timeout}
call_max_calls\t4
audio_player\taufile,/dev/null
audio_alert\taufile,/dev/null
audio_source\tausine,440
ausrc_srate\t48000
ausrc_channels\t2
module_path\t{modules}
module\tg711.so
module\taufile.so
module\tausine.so
module_tmp\tuuid.so
module_tmp\taccount.so
module_app\tmenu.so
module_app\tctrl_tcp.so
ctrl_tcp_listen\t127.0.0.1:{ctrl_port}
statmode_default\toff
ringback_disabled\tyes
"""


class PhoneError(RuntimeError):
    """The phone could not be started or controlled (not a call outcome)."""


@dataclass(frozen=True)
class Account:
    """One SIP account: ``user`` registers at ``registrar`` (host[:port])
    over ``transport`` every ``regint`` seconds (Asterisk's default
    minimum_expiration is 60).  ``params`` are further account parameters
    (``sipnat=outbound``, ...)."""

    user: str
    password: str
    registrar: str
    transport: str = "udp"
    regint: int = 60
    answermode: str = "auto"
    params: tuple[str, ...] = ()

    def line(self) -> str:
        uri = f"sip:{self.user}@{self.registrar}"
        if self.transport != "udp":
            uri += f";transport={self.transport}"
        return ";".join([f"<{uri}>", f"auth_pass={self.password}", f"regint={self.regint}",
                         f"answermode={self.answermode}", *self.params])


@dataclass(frozen=True)
class Event:
    """One ctrl_tcp event: ``type`` (REGISTER_OK, CALL_RINGING, ...),
    ``param`` (status line, peer URI, close reason), ``call`` (baresip's call
    id), ``direction``, ``peer``; ``at`` is this process's monotonic clock."""

    type: str
    param: str
    at: float
    call: str = ""
    direction: str = ""
    peer: str = ""


@dataclass(frozen=True)
class CallOutcome:
    """What became of one dialled call.  ``code`` is the SIP status that
    ended a failed call (None when answered, or when no final answer came);
    ``ringing``/``answered_after`` are seconds from the dial."""

    uri: str
    call: str
    answered: bool
    reason: str = ""
    code: int | None = None
    ringing: float | None = None
    answered_after: float | None = None

    def __str__(self) -> str:
        if self.answered:
            ring = f"ringing after {self.ringing:.3f} s, " if self.ringing is not None else ""
            return f"{self.uri}: {ring}answered after {self.answered_after:.3f} s"
        return f"{self.uri}: failed ({self.reason or 'no answer'})"


class _Control:
    """The ctrl_tcp connection.  A reader thread takes every message as it
    arrives and stamps events then, so a test busy elsewhere (a sleep, a
    fault injection) does not shift the times it measures."""

    def __init__(self, sock: socket.socket, events: list[Event]) -> None:
        self.sock = sock
        self.changed = threading.Condition()
        self.events = events  # every event, for reports
        self.pending: list[Event] = []  # those no wait has returned yet
        self.responses: dict[str, dict[str, object]] = {}
        self.closed = False
        sock.settimeout(None)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def send(self, command: str, params: str, token: str) -> None:
        # An empty "params" would reach the command as "" (not absent):
        # "hangup" and "accept" would then look for a call with an empty id.
        message = {"command": command, "token": token} | ({"params": params} if params else {})
        body = json.dumps(message).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body + b",")

    def wait(self, found: Callable[[], T | None], deadline: float) -> T | None:
        """``found()`` (called under the lock) once it is not None, or None
        when the deadline passes or baresip closed the connection."""
        with self.changed:
            while True:
                value = found()
                left = deadline - time.monotonic()
                if value is not None or self.closed or left <= 0:
                    return value
                self.changed.wait(left)

    def close(self) -> None:
        with contextlib.suppress(OSError):  # shutdown wakes the reader's recv
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._reader.join(5)

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            arrived = time.monotonic()
            buffer += data
            messages = []
            while True:
                length, colon, rest = buffer.partition(b":")
                if not colon or len(rest) < int(length) + 1:
                    break
                messages.append(json.loads(rest[:int(length)]))
                buffer = rest[int(length) + 1:]
            with self.changed:
                for message in messages:
                    self._take(message, arrived)
                self.closed = not data
                self.changed.notify_all()
            if not data:
                return

    def _take(self, message: dict[str, object], arrived: float) -> None:
        if message.get("response"):
            self.responses[str(message.get("token"))] = message
        elif message.get("event") and message.get("type") != "CALL_RTCP":
            event = Event(type=str(message.get("type", "")), param=str(message.get("param", "")),
                          at=arrived, call=str(message.get("id", "")),
                          direction=str(message.get("direction", "")),
                          peer=str(message.get("peeruri", "")))
            self.events.append(event)
            self.pending.append(event)


class Phone:
    """One baresip with one account, its files in ``folder`` on ``host``.

    ``address`` (with ``port``) is where it listens for SIP (UDP and TCP on
    ``port``, TLS on ``port + 1``); ``ctrl_port`` (on 127.0.0.1) must differ
    between phones in the same network namespace.  ``cafile``: PEM that
    verifies a TLS registrar's certificate.  ``certificate``: the phone's own
    certificate and key (one PEM), without which it cannot accept a TLS
    connection (a server can then reach it only over the phone's own).
    ``ring_timeout``: seconds an incoming call may ring unanswered
    (answermode manual)."""

    def __init__(self, host: ClientHost, folder: str, account: Account, address: str, *,
                 port: int = 5060, ctrl_port: int = 4444, cafile: str = "",
                 certificate: str = "", ring_timeout: int = 30) -> None:
        self.host, self.folder, self.account = host, folder.rstrip("/"), account
        self.address, self.port, self.ctrl_port = address, port, ctrl_port
        self.cafile, self.certificate, self.ring_timeout = cafile, certificate, ring_timeout
        self.events: list[Event] = []  # every event, for reports
        self._control: _Control | None = None
        self._launcher: subprocess.Popen[bytes] | None = None
        self._tokens = 0
        self._dialled: dict[str, tuple[str, float]] = {}
        self._incoming: set[str] = set()

    # -- life cycle ---------------------------------------------------------

    def config(self) -> str:
        tls = ""
        if self.cafile:
            tls += f"sip_cafile\t{self.folder}/ca.pem\nsip_verify_server\tyes\n"
        if self.certificate:
            tls += f"sip_certificate\t{self.folder}/own.pem\n"
        return CONFIG.format(listen=f"{self.address}:{self.port}", tls=tls,
                             ring_timeout=self.ring_timeout, modules=MODULES,
                             ctrl_port=self.ctrl_port)

    def start(self, timeout: float = 10) -> None:
        """Write the files, start baresip in the background, connect, and
        only then add the account, so no registration event is missed."""
        self.host.write(f"{self.folder}/config", self.config())
        self.host.write(f"{self.folder}/accounts", "# added over ctrl_tcp (uanew)\n")
        if self.cafile:
            self.host.write(f"{self.folder}/ca.pem", self.cafile)
        if self.certificate:
            self.host.write(f"{self.folder}/own.pem", self.certificate, mode="600")
        folder = shlex.quote(self.folder)
        self._launcher = self.host.spawn(f"echo $$ > {folder}/pid && exec {BARESIP} "
                                         f"-f {folder} > {folder}/baresip.log 2>&1")
        deadline = time.monotonic() + timeout
        while self._control is None:
            try:
                sock = self.host.connect(("127.0.0.1", self.ctrl_port), timeout=2)
            except (ConnectionRefusedError, TimeoutError):
                if time.monotonic() > deadline or self._launcher.poll() is not None:
                    raise PhoneError(f"baresip in {self.folder} did not start: "
                                     f"{self.log()[-500:]}") from None
                time.sleep(0.1)
                continue
            self._control = _Control(sock, self.events)
        self.command("uanew", self.account.line())

    def stop(self, timeout: float = 10) -> None:
        """Quit (which un-registers), then end the process if it lingers."""
        if self._control is not None:
            with contextlib.suppress(OSError):
                self._control.send("quit", "", "quit")
            self._control.close()
            self._control = None
        self.host.end(f"{self.folder}/pid", timeout)
        if self._launcher is not None:
            try:
                self._launcher.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._launcher.kill()
                self._launcher.wait()

    def log(self) -> str:
        return self.host.read(f"{self.folder}/baresip.log")

    # -- commands and events ------------------------------------------------

    def command(self, command: str, params: str = "", timeout: float = 5) -> str:
        """Run a baresip command; its answer text.  A refused command raises."""
        control = self._connected()
        self._tokens += 1
        token = f"t{self._tokens}"
        control.send(command, params, token)
        response = control.wait(lambda: control.responses.pop(token, None),
                                time.monotonic() + timeout)
        if response is None:
            why = "baresip closed its control connection" if control.closed else \
                f"no answer within {timeout} s"
            raise PhoneError(f"{command}: {why}")
        if not response.get("ok"):
            raise PhoneError(f"{command} {params}: {response.get('data')}")
        return str(response.get("data", ""))

    def wait_event(self, types: tuple[str, ...], timeout: float, *, call: str = "",
                   direction: str = "", after: float = 0.0) -> Event | None:
        """The first event not yet consumed of one of ``types`` (for ``call``
        and ``direction`` if given, arrived at ``after`` or later), waiting up
        to ``timeout``; None if none.  Other events stay for later waits."""
        control = self._connected()

        def first() -> Event | None:
            for event in control.pending:
                if (event.type in types and (not call or event.call == call)
                        and (not direction or event.direction == direction)
                        and event.at >= after):
                    control.pending.remove(event)
                    return event
            return None

        return control.wait(first, time.monotonic() + timeout)

    def _connected(self) -> _Control:
        if self._control is None:
            raise PhoneError("phone not started")
        return self._control

    # -- what a test asks ---------------------------------------------------

    def registered(self, timeout: float = 10) -> Event | None:
        """The next REGISTER_OK; None if a REGISTER_FAIL or nothing came."""
        event = self.wait_event(("REGISTER_OK", "REGISTER_FAIL"), timeout)
        return event if event is not None and event.type == "REGISTER_OK" else None

    def dial(self, uri: str) -> str:
        """Start a call to ``uri``; its call id (for ``outcome``, ``hangup``)."""
        started = time.monotonic()
        call = self.command("dial", uri).rsplit("call id:", 1)[-1].strip()
        self._dialled[call] = (uri, started)
        return call

    def outcome(self, call: str, timeout: float = 15) -> CallOutcome:
        """Wait until the dialled ``call`` is answered or ends; hang it up if
        neither happens within ``timeout``.  An answered call stays up."""
        uri, started = self._dialled[call]
        deadline = time.monotonic() + timeout
        ringing = None
        while True:
            # Only what came after the dial: baresip 1.0.0 reuses call ids, and
            # an earlier call's events must not count for this one.
            event = self.wait_event(("CALL_RINGING", "CALL_PROGRESS", "CALL_ESTABLISHED",
                                     "CALL_CLOSED"), deadline - time.monotonic(), call=call,
                                    after=started)
            if event is None:
                self.hangup(call)
                return CallOutcome(uri, call, answered=False, reason="timeout",
                                   ringing=ringing)
            if event.type in ("CALL_RINGING", "CALL_PROGRESS"):
                ringing = event.at - started if ringing is None else ringing
            elif event.type == "CALL_ESTABLISHED":
                return CallOutcome(uri, call, answered=True, ringing=ringing,
                                   answered_after=event.at - started)
            else:
                code = event.param.split(" ", 1)[0]
                return CallOutcome(uri, call, answered=False, reason=event.param,
                                   code=int(code) if code.isdigit() else None,
                                   ringing=ringing)

    def call(self, uri: str, timeout: float = 15) -> CallOutcome:
        return self.outcome(self.dial(uri), timeout)

    def wait_incoming(self, timeout: float = 15) -> Event | None:
        """The next new incoming call: CALL_INCOMING (answermode manual),
        or CALL_ESTABLISHED (auto, which announces nothing before); None if
        none came."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.wait_event(("CALL_INCOMING", "CALL_ESTABLISHED"),
                                    deadline - time.monotonic(), direction="incoming")
            if event is None or event.call not in self._incoming:
                if event is not None:
                    self._incoming.add(event.call)
                return event

    def answer(self, call: str = "") -> None:
        self.command("accept", call)

    def hangup(self, call: str = "", timeout: float = 5) -> Event | None:
        """Hang up ``call`` (the current one if empty); its CALL_CLOSED."""
        try:
            self.command("hangup", call)
        except PhoneError:
            return None  # already gone
        return self.wait_closed(call, timeout) if call else None

    def wait_closed(self, call: str, timeout: float = 15) -> Event | None:
        return self.wait_event(("CALL_CLOSED",), timeout, call=call)
