"""A SIP phone for tests: registers with a PBX and records the INVITEs that
reach it (answering 486 Busy Here); and a trunk that sends one INVITE."""

from __future__ import annotations

import json
import os
import socket
import time


def _request(method: str, uri: str, local: tuple[str, int], from_uri: str, to_uri: str,
             extra: list[str], body: str = "") -> tuple[bytes, str]:
    call_id = f"{os.urandom(6).hex()}@{local[0]}"
    lines = [f"{method} {uri} SIP/2.0",
             f"Via: SIP/2.0/UDP {local[0]}:{local[1]};branch=z9hG4bK{os.urandom(6).hex()};rport",
             "Max-Forwards: 70", f"From: <{from_uri}>;tag={os.urandom(4).hex()}",
             f"To: <{to_uri}>", f"Call-ID: {call_id}", f"CSeq: 1 {method}", *extra,
             f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode(), call_id


def register(pbx: str, user: str, contact: tuple[str, int], expires: int = 600,
             timeout: float = 5) -> int:
    """REGISTER ``user`` at ``pbx`` (host:port) with a contact where ``listen``
    runs; sent from another port of the contact's address.  The status."""
    host = pbx.partition(":")[0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((contact[0], 0))
        local = sock.getsockname()
        message, call_id = _request(
            "REGISTER", f"sip:{pbx}", local, f"sip:{user}@{host}", f"sip:{user}@{host}",
            [f"Contact: <sip:{user}@{contact[0]}:{contact[1]}>", f"Expires: {expires}"])
        sock.settimeout(timeout)
        sock.sendto(message, (host, int(pbx.partition(":")[2] or 5060)))
        while True:
            data = sock.recv(65535).decode()
            if call_id in data and not data.startswith("SIP/2.0 1"):
                return int(data.split(" ", 2)[1])


def listen(local: tuple[str, int], log: str) -> None:
    """Record every request (JSON lines); answer INVITEs 486, others 200."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(local)
    with open(log, "a", encoding="utf-8") as out:
        while True:
            data, peer = sock.recvfrom(65535)
            text = data.decode("utf-8", "replace")
            if not text.strip() or text.startswith("SIP/2.0"):
                continue
            method = text.split(" ", 1)[0]
            out.write(json.dumps({"method": method, "source": peer[0], "time": time.time(),
                                  "first": text.split("\r\n", 1)[0]}) + "\n")
            out.flush()
            if method == "ACK":
                continue
            keep = [line for line in text.split("\r\n")
                    if line.split(":", 1)[0].lower() in ("via", "from", "to", "call-id", "cseq")]
            status = "486 Busy Here" if method == "INVITE" else "200 OK"
            keep = [f"{line};tag=phone" if line.lower().startswith("to:") else line
                    for line in keep]
            reply = "\r\n".join([f"SIP/2.0 {status}", *keep, "Content-Length: 0"])
            sock.sendto((reply + "\r\n\r\n").encode(), peer)


def invite(pbx: str, extension: str, local: tuple[str, int], timeout: float = 10) -> int:
    """Send an INVITE for ``extension`` from a trunk at ``local``; the final status."""
    host, _, port_text = pbx.partition(":")
    port = int(port_text or 5060)
    sdp = (f"v=0\r\no=- 1 1 IN IP4 {local[0]}\r\ns=-\r\nc=IN IP4 {local[0]}\r\nt=0 0\r\n"
           f"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(local)
        message, call_id = _request(
            "INVITE", f"sip:{extension}@{host}", local, f"sip:trunk@{local[0]}",
            f"sip:{extension}@{host}",
            [f"Contact: <sip:trunk@{local[0]}:{local[1]}>", "Content-Type: application/sdp"],
            sdp)
        sock.settimeout(timeout)
        sock.sendto(message, (host, port))
        while True:
            data = sock.recv(65535).decode()
            if call_id in data and data.startswith("SIP/2.0") and \
                    not data.startswith("SIP/2.0 1"):
                return int(data.split(" ", 2)[1])


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    address, port = args.listen.rsplit(":", 1)
    listen((address, int(port)), args.log)
