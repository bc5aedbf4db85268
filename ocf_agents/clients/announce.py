"""Tell the link where an address lives, and ask whether anyone else has it.

Gratuitous ARP (IPv4), unsolicited neighbour advertisements (IPv6) and the
duplicate probes (ARP probe with sender 0.0.0.0 as ``arping -D`` sends it,
DAD neighbour solicitation from ``::``), all as Ethernet frames on an
``AF_PACKET`` socket.  One socket sends every repeat with our own spacing;
``arping``/``ndsend`` would cost a process (and a package) per address per
repeat, and ``arping -U`` spaces its packets a whole second apart.
"""

from __future__ import annotations

import select
import socket
import struct
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
BROADCAST = b"\xff" * 6
PACKET_OUTGOING = 4
ICMP6_FILTER = 1  # setsockopt name at level IPPROTO_ICMPV6 (linux/icmpv6.h)
ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT = 135, 136
NA_FLAG_OVERRIDE = 0x20000000
ALL_NODES = socket.inet_pton(socket.AF_INET6, "ff02::1")


def parse_mac(text: str) -> bytes:
    return bytes(int(part, 16) for part in text.split(":"))


def format_mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _ether(dst: bytes, src: bytes, proto: int) -> bytes:
    return dst + src + struct.pack("!H", proto)


def arp_frame(mac: bytes, sender_ip: bytes, target_ip: bytes, op: int = 1) -> bytes:
    """An Ethernet broadcast ARP packet (op 1 request, 2 reply)."""
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + mac + sender_ip + b"\0" * 6 + target_ip
    return _ether(BROADCAST, mac, ETH_P_ARP) + arp


def gratuitous_arp(mac: bytes, ip: bytes) -> bytes:
    """An ARP announcement (RFC 5227): a request with sender = target = ip."""
    return arp_frame(mac, ip, ip)


def arp_probe(mac: bytes, ip: bytes) -> bytes:
    """Who has ip?  Sender 0.0.0.0, so nobody learns anything from asking."""
    return arp_frame(mac, b"\0" * 4, ip)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ipv6_icmp(eth_dst: bytes, mac: bytes, src: bytes, dst: bytes, icmp: bytes) -> bytes:
    pseudo = src + dst + struct.pack("!I3xB", len(icmp), socket.IPPROTO_ICMPV6)
    icmp = icmp[:2] + struct.pack("!H", _checksum(pseudo + icmp)) + icmp[4:]
    header = struct.pack("!IHBB", 6 << 28, len(icmp), socket.IPPROTO_ICMPV6, 255) + src + dst
    return _ether(eth_dst, mac, ETH_P_IPV6) + header + icmp


def unsolicited_na(mac: bytes, ip6: bytes) -> bytes:
    """Neighbour advertisement to all nodes, override flag set, with our MAC."""
    icmp = (struct.pack("!BBHI", ND_NEIGHBOR_ADVERT, 0, 0, NA_FLAG_OVERRIDE) + ip6
            + struct.pack("!BB", 2, 1) + mac)
    return _ipv6_icmp(b"\x33\x33" + ALL_NODES[-4:], mac, ip6, ALL_NODES, icmp)


def dad_solicitation(mac: bytes, ip6: bytes) -> bytes:
    """Duplicate address detection: who has ip6?  Sent from :: (RFC 4862)."""
    group = socket.inet_pton(socket.AF_INET6, "ff02::1:ff00:0")[:13] + ip6[13:]
    icmp = struct.pack("!BBHI", ND_NEIGHBOR_SOLICIT, 0, 0, 0) + ip6
    return _ipv6_icmp(b"\x33\x33" + group[-4:], mac, b"\0" * 16, group, icmp)


class Target:
    """One address on one interface, with the interface's MAC."""

    __slots__ = ("dev", "family", "ip", "mac")

    def __init__(self, dev: str, ip: str, mac: str) -> None:
        self.dev = dev
        self.family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        self.ip = socket.inet_pton(self.family, ip)
        self.mac = parse_mac(mac)

    def announcement(self) -> bytes:
        if self.family == socket.AF_INET:
            return gratuitous_arp(self.mac, self.ip)
        return unsolicited_na(self.mac, self.ip)

    def probe(self) -> bytes:
        if self.family == socket.AF_INET:
            return arp_probe(self.mac, self.ip)
        return dad_solicitation(self.mac, self.ip)

    @property
    def address(self) -> str:
        return socket.inet_ntop(self.family, self.ip)


def _send(frames: Iterable[tuple[str, bytes]]) -> None:
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        for dev, frame in frames:
            sock.sendto(frame, (dev, 0))


def announce(targets: Sequence[Target], rounds: int, interval: float) -> None:
    """Send ``rounds`` announcements for every target, ``interval`` apart."""
    for n in range(rounds):
        if n:
            time.sleep(interval)
        _send((t.dev, t.announcement()) for t in targets)


def announce_in_background(targets: Sequence[Target], rounds: int, interval: float) -> int:
    """A detached child that sends the remaining rounds; its pid."""
    from sipha_runtime import processes

    def rest() -> None:
        for _ in range(rounds):
            time.sleep(interval)
            _send((t.dev, t.announcement()) for t in targets)

    return processes.in_background(rest)


def _arp_answer(frame: bytes, target: Target) -> str | None:
    """The MAC of another host that claims target's address in this ARP frame."""
    if len(frame) < 42:
        return None
    sender_mac, sender_ip = frame[22:28], frame[28:32]
    if sender_ip == target.ip and sender_mac != target.mac:
        return format_mac(sender_mac)
    return None


def _na_answer(icmp: bytes, target: Target) -> str | None:
    """The MAC (or '?') of another host advertising target's address."""
    if len(icmp) < 24 or icmp[0] != ND_NEIGHBOR_ADVERT or icmp[8:24] != target.ip:
        return None
    options = icmp[24:]
    while len(options) >= 8 and options[1]:
        if options[0] == 2:
            mac = options[2:8]
            return None if mac == target.mac else format_mac(mac)
        options = options[options[1] * 8:]
    return "?"


def find_duplicates(targets: Sequence[Target], timeout: float) -> list[tuple[str, str]]:
    """Probe every target at once and listen ``timeout`` seconds for others
    answering; returns (address, their MAC) for each address someone else holds."""
    listeners: dict[socket.socket, list[Target]] = {}
    found: dict[str, str] = {}
    try:
        for dev in sorted({t.dev for t in targets}):
            on_dev = [t for t in targets if t.dev == dev]
            if any(t.family == socket.AF_INET for t in on_dev):
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
                sock.bind((dev, ETH_P_ARP))
                listeners[sock] = [t for t in on_dev if t.family == socket.AF_INET]
            if any(t.family == socket.AF_INET6 for t in on_dev):
                sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
                blocked = [0xFFFFFFFF] * 8
                blocked[ND_NEIGHBOR_ADVERT >> 5] &= ~(1 << (ND_NEIGHBOR_ADVERT & 31))
                sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER,
                                struct.pack("=8I", *blocked))
                listeners[sock] = [t for t in on_dev if t.family == socket.AF_INET6]
        _send((t.dev, t.probe()) for t in targets)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0 and len(found) < len(targets):
            ready, _, _ = select.select(list(listeners), [], [], left)
            for sock in ready:
                data, source = sock.recvfrom(2048)
                for target in listeners[sock]:
                    if sock.family == socket.AF_PACKET:
                        other = None if source[2] == PACKET_OUTGOING else _arp_answer(
                            data, target)
                    else:
                        other = _na_answer(data, target)
                    if other:
                        found.setdefault(target.address, other)
    finally:
        for sock in listeners:
            sock.close()
    return sorted(found.items())
