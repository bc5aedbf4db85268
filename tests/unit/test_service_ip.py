"""service-ip without a kernel: parsing, placement, exact `ip` commands, frames."""

from __future__ import annotations

import io
import json
import socket
import struct
import time
from pathlib import Path

import pytest

from ocf_agents import service_ip
from ocf_agents.clients import announce
from ocf_agents.framework.ocf import ArgsError, Context, GenericError, NotConfiguredError, OCFCode
from ocf_agents.shared.iproute import route_argv, unrestorable
from sipha_runtime.log import Logger
from sipha_runtime.processes import is_alive
from sipha_runtime.run import Completed

MAC = "02:00:00:00:00:0a"
LINKS = [
    {"ifname": "lo", "flags": ["LOOPBACK", "UP", "LOWER_UP"], "link_type": "loopback",
     "address": "00:00:00:00:00:00",
     "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host"}]},
    {"ifname": "eth0", "flags": ["BROADCAST", "UP", "LOWER_UP"], "link_type": "ether",
     "address": MAC,
     "addr_info": [{"family": "inet", "local": "198.51.100.11", "prefixlen": 25,
                    "scope": "global"},
                   {"family": "inet6", "local": "2001:db8:5::11", "prefixlen": 64,
                    "scope": "global"},
                   {"family": "inet6", "local": "fe80::1", "prefixlen": 64, "scope": "link"}]},
    {"ifname": "eth1", "flags": ["BROADCAST", "UP"], "link_type": "ether",
     "address": "02:00:00:00:00:0b", "addr_info": []},
]
DEFAULT = {"dst": "default", "gateway": "198.51.100.1", "dev": "eth0", "flags": []}
# Connections (not listeners, not TIME-WAIT) whose local address is a service address.
SS_FILTER = ["-H", "-n", "-t", "state", "connected", "exclude", "time-wait",
             "(", "src", "[2001:db8:5::100]", "or", "src", "198.51.100.100", ")"]


class FakeIp:
    """Answers `ip -j` reads from canned data and records every command
    (`ss` ones with "ss" first).  ``sockets``: the `ss` lines of the TCP
    connections on the service addresses, aborted by `ss -K` unless
    ``destroy`` is false; ``fail``: argument prefixes that fail, with the
    complaint."""

    def __init__(self, links=None, routes4=None, routes6=None, get=None, sockets=(),
                 destroy=True, fail=None) -> None:
        self.calls: list[list[str]] = []
        self.attrd: list[list[str]] = []
        self.links = LINKS if links is None else links
        self.routes = {4: routes4 or [], 6: routes6 or []}
        self.get = get
        self.sockets, self.destroy = list(sockets), destroy
        self.fail = fail or {}

    def run(self, argv, timeout=None, env=None):
        args = list(argv[1:])
        if argv[0].endswith("attrd_updater"):    # the takeover's metrics (test_metrics.py)
            self.attrd.append(args)
            return Completed(argv, 0, "", "", 0.0)
        if argv[0].endswith("/ss") or argv[0] == "ss":
            args = ["ss", *args]
        self.calls.append(args)
        for prefix, complaint in self.fail.items():
            if tuple(args[:len(prefix)]) == prefix:
                return Completed(argv, 2, "", complaint, 0.0)
        out = ""
        if args[0] == "ss":
            out = "".join(f"{line}\n" for line in self.sockets)
            if "-K" in args:
                out = out if self.destroy else ""
                self.sockets = [] if self.destroy else self.sockets
        elif args == ["-j", "addr", "show"]:
            out = json.dumps(self.links)
        elif args[:2] in (["-j", "-4"], ["-j", "-6"]):
            out = json.dumps(self.routes[int(args[1][1])])
        elif args[:3] == ["-j", "route", "get"]:
            out = json.dumps([self.get] if self.get else [])
        return Completed(argv, 0 if out or args[0] != "-j" else 2, out, "", 0.0)

    def changes(self) -> list[list[str]]:
        return [c for c in self.calls if c[0] != "-j"]


def context(tmp_path: Path, fake: FakeIp, action: str = "start",
            log: io.StringIO | None = None) -> Context:
    env = {"OCF_RESOURCE_INSTANCE": "vip", "HA_RSCTMP": str(tmp_path)}
    logger = Logger("service-ip", "vip", {}, stderr=io.StringIO() if log is None else log)
    return Context(service_ip.AGENT, action, env, logger, 20, runner=fake)  # type: ignore[arg-type]


def config(**values: str) -> service_ip.ServiceIpConfig:
    env = {f"OCF_RESKEY_{k}": v for k, v in values.items()}
    return service_ip.ServiceIpConfig.from_env(env)  # type: ignore[return-value]


@pytest.fixture(autouse=True)
def no_frames(monkeypatch):
    sent: list[tuple[str, bytes]] = []
    monkeypatch.setattr(announce, "_send", sent.extend)
    return sent


def test_the_first_announcement_goes_before_the_routes_and_the_rest_after(
        tmp_path, monkeypatch):
    """Phones learn the address before anything else happens; the routes
    (our source address towards the trunks) do not wait for the rounds that
    arp_background=false sends in the start itself."""
    events: list[str] = []
    monkeypatch.setattr(announce, "_send",
                        lambda frames: events.extend("frame" for _ in frames))

    class Ordered(FakeIp):
        def run(self, argv, timeout=None, env=None):
            before = len(self.calls)
            result = super().run(argv, timeout, env)
            for call in self.calls[before:]:
                if call[1:3] in (["addr", "add"], ["route", "replace"]):
                    events.append(" ".join(call[1:3]))
            return result

    fake = Ordered(routes4=[DEFAULT], get={"dst": "198.51.100.192", "gateway": "198.51.100.1",
                                           "dev": "eth0"})
    cfg = config(ip="198.51.100.100", nic="", outbound_networks="198.51.100.192/27",
                 arp_count="3", arp_interval="0.01s", arp_background="false")
    assert service_ip.start(cfg, context(tmp_path, fake)) == OCFCode.SUCCESS
    assert events == ["addr add", "frame", "route replace", "frame", "frame"]


def test_start_adds_announces_and_takes_routes_then_stop_restores(tmp_path, no_frames):
    fake = FakeIp(routes4=[DEFAULT], get={"dst": "198.51.100.192", "gateway": "198.51.100.1",
                                          "dev": "eth0"})
    cfg = config(ip="198.51.100.100 2001:db8:5::100", nic="",
                 outbound_networks="198.51.100.192/27 default", arp_count="1")
    assert service_ip.start(cfg, context(tmp_path, fake)) == OCFCode.SUCCESS
    assert fake.changes() == [
        ["-4", "addr", "add", "198.51.100.100/25", "brd", "+", "dev", "eth0"],
        ["-6", "addr", "add", "2001:db8:5::100/64", "dev", "eth0", "nodad"],
        ["-4", "route", "replace", "198.51.100.192/27", "via", "198.51.100.1", "dev", "eth0",
         "proto", "241", "src", "198.51.100.100"],
        ["-4", "route", "replace", "default", "via", "198.51.100.1", "dev", "eth0",
         "proto", "241", "src", "198.51.100.100"],
    ]
    assert [dev for dev, _ in no_frames] == ["eth0", "eth0"]
    # Now the kernel shows what we did; stop undoes exactly that.
    ours = [{"dst": "198.51.100.192/27", "gateway": "198.51.100.1", "dev": "eth0",
             "protocol": "241", "prefsrc": "198.51.100.100", "flags": []},
            {**DEFAULT, "protocol": "241", "prefsrc": "198.51.100.100"}]
    links = json.loads(json.dumps(LINKS))
    links[1]["addr_info"] += [
        {"family": "inet", "local": "198.51.100.100", "prefixlen": 25, "secondary": True},
        {"family": "inet6", "local": "2001:db8:5::100", "prefixlen": 64}]
    after = FakeIp(links=links, routes4=ours)
    assert service_ip.monitor(cfg, context(tmp_path, after, "monitor")) == OCFCode.SUCCESS
    assert service_ip.stop(cfg, context(tmp_path, after, "stop")) == OCFCode.SUCCESS
    assert after.changes() == [
        ["-4", "route", "replace", "default", "via", "198.51.100.1", "dev", "eth0"],
        ["-4", "route", "del", "198.51.100.192/27", "via", "198.51.100.1", "dev", "eth0",
         "proto", "241", "src", "198.51.100.100"],
        # Inbound TCP held off, every connection reset (RST) while the
        # addresses are still here to send from, then the addresses go.
        ["xfrm", "policy", "add", "src", "::/0", "dst", "2001:db8:5::100/128", "proto", "tcp",
         "dir", "in", "action", "block"],
        ["xfrm", "policy", "add", "src", "0.0.0.0/0", "dst", "198.51.100.100/32", "proto",
         "tcp", "dir", "in", "action", "block"],
        ["ss", "-K", *SS_FILTER],
        ["ss", *SS_FILTER],
        ["-6", "addr", "del", "2001:db8:5::100/64", "dev", "eth0"],
        ["-4", "addr", "del", "198.51.100.100/25", "dev", "eth0"],
        ["xfrm", "policy", "delete", "src", "::/0", "dst", "2001:db8:5::100/128", "proto",
         "tcp", "dir", "in"],
        ["xfrm", "policy", "delete", "src", "0.0.0.0/0", "dst", "198.51.100.100/32", "proto",
         "tcp", "dir", "in"],
    ]
    assert service_ip.monitor(cfg, context(tmp_path, after, "monitor")) == OCFCode.NOT_RUNNING
    assert service_ip.stop(cfg, context(tmp_path, after, "stop")) == OCFCode.SUCCESS


def test_an_address_already_there_is_not_ours(tmp_path):
    links = json.loads(json.dumps(LINKS))
    links[1]["addr_info"].append({"family": "inet", "local": "198.51.100.100", "prefixlen": 25})
    fake = FakeIp(links=links)
    with pytest.raises(ArgsError, match="already on eth0 and was not added"):
        service_ip.start(config(ip="198.51.100.100"), context(tmp_path, fake))
    assert fake.changes() == []
    assert service_ip.monitor(config(ip="198.51.100.100"),
                              context(tmp_path, fake, "monitor")) == OCFCode.NOT_RUNNING
    assert service_ip.stop(config(ip="198.51.100.100"), context(tmp_path, fake)) == 0
    assert fake.changes() == []


def test_a_route_owned_by_another_instance_is_refused(tmp_path):
    fake = FakeIp(routes4=[{**DEFAULT, "protocol": "241", "prefsrc": "198.51.100.101"}])
    with pytest.raises(ArgsError, match="another service-ip resource"):
        service_ip.start(config(ip="198.51.100.100", outbound_networks="default",
                                arp_count="1"), context(tmp_path, fake))
    assert ["-4", "route", "replace"] not in [c[:3] for c in fake.changes()]


def test_link_down_fails_start_before_any_change(tmp_path):
    fake = FakeIp()
    with pytest.raises(Exception, match="link eth1 has no carrier"):
        service_ip.start(config(ip="198.51.100.200/28", nic="eth1"), context(tmp_path, fake))
    assert fake.changes() == []



V4_FILTER = ["-H", "-n", "-t", "state", "connected", "exclude", "time-wait",
             "(", "src", "198.51.100.100", ")"]
GUARD = ["xfrm", "policy", "add", "src", "0.0.0.0/0", "dst", "198.51.100.100/32", "proto", "tcp",
         "dir", "in", "action", "block"]
UNGUARD = ["xfrm", "policy", "delete", "src", "0.0.0.0/0", "dst", "198.51.100.100/32", "proto",
           "tcp", "dir", "in"]
CONNECTIONS = ["ESTAB 0 0 198.51.100.100:5060 198.51.100.20:40000",
               "ESTAB 0 0 [::ffff:198.51.100.100]:5061 198.51.100.21:40001"]
ONE = {"ip": "198.51.100.100", "arp_count": "1"}


def _running(tmp_path, **fake: object) -> FakeIp:
    """198.51.100.100 started; a FakeIp (with ``fake``) that shows it on eth0."""
    service_ip.start(config(**ONE), context(tmp_path, FakeIp()))
    links = json.loads(json.dumps(LINKS))
    links[1]["addr_info"].append({"family": "inet", "local": "198.51.100.100", "prefixlen": 25,
                                  "secondary": True})
    return FakeIp(links=links, **fake)  # type: ignore[arg-type]


def test_stop_resets_the_connections_on_the_address_and_says_so(tmp_path):
    fake = _running(tmp_path, sockets=CONNECTIONS)
    log = io.StringIO()
    assert service_ip.stop(config(**ONE), context(tmp_path, fake, "stop", log)) == 0
    assert fake.changes() == [GUARD, ["ss", "-K", *V4_FILTER], ["ss", *V4_FILTER],
                              ["-4", "addr", "del", "198.51.100.100/25", "dev", "eth0"], UNGUARD]
    assert fake.sockets == []
    assert "INFO: reset 2 TCP connection(s) on 198.51.100.100" in log.getvalue()
    assert "WARNING" not in log.getvalue()


def test_a_kernel_that_cannot_abort_sockets_is_reported_and_the_address_still_goes(tmp_path):
    fake = _running(tmp_path, sockets=CONNECTIONS, destroy=False)
    log = io.StringIO()
    assert service_ip.stop(config(**ONE), context(tmp_path, fake, "stop", log)) == 0
    assert ("WARNING: 2 TCP connection(s) on 198.51.100.100 could not be reset (a kernel "
            "without CONFIG_INET_DIAG_DESTROY?)") in log.getvalue()
    assert ["-4", "addr", "del", "198.51.100.100/25", "dev", "eth0"] in fake.changes()


def test_a_policy_that_is_not_ours_is_never_deleted(tmp_path):
    """The same block selector already there (someone's IPsec policy): the
    reset goes on unguarded, and stop leaves that policy alone."""
    fake = _running(tmp_path, sockets=CONNECTIONS,
                    fail={tuple(GUARD[:3]): "RTNETLINK answers: File exists"})
    log = io.StringIO()
    assert service_ip.stop(config(**ONE), context(tmp_path, fake, "stop", log)) == 0
    assert ["ss", "-K", *V4_FILTER] in fake.changes()
    assert UNGUARD not in fake.changes()
    assert ("WARNING: new TCP connections to 198.51.100.100 are not held off while its "
            "connections are reset (ip xfrm policy add") in log.getvalue()


def test_without_ss_the_address_still_goes(tmp_path):
    fake = _running(tmp_path, fail={("ss",): "ss: not found"})
    log = io.StringIO()
    assert service_ip.stop(config(**ONE), context(tmp_path, fake, "stop", log)) == 0
    assert fake.changes()[-2:] == [["-4", "addr", "del", "198.51.100.100/25", "dev", "eth0"],
                                   UNGUARD]
    assert "WARNING: TCP connections on 198.51.100.100 not reset: ss -K: ss: not found" in \
        log.getvalue()


def test_a_guard_left_by_an_unfinished_stop_is_lifted_by_the_next_stop_or_start(tmp_path):
    cannot = {("-4", "addr", "del"): "RTNETLINK answers: Operation not permitted"}
    fake = _running(tmp_path, fail=cannot)
    with pytest.raises(GenericError, match="Operation not permitted"):
        service_ip.stop(config(**ONE), context(tmp_path, fake, "stop"))
    state = service_ip.State.load(service_ip._state_path(context(tmp_path, fake)))
    assert state is not None and state.guards == ["198.51.100.100"]
    # Stopped again: the guard is already there, and goes at the end.
    again = FakeIp(links=fake.links, fail=cannot)
    with pytest.raises(GenericError):
        service_ip.stop(config(**ONE), context(tmp_path, again, "stop"))
    assert GUARD not in again.changes()
    # Started here again (after a cleanup): inbound TCP is accepted again.
    start = FakeIp(links=fake.links)
    assert service_ip.start(config(**ONE), context(tmp_path, start)) == 0
    assert start.changes() == [UNGUARD]
    state = service_ip.State.load(service_ip._state_path(context(tmp_path, fake)))
    assert state is not None and state.guards == [] and state.addresses


@pytest.mark.parametrize(("text", "nic", "expected"), [
    ("198.51.100.100", "", ("eth0", 25)),
    ("2001:db8:5::100", "", ("eth0", 64)),
    ("198.51.100.100/25", "eth0", ("eth0", 25)),
    ("198.51.100.200/28", "eth1", ("eth1", 28)),
])
def test_placement(text, nic, expected):
    placed = service_ip.place(service_ip.Address(text), nic, LINKS)
    assert (placed.dev, placed.prefix) == expected


@pytest.mark.parametrize(("text", "nic", "words"), [
    ("198.51.100.200", "", "in no network connected to this node"),
    ("198.51.100.100/24", "", "prefix mismatch: 198.51.100.100/24 but the network on eth0 is /25"),
    ("198.51.100.100", "eth7", "interface eth7 does not exist"),
    ("198.51.100.100", "eth1", "belongs to a network on eth0, not to nic=eth1"),
    ("198.51.100.200", "eth1", "give it a prefix length"),
])
def test_placement_errors(text, nic, words):
    with pytest.raises(ArgsError, match=words.replace(".", r"\.")):
        service_ip.place(service_ip.Address(text), nic, LINKS)


@pytest.mark.parametrize(("values", "words"), [
    ({"ip": "198.51.100.999"}, "is not an IPv4 or IPv6 address"),
    ({"ip": "198.51.100.1/33"}, "impossible prefix length"),
    ({"ip": "198.51.100.1 198.51.100.1"}, "twice"),
    ({"ip": "198.51.100.1", "outbound_networks": "::/0"}, "needs an IPv6 service address"),
    ({"ip": "198.51.100.1", "arp_count": "0"}, "at least 1"),
])
def test_bad_values_are_not_configured(values, words):
    with pytest.raises(NotConfiguredError, match=words):
        service_ip.parse(config(**values))


@pytest.mark.parametrize(("text", "family", "dst"), [
    ("default", 4, "default"), ("::/0", 6, "default"), ("198.51.100.200/27", 4,
                                                         "198.51.100.192/27"),
    ("198.51.100.5", 4, "198.51.100.5"), ("2001:db8:6:0::/64", 6, "2001:db8:6::/64"),
])
def test_destinations_are_spelled_as_ip_prints_them(text, family, dst):
    dest = service_ip.Destination(text)
    assert (dest.family, dest.dst) == (family, dst)


def test_route_argv_and_what_cannot_be_restored():
    route = {"dst": "default", "gateway": "2001:db8:5::1", "dev": "eth0", "protocol": "static",
             "metric": 1024, "flags": ["onlink"], "pref": "medium"}
    assert route_argv(route) == ["default", "via", "2001:db8:5::1", "dev", "eth0", "proto",
                                 "static", "metric", "1024", "pref", "medium", "onlink"]
    assert unrestorable(route) == []
    assert unrestorable({"dst": "default", "nexthops": [], "type": "blackhole"}) == [
        "nexthops", "type"]


def _checksum_ok(frame: bytes) -> bool:
    src, dst, icmp = frame[22:38], frame[38:54], frame[54:]
    pseudo = src + dst + struct.pack("!I3xB", len(icmp), 58)
    return announce._checksum(pseudo + icmp) == 0


def test_frames():
    mac = announce.parse_mac(MAC)
    ip4 = socket.inet_aton("198.51.100.100")
    garp = announce.gratuitous_arp(mac, ip4)
    assert garp[:6] == b"\xff" * 6 and garp[12:14] == b"\x08\x06"
    assert garp[28:32] == garp[38:42] == ip4 and garp[22:28] == mac
    probe = announce.arp_probe(mac, ip4)
    assert probe[28:32] == b"\0" * 4 and probe[38:42] == ip4
    ip6 = socket.inet_pton(socket.AF_INET6, "2001:db8:5::100")
    na = announce.unsolicited_na(mac, ip6)
    assert na[:6] == bytes.fromhex("333300000001") and na[21] == 255
    assert na[54] == 136 and na[58] & 0x20 and na[62:78] == ip6 and na[-6:] == mac
    assert _checksum_ok(na)
    ns = announce.dad_solicitation(mac, ip6)
    assert ns[:6] == bytes.fromhex("3333ff000100") and ns[22:38] == b"\0" * 16
    assert ns[54] == 135 and _checksum_ok(ns)


def test_answers_from_others_are_duplicates_ours_are_not():
    target = announce.Target("eth0", "198.51.100.100", MAC)
    other = announce.parse_mac("02:00:00:00:00:0b")
    reply = announce.arp_frame(other, target.ip, b"\0" * 4, op=2)
    assert announce._arp_answer(reply, target) == "02:00:00:00:00:0b"
    assert announce._arp_answer(announce.gratuitous_arp(target.mac, target.ip), target) is None
    target6 = announce.Target("eth0", "2001:db8:5::100", MAC)
    na_other = announce.unsolicited_na(other, target6.ip)[54:]
    assert announce._na_answer(na_other, target6) == "02:00:00:00:00:0b"
    assert announce._na_answer(announce.unsolicited_na(target6.mac, target6.ip)[54:],
                               target6) is None


def test_background_sender_is_ended_by_stop(tmp_path, monkeypatch):
    monkeypatch.setattr(announce, "announce_in_background",
                        lambda targets, rounds, interval: _sleeper())
    fake = FakeIp()
    service_ip.start(config(ip="198.51.100.100"), context(tmp_path, fake))
    state = service_ip.State.load(service_ip._state_path(context(tmp_path, fake)))
    assert state is not None and state.sender
    pid = state.sender[0]
    service_ip.stop(config(ip="198.51.100.100"), context(tmp_path, FakeIp()))
    deadline = time.monotonic() + 5
    while is_alive(pid) and time.monotonic() < deadline:  # our child: a zombie once killed
        time.sleep(0.02)
    assert not is_alive(pid)


def _sleeper() -> int:
    import subprocess

    proc = subprocess.Popen(["/bin/sleep", "30"])
    _REAPERS.append(proc)
    return proc.pid


_REAPERS: list = []


@pytest.fixture(autouse=True)
def _reap():
    yield
    for proc in _REAPERS:
        proc.kill()
        proc.wait()
    _REAPERS.clear()


def test_monitor_imports_nothing_heavy(tmp_path):
    import subprocess
    import sys

    probe = ("import sys; from ocf_agents.service_ip import AGENT; "
             "code = AGENT.run(['monitor'], {'OCF_RESKEY_ip': '198.51.100.100', "
             f"'HA_RSCTMP': {str(tmp_path)!r}}}); "
             "print(code, [m for m in ('lxml', 'click', 'pyroute2') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "7 []"
