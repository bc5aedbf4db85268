"""SIP OPTIONS health probe over UDP, TCP and TLS, usable without OCF.

``probe("sip:192.0.2.10;transport=tcp", timeout=2)`` sends one OPTIONS
request (RFC 3261 headers, a fresh branch, tag and Call-ID), waits at most
``timeout`` seconds for the final response belonging to it, and returns its
status code and the round-trip time.  Over UDP the request is retransmitted
with timer T1 doubling, as a SIP client would, so one lost datagram is not
an outage.  Anything else (no answer, refused, garbage) raises ``SipError``.

Every request carries ``CHECK_HEADER``, by which a server can tell the check
from strangers: Asterisk identifies it with an ``identify`` on
``match_header`` and then neither challenges nor logs it (README, "The local
SIP check").
"""

from __future__ import annotations

# _socket is the socket module's C core: socket.py adds enum types and
# selectors, 5 ms of imports on every monitor, for nothing a probe uses.
import _socket
import os
import time

from sipha_runtime.hostport import split_host_port

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

T1 = 0.5
CHECK_HEADER = "X-SIP-HA-Check: monitor"
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}


class SipError(Exception):
    """The server did not give a usable answer; the message says why."""


class Target:
    __slots__ = ("uri", "host", "port", "transport")

    def __init__(self, uri: str, host: str, port: int, transport: str) -> None:
        self.uri, self.host, self.port, self.transport = uri, host, port, transport

    def __repr__(self) -> str:
        return f"Target({self.uri!r})"


class Answer:
    __slots__ = ("status", "reason", "rtt", "server")

    def __init__(self, status: int, reason: str, rtt: float, server: str) -> None:
        self.status, self.reason, self.rtt, self.server = status, reason, rtt, server

    def __repr__(self) -> str:
        return f"Answer({self.status} {self.reason!r}, {self.rtt * 1000:.1f} ms)"


def parse_uri(uri: str) -> Target:
    """``sip:[user@]host[:port][;transport=udp|tcp|tls]`` or ``sips:...``."""
    text = uri.strip()
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in ("sip", "sips"):
        raise ValueError(f"{uri!r} is not a sip: or sips: URI")
    hostport, _, params = rest.partition(";")
    hostport = hostport.rpartition("@")[2]
    transport = "tls" if scheme == "sips" else "udp"
    for item in params.split(";"):
        key, _, value = item.partition("=")
        if key.strip().lower() == "transport" and value:
            transport = value.strip().lower()
    if transport not in DEFAULT_PORTS:
        raise ValueError(f"{uri!r}: transport {transport!r} is not udp, tcp or tls")
    if not hostport:
        raise ValueError(f"{uri!r} has no host")
    try:
        host, port = split_host_port(hostport, DEFAULT_PORTS[transport])
    except ValueError as err:
        raise ValueError(f"{uri!r}: {err}") from None
    return Target(text, host, port, transport)


def _token() -> str:
    return os.urandom(8).hex()


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def build_request(target: Target, local: tuple[str, int], branch: str, tag: str,
                  call_id: str) -> bytes:
    via = f"SIP/2.0/{target.transport.upper()} {_hostport(*local[:2])}"
    local_host = f"[{local[0]}]" if ":" in local[0] else local[0]
    lines = (
        f"OPTIONS {target.uri} SIP/2.0",
        f"Via: {via};branch=z9hG4bK{branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:sip-ha@{local_host}>;tag={tag}",
        f"To: <{target.uri}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        f"Contact: <sip:sip-ha@{_hostport(*local[:2])};transport={target.transport}>",
        "Accept: application/sdp",
        "User-Agent: sip-ha probe",
        CHECK_HEADER,
        "Content-Length: 0",
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


_COMPACT = {"i": "call-id", "v": "via", "l": "content-length", "f": "from", "t": "to"}


def parse_response(data: bytes) -> tuple[int, str, dict[str, str]]:
    """Status code, reason phrase and (first) header values of a response."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("SIP/2.0") or not parts[1].isdigit():
        raise SipError(f"not a SIP response: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip().lower()
            headers.setdefault(_COMPACT.get(key, key), value.strip())
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers


def _matches(headers: dict[str, str], call_id: str) -> bool:
    cseq = headers.get("cseq", "").split()
    return headers.get("call-id") == call_id and cseq[-1:] == ["OPTIONS"]


def probe(uri: str | Target, timeout: float, *, tls_verify: bool = False) -> Answer:
    """Send OPTIONS to ``uri`` and return the final answer within ``timeout``."""
    target = parse_uri(uri) if isinstance(uri, str) else uri
    deadline = time.monotonic() + timeout
    try:
        # The host as bytes: a str goes through the idna codec (1 ms of imports);
        # parse_uri allows only ASCII hosts.
        infos = _socket.getaddrinfo(target.host.encode("ascii"), target.port, 0,
                                    _socket.SOCK_DGRAM if target.transport == "udp"
                                    else _socket.SOCK_STREAM)
    except _socket.gaierror as err:
        raise SipError(f"cannot resolve {target.host}: {err.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = _socket.socket(family, kind, proto)
    try:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            sock.connect(address)
            if target.transport == "tls":
                sock = _wrap_tls(sock, target.host, tls_verify)
        except TimeoutError:
            raise SipError(f"no connection to {target.uri} within {timeout:g}s") from None
        except OSError as err:
            raise SipError(f"cannot reach {target.uri}: {err.strerror or err}") from None
        call_id = f"{_token()}@sip-ha"
        request = build_request(target, sock.getsockname(), _token(), _token(), call_id)
        started = time.monotonic()
        if target.transport == "udp":
            status, reason, headers = _exchange_udp(sock, request, call_id, deadline)
        else:
            status, reason, headers = _exchange_stream(sock, request, call_id, deadline)
        return Answer(status, reason, time.monotonic() - started, headers.get("server", ""))
    except TimeoutError:
        raise SipError(f"no answer from {target.uri} within {timeout:g}s") from None
    except OSError as err:
        raise SipError(f"{target.uri}: {err.strerror or err}") from None
    finally:
        sock.close()


def probe_all(uris: Sequence[str | Target], timeout: float, *, tls_verify: bool = False,
              during: Callable[[], object] | None = None) -> list[Answer | SipError]:
    """``probe()`` of every URI at once, each in a thread of its own with its
    own deadline, so a check of UDP and TCP costs the slower answer, not
    both; DURING (another check) runs meanwhile in this thread.  The
    answers or errors in the order of URIS, once every probe has ended
    (and DURING returned: its exception, if any, is raised then)."""
    import _thread  # threading would load 2 ms of modules for nothing used here

    results: list[Answer | SipError | BaseException | None] = [None] * len(uris)
    done = [_thread.allocate_lock() for _ in uris]

    def run(index: int, uri: str | Target) -> None:
        try:
            results[index] = probe(uri, timeout, tls_verify=tls_verify)
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
            results[index] = err
        finally:
            done[index].release()

    for index, uri in enumerate(uris):
        done[index].acquire()
        _thread.start_new_thread(run, (index, uri))
    try:
        if during is not None:
            during()
    finally:
        for lock in done:
            lock.acquire()
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, SipError):
            raise result
    return [result for result in results
            if isinstance(result, Answer | SipError)]


def _wrap_tls(raw: _socket.socket, host: str, verify: bool) -> _socket.socket:
    import socket
    import ssl

    # ssl wants socket.socket; this one takes over the descriptor and timeout.
    timeout = raw.gettimeout()
    sock = socket.socket(raw.family, raw.type, raw.proto, raw.detach())
    sock.settimeout(timeout)
    context = ssl.create_default_context()
    if not verify:
        # A health probe asks "does the SIP stack answer?", not "whom do I trust?".
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        return context.wrap_socket(sock, server_hostname=host)
    except ssl.SSLError as err:
        raise SipError(f"TLS handshake with {host} failed: {err.reason or err}") from None


def _exchange_udp(sock: _socket.socket, request: bytes, call_id: str,
                  deadline: float) -> tuple[int, str, dict[str, str]]:
    interval = T1
    resend_at = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= deadline:
            raise TimeoutError
        if now >= resend_at:
            sock.send(request)
            resend_at = now + interval
            interval = min(interval * 2, 4.0)
        sock.settimeout(max(0.001, min(resend_at, deadline) - now))
        try:
            data = sock.recv(65535)
        except TimeoutError:
            continue
        except ConnectionRefusedError:
            raise SipError("port unreachable (nothing listens there)") from None
        status, reason, headers = parse_response(data)
        if _matches(headers, call_id) and status >= 200:
            return status, reason, headers


def _exchange_stream(sock: _socket.socket, request: bytes, call_id: str,
                     deadline: float) -> tuple[int, str, dict[str, str]]:
    sock.sendall(request)
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer:
            buffer += _recv(sock, deadline)
        head_end = buffer.index(b"\r\n\r\n") + 4
        status, reason, headers = parse_response(buffer[:head_end])
        length = int(headers.get("content-length", "0") or 0)
        while len(buffer) < head_end + length:
            buffer += _recv(sock, deadline)
        buffer = buffer[head_end + length:]
        if _matches(headers, call_id) and status >= 200:
            return status, reason, headers


def _recv(sock: _socket.socket, deadline: float) -> bytes:
    sock.settimeout(max(0.001, deadline - time.monotonic()))
    chunk = sock.recv(65535)
    if not chunk:
        raise SipError("connection closed before a response")
    return chunk


def main() -> int:
    import argparse

    from sipha_runtime.version import banner

    parser = argparse.ArgumentParser(prog="sip-ha-sip-options",
                                     description="Send SIP OPTIONS and print the answer.")
    parser.add_argument("uri", nargs="+")
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--version", action="version", version=banner(parser.prog))
    args = parser.parse_args()
    failed = 0
    for uri in args.uri:
        try:
            answer = probe(uri, args.timeout)
        except (SipError, ValueError) as err:
            print(f"{uri}: FAILED: {err}")
            failed += 1
        else:
            print(f"{uri}: {answer.status} {answer.reason} in {answer.rtt * 1000:.1f} ms")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
