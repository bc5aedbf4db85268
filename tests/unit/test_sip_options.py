"""The SIP OPTIONS probe against scripted responders."""

from __future__ import annotations

import threading
import time

import pytest

from ocf_agents.clients.sip_options import (
    Answer,
    SipError,
    Target,
    build_request,
    parse_response,
    parse_uri,
    probe,
    probe_all,
)
from tests.support.fake_sip import FakeSip, reply


@pytest.mark.parametrize(("uri", "host", "port", "transport"), [
    ("sip:192.0.2.1", "192.0.2.1", 5060, "udp"),
    ("sip:alice@pbx.example:5080", "pbx.example", 5080, "udp"),
    ("sip:192.0.2.1;transport=TCP", "192.0.2.1", 5060, "tcp"),
    ("sips:192.0.2.1", "192.0.2.1", 5061, "tls"),
    ("sip:[2001:db8::1]:5070;transport=tls", "2001:db8::1", 5070, "tls"),
    ("sip:[2001:db8::1]", "2001:db8::1", 5060, "udp"),
])
def test_parse_uri(uri: str, host: str, port: int, transport: str):
    target = parse_uri(uri)
    assert (target.host, target.port, target.transport) == (host, port, transport)


@pytest.mark.parametrize("uri", ["http://x", "sip:", "sip:host:port", "sip:h;transport=sctp",
                                 "sip:h:70000", "192.0.2.1"])
def test_bad_uris(uri: str):
    with pytest.raises(ValueError):
        parse_uri(uri)


def test_request_headers():
    target = Target("sip:[2001:db8::1]:5060", "2001:db8::1", 5060, "udp")
    text = build_request(target, ("2001:db8::2", 40000), "abc", "tag1", "cid@x").decode()
    lines = text.split("\r\n")
    assert lines[0] == "OPTIONS sip:[2001:db8::1]:5060 SIP/2.0"
    assert "Via: SIP/2.0/UDP [2001:db8::2]:40000;branch=z9hG4bKabc;rport" in lines
    assert "From: <sip:sip-ha@[2001:db8::2]>;tag=tag1" in lines
    assert "To: <sip:[2001:db8::1]:5060>" in lines
    assert "Call-ID: cid@x" in lines
    assert "CSeq: 1 OPTIONS" in lines
    assert "Max-Forwards: 70" in lines
    assert text.endswith("Content-Length: 0\r\n\r\n")


def test_parse_response_with_compact_headers():
    status, reason, headers = parse_response(
        b"SIP/2.0 486 Busy Here\r\ni: abc\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n")
    assert (status, reason) == (486, "Busy Here")
    assert headers["call-id"] == "abc"
    with pytest.raises(SipError, match="not a SIP response"):
        parse_response(b"HTTP/1.1 200 OK\r\n\r\n")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_answer_and_round_trip(transport: str):
    server = FakeSip(transport, lambda req, n: [reply(req, "200 OK")])
    try:
        answer = probe(server.uri, 2)
    finally:
        server.close()
    assert (answer.status, answer.reason, answer.server) == (200, "OK", "fake")
    assert 0 < answer.rtt < 2
    assert server.requests[0].startswith(b"OPTIONS sip:127.0.0.1:")


def test_provisional_and_foreign_responses_are_skipped():
    def answer(req: bytes, n: int) -> list[bytes]:
        stranger = reply(req, "200 OK").replace(b"Call-ID: ", b"Call-ID: other-")
        return [reply(req, "100 Trying"), stranger, reply(req, "404 Not Found")]

    server = FakeSip("tcp", answer)
    try:
        assert probe(server.uri, 2).status == 404
    finally:
        server.close()


def test_udp_retransmits_after_a_lost_request():
    server = FakeSip("udp", lambda req, n: [] if n == 1 else [reply(req, "200 OK")])
    try:
        answer = probe(server.uri, 3)
    finally:
        server.close()
    assert answer.status == 200
    # Retransmissions repeat the request unchanged (a busy host may need more than one).
    assert len(server.requests) >= 2
    assert all(request == server.requests[0] for request in server.requests)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_silence_is_a_timeout(transport: str):
    server = FakeSip(transport, lambda req, n: [])
    try:
        with pytest.raises(SipError, match=r"no answer .* within 0\.6s"):
            probe(server.uri, 0.6)
    finally:
        server.close()


def test_nothing_listening():
    server = FakeSip("udp", lambda req, n: [])
    uri = server.uri
    server.close()
    with pytest.raises(SipError, match="port unreachable"):
        probe(uri, 1)
    with pytest.raises(SipError, match="cannot reach"):
        probe(uri.replace("udp", "tcp"), 1)



def test_a_bare_ipv6_address_takes_no_port():
    """As in every host:port the project reads (sipha_runtime.hostport)."""
    target = parse_uri("sip:2001:db8::1:5060")
    assert (target.host, target.port) == ("2001:db8::1:5060", 5060)


@pytest.mark.parametrize("uri", ["sip:bad host", "sip:h:0", "sip:[2001:db8::1]5060"])
def test_uris_follow_the_one_host_port_grammar(uri: str):
    with pytest.raises(ValueError):
        parse_uri(uri)


def test_probe_all_asks_every_uri_at_once_while_during_runs():
    # Neither server answers before DURING has seen both requests arrive:
    # probes one after the other would never get there.
    both_asked = threading.Event()
    servers = [FakeSip(kind, lambda req, n: (both_asked.wait(5), [reply(req, "200 OK")])[1])
               for kind in ("udp", "tcp")]

    def during() -> None:
        deadline = time.monotonic() + 3
        while not all(s.requests for s in servers) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(s.requests for s in servers), "the probes did not run at once"
        both_asked.set()

    try:
        answers = probe_all([s.uri for s in servers], 4, during=during)
        assert [type(a) for a in answers] == [Answer, Answer]
        assert [a.status for a in answers if isinstance(a, Answer)] == [200, 200]
    finally:
        both_asked.set()
        for server in servers:
            server.close()


def test_probe_all_keeps_the_order_and_during_fails_after_the_probes():
    silent = FakeSip("udp", lambda req, n: [])
    answering = FakeSip("tcp", lambda req, n: [reply(req, "503 Busy")])

    def failing() -> None:
        raise RuntimeError("control socket broken")

    try:
        results = probe_all([silent.uri, answering.uri], 0.3)
        assert isinstance(results[0], SipError) and "no answer" in str(results[0])
        assert isinstance(results[1], Answer) and results[1].status == 503
        with pytest.raises(RuntimeError, match="control socket broken"):
            probe_all([silent.uri, answering.uri], 0.3, during=failing)
        assert len(silent.requests) >= 2 and len(answering.requests) == 2
    finally:
        silent.close()
        answering.close()
