#!/usr/bin/python3
"""A phone / trunk-provider stand-in for the SIP-HA test clusters.

    sipsim.py listen --bind ADDR [--port 5060] --log FILE
        answer every SIP request over UDP and TCP with 200 OK and log, one JSON
        object per line, the source address and the request line
    sipsim.py options --to ADDR [--port 5060] [--tcp] [--timeout 1]
        send one OPTIONS, print the status line; exit 0 on any answer
    sipsim.py probe --to ADDR [--interval 0.2] [--duration 60] [--until-file F]
        send OPTIONS continuously; print each change of state and, at the
        end, a JSON summary with the longest outage

Standard library only: it runs in a network namespace of the host.
"""

import argparse
import json
import os
import random
import select
import socket
import socketserver
import sys
import threading
import time


def new_branch():
    return "z9hG4bK-sipha-%08x" % random.getrandbits(32)


def options_request(target, port, local_addr, local_port, transport):
    call_id = "%08x@sipha" % random.getrandbits(32)
    return ("OPTIONS sip:%s:%d SIP/2.0\r\n"
            "Via: SIP/2.0/%s %s:%d;branch=%s;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:probe@%s>;tag=%08x\r\n"
            "To: <sip:%s:%d>\r\n"
            "Call-ID: %s\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Contact: <sip:probe@%s:%d>\r\n"
            "User-Agent: sipha-sipsim\r\n"
            "Accept: application/sdp\r\n"
            "Content-Length: 0\r\n\r\n"
            % (target, port, transport.upper(), local_addr, local_port, new_branch(),
               local_addr, random.getrandbits(32), target, port, call_id,
               local_addr, local_port)).encode()


def response_for(request):
    """A 200 OK for REQUEST (bytes), or None if it is not a request."""
    text = request.decode(errors="replace")
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    if not head or head[0].startswith("SIP/2.0"):
        return None
    keep = []
    for line in head[1:]:
        name = line.split(":", 1)[0].strip().lower()
        if name in ("via", "v", "from", "f", "call-id", "i", "cseq"):
            keep.append(line)
        elif name in ("to", "t"):
            keep.append(line if ";tag=" in line else line + ";tag=sipha%06x"
                        % random.getrandbits(24))
    return ("SIP/2.0 200 OK\r\n" + "\r\n".join(keep)
            + "\r\nServer: sipha-sipsim\r\nContent-Length: 0\r\n\r\n").encode()


class Recorder:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def record(self, proto, src, data):
        first = data.decode(errors="replace").split("\r\n", 1)[0]
        entry = {"time": time.time(), "proto": proto, "src": src[0], "sport": src[1],
                 "line": first}
        with self.lock, open(self.path, "a") as fh:
            fh.write(json.dumps(entry) + "\n")


class TcpHandler(socketserver.BaseRequestHandler):
    def handle(self):
        buf = b""
        self.request.settimeout(30)
        while True:
            try:
                chunk = self.request.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\r\n\r\n" in buf:
                head, rest = buf.split(b"\r\n\r\n", 1)
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith((b"content-length:", b"l:")):
                        length = int(line.split(b":", 1)[1].strip() or 0)
                if len(rest) < length:
                    break
                msg, buf = head + b"\r\n\r\n" + rest[:length], rest[length:]
                self.server.recorder.record("tcp", self.client_address, msg)
                reply = response_for(msg)
                if reply:
                    self.request.sendall(reply)


class TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def listen(args):
    recorder = Recorder(args.log)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp.bind((args.bind, args.port))
    tcp = TcpServer((args.bind, args.port), TcpHandler)
    tcp.recorder = recorder
    threading.Thread(target=tcp.serve_forever, daemon=True).start()
    while True:
        data, src = udp.recvfrom(65536)
        recorder.record("udp", src, data)
        reply = response_for(data)
        if reply:
            udp.sendto(reply, src)


def send_options(target, port, tcp, timeout, source=None):
    """Return the status line of the answer, or None."""
    family = socket.AF_INET6 if ":" in target else socket.AF_INET
    kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
    with socket.socket(family, kind) as sock:
        sock.settimeout(timeout)
        try:
            if source:
                sock.bind((source, 0))
            sock.connect((target, port))
            local = sock.getsockname()
            sock.send(options_request(target, port, local[0], local[1],
                                      "tcp" if tcp else "udp"))
            ready, _, _ = select.select([sock], [], [], timeout)
            if not ready:
                return None
            data = sock.recv(65536)
        except OSError:
            return None
    line = data.decode(errors="replace").split("\r\n", 1)[0]
    return line if line.startswith("SIP/2.0") else None


def options(args):
    line = send_options(args.to, args.port, args.tcp, args.timeout, args.source)
    print(line or "no answer")
    return 0 if line else 1


def probe(args):
    """Send OPTIONS every INTERVAL, each in a thread of its own, so that a
    request lost into a dead address does not delay the next: the outage is
    measured to the interval, not to the timeout.  (sip_ha.failover's
    _OutageWatch measures the same way for the CLI; this script runs alone
    in the phone's network namespace, without the package.)"""
    t_start = time.monotonic()
    results = []            # (monotonic sent, wall clock sent, answer or None)
    lock = threading.Lock()

    def one(sent, wall):
        line = send_options(args.to, args.port, args.tcp, args.timeout)
        with lock:
            results.append((sent, wall, line))

    threads = []
    while time.monotonic() - t_start < args.duration:
        if args.until_file and os.path.exists(args.until_file):
            break
        t0 = time.monotonic()
        thread = threading.Thread(target=one, args=(t0, time.time()), daemon=True)
        thread.start()
        threads = [t for t in threads if t.is_alive()] + [thread]
        time.sleep(max(0.0, args.interval - (time.monotonic() - t0)))
    for thread in threads:
        thread.join()
    last_ok = None
    state = None
    outages = []            # (seconds, wall clock of the first answered request after it)
    down_since = None
    for sent, wall, line in sorted(results):
        ok = line is not None
        if ok:
            if down_since is not None:
                outages.append((sent - (last_ok if last_ok is not None else down_since), wall))
                down_since = None
            last_ok = sent
        elif down_since is None:
            down_since = sent
        if ok != state:
            print("%8.2f s  %s" % (sent - t_start, line if ok else "no answer"), flush=True)
            state = ok
    if down_since is not None:
        outages.append((time.monotonic() - (last_ok if last_ok is not None else down_since),
                        None))
    longest = max(outages, key=lambda o: o[0]) if outages else (0.0, None)
    summary = {"sent": len(results), "answered": sum(r[2] is not None for r in results),
               "longest_outage_s": round(longest[0], 2),
               "answered_again_at": longest[1],
               "outages": len(outages), "still_down": down_since is not None}
    print(json.dumps(summary), flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("listen")
    p.add_argument("--bind", required=True)
    p.add_argument("--port", type=int, default=5060)
    p.add_argument("--log", required=True)
    p.add_argument("--sipha-tag", help="marks the process for host-side.sh")
    for name in ("options", "probe"):
        p = sub.add_parser(name)
        p.add_argument("--to", required=True)
        p.add_argument("--port", type=int, default=5060)
        p.add_argument("--tcp", action="store_true")
        p.add_argument("--timeout", type=float, default=1.0)
        if name == "options":
            p.add_argument("--source")
        else:
            p.add_argument("--interval", type=float, default=0.2)
            p.add_argument("--duration", type=float, default=60.0)
            p.add_argument("--until-file")
    args = ap.parse_args()
    return {"listen": listen, "options": options, "probe": probe}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
