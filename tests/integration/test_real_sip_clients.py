"""Real SIP clients against a real Asterisk 22 in the sid container: baresip
phones registered over UDP, TCP and TLS call each other, and SIPp places a
bounded load of calls the PBX answers.  The drivers are the cluster tests'.

Addresses (all on the container's loopback): Asterisk 127.0.0.1 (5060 UDP
and TCP, 5061 TLS with a certificate from a CA made for the run), phones 100
(UDP) 127.0.0.10, 101 (TCP) 127.0.0.11, 102 (TLS, verifying the server)
127.0.0.12, a TLS phone trusting another CA 127.0.0.13, SIPp 127.0.0.5, the
trunk registrar of start_box 127.0.0.2:5070."""

from __future__ import annotations

import functools
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.asterisk import AsteriskSetup, PhoneService, make_certificates
from tests.support.asterisk_nodes import REGISTRAR, Node, show_promoted, start_box, wait_for
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


def own_keys(box: Container, setup: AsteriskSetup, folder: str = "") -> None:
    """Everything in ``folder`` (default: all of Asterisk's) Asterisk's, but
    its TLS key readable by its group only."""
    box.run(["chown", "-R", "asterisk:asterisk", folder or setup.inside], check=True)
    box.run(["chown", "-R", "root:asterisk", setup.keys], check=True)


@pytest.fixture(scope="module")
def pbx(box: Container, tmp_path_factory: pytest.TempPathFactory,
        ) -> Iterator[tuple[AsteriskSetup, str]]:
    """Asterisk with authenticated phones, TLS, extension 700 for SIPp; the
    CA that signed its certificate (what the TLS phone trusts) with it."""
    certs = make_certificates(tmp_path_factory.mktemp("tls"), PBX)
    # rewrite_contact: calls to TCP and TLS phones go down the phone's own
    # connection (baresip has no certificate to accept one from Asterisk).
    service = PhoneService(secrets={ext: f"secret-{ext}" for ext in PHONES},
                           endpoint={"rewrite_contact": "yes"}, tls=(certs.cert, certs.key),
                           load_from=SIPP_FROM, answer="700", answer_seconds=2)
    setup = AsteriskSetup(box.path(ROOT), PBX, REGISTRAR, inside=ROOT, phones=tuple(PHONES),
                          service=service)
    own_keys(box, setup)
    try:
        boot(box, setup)
        yield setup, certs.ca
    finally:
        box.run(["asterisk", "-C", setup.config, "-rx", "core stop now"], timeout=30)
        box.run(["sh", "-c", f"kill -9 $(cat {ROOT}/run/asterisk.pid) 2>/dev/null"])


def boot(box: Container, setup: AsteriskSetup) -> None:
    box.run(["rm", "-f", f"{setup.inside}/run/asterisk.ctl"])
    box.run(["asterisk", "-C", setup.config, "-U", "asterisk", "-G", "asterisk"], check=True)
    assert wait_for(box.path(f"{setup.inside}/run/asterisk.ctl").exists, 30)
    booted = box.run(["asterisk", "-C", setup.config, "-rx", "core waitfullybooted"], timeout=60)
    assert "fully booted" in booted.stdout, booted.stdout + booted.stderr


def rx(box: Container, setup: AsteriskSetup, command: str) -> str:
    return box.run(["asterisk", "-C", setup.config, "-rx", command]).stdout


@pytest.fixture(scope="module")
def phones(box: Container, pbx: tuple[AsteriskSetup, str],
           ) -> Iterator[tuple[dict[str, Phone], dict[str, Event | None]]]:
    """The three phones, started, and the REGISTER_OK each got (or None)."""
    setup, ca = pbx
    host = ClientHost.of_process(box.pid)
    started: dict[str, Phone] = {}
    try:
        for number, (ext, (transport, address)) in enumerate(PHONES.items()):
            registrar = f"{PBX}:{setup.tls_port}" if transport == "tls" else PBX
            phone = Phone(host, f"/tmp/phone-{ext}",
                          Account(ext, f"secret-{ext}", registrar, transport), address,
                          ctrl_port=4410 + number, cafile=ca if transport == "tls" else "")
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


def test_the_tls_key_is_for_asterisk_alone(box, pbx):
    setup, _ = pbx
    listing = box.run(["stat", "-c", "%U:%G %a", setup.keys, f"{setup.keys}/asterisk.key"],
                      check=True).stdout.split("\n")
    assert listing[:2] == ["root:asterisk 750", "root:asterisk 640"]


def test_a_tls_phone_refuses_a_server_its_ca_did_not_sign(box, pbx, tmp_path: Path):
    """The TLS phone verifies: trusting another CA, it does not register."""
    setup, _ = pbx
    other = make_certificates(tmp_path, PBX)
    phone = Phone(ClientHost.of_process(box.pid), "/tmp/phone-other-ca",
                  Account("102", "secret-102", f"{PBX}:{setup.tls_port}", "tls"), "127.0.0.13",
                  ctrl_port=4419, cafile=other.ca)
    phone.start()
    try:
        event = phone.wait_event(("REGISTER_OK", "REGISTER_FAIL"), 10)
        print(f"102 trusting another CA: {event and event.type} {event and event.param}")
        assert event is not None and event.type == "REGISTER_FAIL", phone.log()[-1500:]
    finally:
        phone.stop()


@pytest.mark.parametrize(("caller", "callee"), [("100", "101"), ("101", "100"),
                                                ("100", "102"), ("102", "100"),
                                                ("102", "101")])
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
    setup = AsteriskSetup(node.setup.root, address, REGISTRAR, inside=node.setup.inside,
                          eid=eid, phones=tuple(FAILOVER_PHONES), service=service)
    own_keys(box, setup, f"{setup.inside}/etc")  # not the root-only AMI secret beside it
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
    certs = make_certificates(tmp_path, OLD, NEW)
    own = make_certificates(tmp_path / "phone", FAILOVER_PHONES["103"][1])
    service = PhoneService(secrets={ext: f"secret-{ext}" for ext in FAILOVER_PHONES},
                           endpoint={"rewrite_contact": rewrite_contact},
                           tls=(certs.cert, certs.key))
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
        show_promoted(box, OLD)
        for number, (ext, (transport, address, has_own)) in enumerate(FAILOVER_PHONES.items()):
            registrar = f"{OLD}:5061" if transport == "tls" else OLD
            phone = Phone(host, f"/tmp/fo-phone-{ext}",
                          Account(ext, f"secret-{ext}", registrar, transport), address,
                          ctrl_port=4420 + number, cafile=certs.ca if transport == "tls" else "",
                          certificate=own.cert + own.key if has_own else "")
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


# -- a silent failover: the server vanishes without a word, another takes its address

SILENT = "127.0.0.50"
SILENT_ROOT = "/tmp/pbx-silent"
SILENT_PHONES = {"110": ("udp", "127.0.0.60"), "111": ("tcp", "127.0.0.61"),
                 "112": ("tls", "127.0.0.62")}
# The README's phone settings for TCP and TLS: a refresh every 12 s (10 % of
# 120 s) finds a dead connection soon; one lost in it (baresip waits 32 s for
# its answer, then 30-60 s before the next try) still ends well before the
# 120 s the registration lasts.
REGINT, RWAIT = 120, 10


def established(box: Container, peer: str) -> set[tuple[str, str]]:
    """The container's established TCP connections (local, peer) to host ``peer``."""
    lines = box.run(["ss", "-Htn", "state", "established"]).stdout.splitlines()
    pairs = [tuple(line.split()[-2:]) for line in lines if line.strip()]
    return {(local, remote) for local, remote in pairs if remote.rsplit(":", 1)[0] == peer}


def die_silently(box: Container, setup: AsteriskSetup, address: str) -> None:
    """Kill Asterisk as a power cut would: nothing it or its kernel sends
    afterwards (FIN, RST) reaches the phones, and its closing sockets are
    ended before its address answers again."""
    netns = ["nsenter", "-t", str(box.pid), "-n"]
    drop = ["OUTPUT", "-s", address, "-p", "tcp", "-j", "DROP"]
    subprocess.run([*netns, "sysctl", "-qw", "net.ipv4.tcp_orphan_retries=1"], check=True)
    subprocess.run([*netns, "iptables", "-I", *drop], check=True)
    try:
        box.run(["kill", "-9", box.path(f"{setup.inside}/run/asterisk.pid").read_text().strip()],
                check=True)

        def ended() -> bool:
            subprocess.run([*netns, "ss", "-K", "-tn", "src", address], capture_output=True,
                           check=False)
            left = subprocess.run([*netns, "ss", "-Htn", "src", address], capture_output=True,
                                  text=True, check=False).stdout
            return not left.strip()

        assert wait_for(ended, 10), "the dead server's sockets linger"
    finally:
        subprocess.run([*netns, "iptables", "-D", *drop], check=True)


def test_tcp_and_tls_phones_after_a_silent_failover(box, tmp_path: Path):
    """The server dies without closing its connections (a power cut) and a
    new one answers on the same address with the registrations: with
    rewrite_contact = no a contact is where the phone listens, and survives
    in the astdb.  Calls to every phone work at once (the TLS phone has a
    certificate of its own, so the new server can connect to it).  A TCP or
    TLS phone learns that its connection is dead only when it sends on it and
    the new server's kernel resets it; with the README's regint and rwait its
    next refresh does that within 12 s, and from then on it calls out at once.
    A call placed before that would be lost in the dead connection (baresip
    waits 32 s, Timer B, for an answer that cannot come)."""
    certs = make_certificates(tmp_path, SILENT)
    own = make_certificates(tmp_path / "phones", SILENT_PHONES["112"][1])
    service = PhoneService(secrets={ext: f"secret-{ext}" for ext in SILENT_PHONES},
                           endpoint={"rewrite_contact": "no"}, tls=(certs.cert, certs.key),
                           answer="700", answer_seconds=2)
    setup = AsteriskSetup(box.path(SILENT_ROOT), SILENT, REGISTRAR, inside=SILENT_ROOT, eid=5,
                          phones=tuple(SILENT_PHONES), service=service)
    own_keys(box, setup)
    cli = functools.partial(rx, box, setup)
    host = ClientHost.of_process(box.pid)
    phones: dict[str, Phone] = {}
    try:
        boot(box, setup)
        for number, (ext, (transport, address)) in enumerate(SILENT_PHONES.items()):
            tls = transport == "tls"
            phones[ext] = Phone(host, f"/tmp/silent-{ext}",
                                Account(ext, f"secret-{ext}", f"{SILENT}:5061" if tls else SILENT,
                                        transport, regint=REGINT, params=(f"rwait={RWAIT}",)),
                                address, ctrl_port=4430 + number, cafile=certs.ca if tls else "",
                                certificate=own.cert + own.key if tls else "")
            phones[ext].start()
        assert all(phone.registered(10) for phone in phones.values())
        time.sleep(2)  # the astdb reaches the disk a moment after the registrations
        before = established(box, SILENT)
        assert len(before) == 2, before  # the TCP and the TLS phone's connections
        die_silently(box, setup, SILENT)
        assert established(box, SILENT) == before  # the phones noticed nothing
        boot(box, setup)
        back = time.monotonic()
        for ext, phone in phones.items():
            assert reachable(cli, phone), f"{ext} not reachable from the new server"
        print(f"every phone reached by the new server {time.monotonic() - back:.1f} s after it "
              "answered (three calls in a row)")
        assert wait_for(lambda: not established(box, SILENT) & before, RWAIT * REGINT / 100 + 3)
        reset = time.monotonic() - back
        print(f"the TCP and TLS phones' dead connections reset {reset:.1f} s after the new "
              f"server answered (their refresh every {REGINT * RWAIT // 100} s)")
        outcomes: dict[str, object] = {}
        calls = [threading.Thread(target=lambda e=ext, p=phone: outcomes.__setitem__(
            e, p.call(f"sip:700@{SILENT}", timeout=10))) for ext, phone in phones.items()]
        for call in calls:
            call.start()
        for call in calls:
            call.join()
        for ext, outcome in outcomes.items():
            print(f"{ext} ({SILENT_PHONES[ext][0]}) calls out: {outcome}")
            assert outcome.answered and outcome.answered_after < 1, outcome
    finally:
        for phone in phones.values():
            phone.stop(timeout=3)
        cli("core stop now")
        box.run(["sh", "-c", f"kill -9 $(cat {SILENT_ROOT}/run/asterisk.pid) 2>/dev/null"])


BOOT_MARGIN = 20  # s: longer than a kill, a boot and the checks after it


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
    for ext in ("101", "102"):
        # A refresh due while the PBX boots would register the phone before
        # the "unreachable" check: let it happen first.
        phone = started[ext]
        if last[ext] + 0.9 * phone.account.regint - time.monotonic() < BOOT_MARGIN:
            event = phone.wait_event(("REGISTER_OK",), BOOT_MARGIN + 5, after=last[ext] + 1)
            assert event is not None, f"{ext} did not refresh its registration"
            last[ext] = event.at
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
