"""Real SIP clients against a real Asterisk 22 in the sid container: baresip
phones registered over UDP, TCP and TLS call each other, and SIPp places a
bounded load of calls the PBX answers.  The drivers are the cluster tests'.

Addresses (all on the container's loopback): Asterisk 127.0.0.1 (5060 UDP
and TCP, 5061 TLS), phones 100 (UDP) 127.0.0.10, 101 (TCP) 127.0.0.11, 102
(TLS) 127.0.0.12, SIPp 127.0.0.5, the trunk registrar of start_box
127.0.0.2:5070."""

from __future__ import annotations

import functools
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.asterisk_nodes import REGISTRAR, Node, start_box, wait_for
from tests.support.asterisk import AsteriskSetup, PhoneService
from tests.support.baresip import Account, Event, Phone
from tests.support.client_host import ClientHost
from tests.support.container import Container
from tests.support.sipp_load import SippLoad

PBX = "127.0.0.1"
PHONES = {"100": ("udp", "127.0.0.10"), "101": ("tcp", "127.0.0.11"),
          "102": ("tls", "127.0.0.12")}
SIPP_FROM = "127.0.0.5"
ROOT = "/tmp/pbx-real-clients"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    yield from start_box(tmp_path_factory)


def self_signed(folder: Path, *addresses: str) -> tuple[str, str]:
    """A certificate for ``addresses`` (the first as CN, all as IP
    subjectAltNames) and its key."""
    names = ",".join(f"IP:{address}" for address in addresses)
    folder.mkdir(exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={addresses[0]}", "-addext", f"subjectAltName={names}",
                    "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
                   check=True, capture_output=True, timeout=60)
    return (folder / "cert.pem").read_text(), (folder / "key.pem").read_text()


@pytest.fixture(scope="module")
def pbx(box: Container, tmp_path_factory: pytest.TempPathFactory,
        ) -> Iterator[tuple[AsteriskSetup, str]]:
    """Asterisk with authenticated phones, TLS, extension 700 for SIPp; the
    certificate (what the TLS phone trusts) with it."""
    cert, key = self_signed(tmp_path_factory.mktemp("tls"), PBX)
    # rewrite_contact: calls to TCP and TLS phones go down the phone's own
    # connection (baresip has no certificate to accept one from Asterisk).
    service = PhoneService(secrets={ext: f"secret-{ext}" for ext in PHONES},
                           endpoint={"rewrite_contact": "yes"}, tls=(cert, key),
                           load_from=SIPP_FROM, answer="700", answer_seconds=2)
    setup = AsteriskSetup(box.path(ROOT), PBX, REGISTRAR, inside=ROOT, phones=tuple(PHONES),
                          service=service)
    box.run(["chown", "-R", "asterisk:asterisk", ROOT], check=True)
    try:
        boot(box, setup)
        yield setup, cert
    finally:
        box.run(["asterisk", "-C", setup.config, "-rx", "core stop now"], timeout=30)
        box.run(["sh", "-c", f"kill -9 $(cat {ROOT}/run/asterisk.pid) 2>/dev/null"])


def boot(box: Container, setup: AsteriskSetup) -> None:
    box.run(["rm", "-f", f"{ROOT}/run/asterisk.ctl"])
    box.run(["asterisk", "-C", setup.config, "-U", "asterisk", "-G", "asterisk"], check=True)
    assert wait_for(box.path(f"{ROOT}/run/asterisk.ctl").exists, 30)
    booted = box.run(["asterisk", "-C", setup.config, "-rx", "core waitfullybooted"], timeout=60)
    assert "fully booted" in booted.stdout, booted.stdout + booted.stderr


def rx(box: Container, setup: AsteriskSetup, command: str) -> str:
    return box.run(["asterisk", "-C", setup.config, "-rx", command]).stdout


@pytest.fixture(scope="module")
def phones(box: Container, pbx: tuple[AsteriskSetup, str],
           ) -> Iterator[tuple[dict[str, Phone], dict[str, Event | None]]]:
    """The three phones, started, and the REGISTER_OK each got (or None)."""
    setup, cert = pbx
    host = ClientHost.of_process(box.pid)
    started: dict[str, Phone] = {}
    try:
        for number, (ext, (transport, address)) in enumerate(PHONES.items()):
            registrar = f"{PBX}:{setup.tls_port}" if transport == "tls" else PBX
            phone = Phone(host, f"/tmp/phone-{ext}",
                          Account(ext, f"secret-{ext}", registrar, transport), address,
                          ctrl_port=4410 + number, cafile=cert if transport == "tls" else "")
            phone.start()
            started[ext] = phone
        yield started, {ext: phone.registered(10) for ext, phone in started.items()}
    finally:
        for phone in started.values():
            phone.stop()


def test_phones_register_over_udp_tcp_and_tls(box, pbx, phones):
    setup, _ = pbx
    started, registered = phones
    for ext, event in registered.items():
        assert event is not None, started[ext].log()[-2000:]
        print(f"{ext} ({PHONES[ext][0]}): {event.type} {event.param}")
    contacts = rx(box, setup, "pjsip show contacts")
    for ext, (transport, address) in PHONES.items():
        line = next(line for line in contacts.splitlines() if f"Contact:  {ext}/" in line)
        # UDP: where the phone listens; TCP/TLS: its connection's source
        # (rewrite_contact), another address and port.
        assert (f"@{address}:5060" in line) == (transport == "udp"), line


@pytest.mark.parametrize(("caller", "callee"), [("100", "101"), ("101", "100"),
                                                ("100", "102"), ("102", "101")])
def test_phone_calls_phone(box, pbx, phones, caller: str, callee: str):
    setup, _ = pbx
    started, registered = phones
    assert registered[caller] and registered[callee]
    a, b = started[caller], started[callee]
    outcome = a.call(f"sip:{callee}@{PBX}", timeout=10)
    print(f"{caller} ({PHONES[caller][0]}) -> {callee} ({PHONES[callee][0]}): {outcome}")
    assert outcome.answered, outcome
    assert outcome.ringing is not None  # 180 from the callee through Asterisk
    incoming = b.wait_incoming(5)
    assert incoming is not None and caller in incoming.peer
    assert wait_for(lambda: "1 active call" in rx(box, setup, "core show channels count"), 5)
    closed = a.hangup(outcome.call)
    assert closed is not None, "the caller's hangup was not confirmed"
    assert b.wait_closed(incoming.call, 5) is not None, "the callee was not hung up"
    assert wait_for(lambda: "0 active calls" in rx(box, setup, "core show channels count"), 5)


def test_manual_answer_rings_until_answered(phones):
    started, registered = phones
    a, b = started["101"], started["100"]
    assert registered["101"] and registered["100"]
    b.command("answermode", "manual")
    call = ""
    try:
        call = a.dial(f"sip:100@{PBX}")
        incoming = b.wait_incoming(5)
        assert incoming is not None and incoming.type == "CALL_INCOMING"
        time.sleep(1)
        b.answer(incoming.call)
        outcome = a.outcome(call, 5)
        print(f"101 -> 100, answered by hand after a second: {outcome}")
        assert outcome.answered and outcome.ringing is not None
        assert outcome.answered_after - outcome.ringing >= 0.9
        assert b.hangup(incoming.call) is not None
        assert a.wait_closed(call, 5) is not None
    finally:
        b.command("answermode", "auto")
        if call:
            a.hangup(call)


def test_unknown_extension_is_refused(phones):
    started, _ = phones
    outcome = started["100"].call(f"sip:199@{PBX}", timeout=10)
    print(f"100 -> 199: {outcome}")
    assert not outcome.answered
    assert outcome.code == 404


def test_sipp_load_all_answered(box, pbx):
    setup, _ = pbx
    load = SippLoad(ClientHost.of_process(box.pid), "/tmp/sipp-load", f"{PBX}:{setup.port}",
                    service="700", local_ip=SIPP_FROM, rate=5, calls=20, recv_timeout=10)
    figures = load.run()
    print(" ".join(load.argv()))
    print(figures)
    assert figures.created == 20, load.errors()
    assert figures.successful == 20 and figures.failed == 0, load.errors()
    assert figures.exit_code == 0
    assert 2 <= figures.call_length < 5  # Wait(2) in the dialplan, then the PBX's BYE
    assert wait_for(lambda: "0 active calls" in rx(box, setup, "core show channels count"), 5)


def test_sipp_counts_refused_calls(box, pbx):
    setup, _ = pbx
    load = SippLoad(ClientHost.of_process(box.pid), "/tmp/sipp-refused",
                    f"{PBX}:{setup.port}", service="799", local_ip=SIPP_FROM, rate=10,
                    calls=5, recv_timeout=5)
    figures = load.run()
    print(figures)
    assert (figures.created, figures.successful, figures.failed) == (5, 0, 5)
    assert figures.codes == {404: 5}
    assert figures.exit_code != 0


def reachable(cli: Callable[[str], str], phone: Phone) -> bool:
    """Does a call from Asterisk itself (``cli`` runs a CLI command there)
    reach the phone (auto-answered)?"""
    cli(f"channel originate PJSIP/{phone.account.user} application Wait 1")
    incoming = phone.wait_incoming(4)
    if incoming is not None:
        phone.wait_closed(incoming.call, 5)
    return incoming is not None


# -- a failover to a hot standby (the agent carries the astdb) --------------

OLD, NEW = "127.0.0.20", "127.0.0.21"
# extension: transport, address, whether the phone has a certificate of its own
FAILOVER_PHONES = {"100": ("udp", "127.0.0.30", False), "101": ("tcp", "127.0.0.31", False),
                   "102": ("tls", "127.0.0.32", False), "103": ("tls", "127.0.0.33", True)}


def node_for_phones(box: Container, name: str, address: str, eid: int,
                    service: PhoneService, **params: str) -> Node:
    """An agent-run Asterisk whose configuration also serves the phones."""
    node = Node(box, name, address, eid=eid, **params)
    AsteriskSetup(node.setup.root, address, REGISTRAR, inside=node.setup.inside, eid=eid,
                  phones=tuple(FAILOVER_PHONES), service=service)
    box.run(["chown", "-R", "asterisk:asterisk", f"{node.setup.inside}/etc"], check=True)
    return node


@pytest.mark.parametrize(("rewrite_contact", "expected"), [
    ("no", {"100": True, "101": True, "102": False, "103": True}),
    ("yes", {"100": True, "101": False, "102": False, "103": False}),
])
def test_which_phones_the_new_active_reaches_after_a_failover(
        box, tmp_path: Path, rewrite_contact: str, expected: dict[str, bool]):
    """Phones registered with the old active; it dies; the standby, which
    copied the registrations (astdb_families=registrar), is promoted and calls
    each phone before any registered again.  UDP: the contact is where the
    phone listens.  TCP without rewrite_contact: the same, and the new server
    connects to it; TLS too, if the phone has a certificate to accept the
    connection with.  With rewrite_contact, TCP and TLS contacts are the old
    connections'."""
    cert, key = self_signed(tmp_path, OLD, NEW)
    own_cert, own_key = self_signed(tmp_path / "phone", FAILOVER_PHONES["103"][1])
    service = PhoneService(secrets={ext: f"secret-{ext}" for ext in FAILOVER_PHONES},
                           endpoint={"rewrite_contact": rewrite_contact}, tls=(cert, key))
    old = node_for_phones(box, f"fo-old-{rewrite_contact}", OLD, 1, service,
                          astdb_families="registrar")
    new = node_for_phones(box, f"fo-new-{rewrite_contact}", NEW, 2, service,
                          astdb_families="registrar")
    on_new = {"on_node": NEW}
    host = ClientHost.of_process(box.pid)
    started: list[Phone] = []
    try:
        for node in (old, new):
            assert node.agent("start")[0] == 0, node.last_stderr
        assert old.agent("promote")[0] == 0
        assert new.agent("notify", meta={"notify_type": "post", "notify_operation": "promote",
                                         "notify_promote_uname": OLD, **on_new})[0] == 0
        for number, (ext, (transport, address, own)) in enumerate(FAILOVER_PHONES.items()):
            registrar = f"{OLD}:5061" if transport == "tls" else OLD
            phone = Phone(host, f"/tmp/fo-phone-{ext}",
                          Account(ext, f"secret-{ext}", registrar, transport), address,
                          ctrl_port=4420 + number, cafile=cert if transport == "tls" else "",
                          certificate=own_cert + own_key if own else "")
            phone.start()
            started.append(phone)
        assert all(phone.registered(10) for phone in started)
        assert new.agent("monitor", meta=on_new)[0] == 0  # the standby's copy
        box.run(["kill", "-9", str(old.pid())], check=True)
        code, reason, took = new.agent("promote", meta=on_new)
        assert code == 0, reason
        found = {phone.account.user: reachable(new.rx, phone) for phone in started}
        print(f"rewrite_contact={rewrite_contact}, promoted in {took:.1f} s: " + ", ".join(
            f"{phone.account.user} ({phone.account.transport}"
            f"{' with a certificate' if phone.certificate else ''}) "
            f"{'reached' if found[phone.account.user] else 'not reached'}"
            for phone in started))
        assert found == expected
    finally:
        for phone in started:
            phone.stop(timeout=3)
        for node in (old, new):
            node.agent("stop")


def test_restart_keeps_udp_contacts_tcp_and_tls_phones_wait_for_their_refresh(
        box, pbx, phones):
    """What a phone does when its server is replaced (a crash and restart
    here): the UDP contact (the address the phone listens on) is still in the
    astdb and works at once; Asterisk drops contacts of TCP/TLS connections
    at boot, and baresip does not re-register when its connection closes,
    only at its refresh (90 % of the registration's 60 s).  Runs last: it
    restarts the PBX and waits up to a minute."""
    setup, _ = pbx
    started, _ = phones
    last = {ext: max(event.at for event in phone.events if event.type == "REGISTER_OK")
            for ext, phone in started.items()}
    box.run(["sh", "-c", f"kill -9 $(cat {ROOT}/run/asterisk.pid)"], check=True)
    boot(box, setup)
    restarted = time.monotonic()
    cli = functools.partial(rx, box, setup)
    assert reachable(cli, started["100"])
    for ext in ("101", "102"):
        assert not reachable(cli, started[ext]), f"{ext} reachable before registering"
    for ext in ("101", "102"):
        phone = started[ext]
        refresh = last[ext] + 0.9 * phone.account.regint
        event = phone.wait_event(("REGISTER_OK",), refresh - time.monotonic() + 5,
                                 after=restarted)
        assert event is not None, f"{ext} did not register again"
        print(f"{ext} ({PHONES[ext][0]}): unreachable after the restart until it registered "
              f"again {event.at - restarted:.1f} s later, {event.at - last[ext]:.1f} s "
              f"after its previous registration")
        assert event.at >= refresh - 2  # its refresh, not the closed connection
        assert reachable(cli, phone)
