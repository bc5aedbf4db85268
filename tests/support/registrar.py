"""A SIP registrar/trunk provider that records what reaches it.

Answers REGISTER with 200 OK (echoing the Contact and expiry), OPTIONS with
200, anything else with 404; logs one JSON line per request to a file:
method, source address and port, From/To/Contact and Expires.  Runs as a
script (inside a test namespace or container) or in a thread.
"""

from __future__ import annotations

import argparse
import json
import socket
import time


def headers_of(text: str) -> tuple[str, dict[str, str]]:
    lines = text.split("\r\n")
    found: dict[str, str] = {}
    compact = {"f": "from", "t": "to", "m": "contact", "i": "call-id", "v": "via"}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            break
        key = name.strip().lower()
        found.setdefault(compact.get(key, key), value.strip())
    return lines[0], found


def answer(request: str) -> tuple[str, dict[str, object]]:
    first, headers = headers_of(request)
    method = first.split(" ", 1)[0]
    expires = headers.get("expires", "")
    contact = headers.get("contact", "")
    if ";expires=" in contact:
        expires = contact.split(";expires=", 1)[1].split(";")[0]
    record = {"method": method, "uri": first.split(" ")[1] if " " in first else "",
              "from": headers.get("from", ""), "to": headers.get("to", ""),
              "contact": contact, "expires": expires}
    status = "200 OK" if method in ("REGISTER", "OPTIONS") else "404 Not Found"
    keep = [f"{name}: {headers[key]}" for name, key in
            (("Via", "via"), ("From", "from"), ("To", "to"), ("Call-ID", "call-id"),
             ("CSeq", "cseq")) if key in headers]
    if method == "REGISTER" and contact:
        keep.append(f"Contact: {contact.split(';expires=')[0]};expires={expires or 60}")
    if not any(line.startswith("To:") and ";tag=" in line for line in keep):
        keep = [f"{line};tag=reg{int(time.time())}" if line.startswith("To:") else line
                for line in keep]
    response = "\r\n".join([f"SIP/2.0 {status}", *keep, "Content-Length: 0"]) + "\r\n\r\n"
    return response, record


def serve(host: str, port: int, log_path: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, port))
    with open(log_path, "a", encoding="utf-8") as log:
        while True:
            data, peer = sock.recvfrom(65535)
            text = data.decode("utf-8", "replace")
            if not text.strip():
                continue  # keep-alive
            if text.startswith("SIP/2.0"):
                continue  # a response to something we never sent
            response, record = answer(text)
            record.update({"source": peer[0], "port": peer[1], "time": time.time()})
            log.write(json.dumps(record) + "\n")
            log.flush()
            sock.sendto(response.encode(), peer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=5060)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    serve(args.host, args.port, args.log)


if __name__ == "__main__":
    main()
