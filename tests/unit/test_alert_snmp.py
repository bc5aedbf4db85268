"""The SNMPv2c trap encoder and sender of the alert agent (sip_ha.alert.snmp).

No network here: the sender's socket and resolver are replaced by fakes. The
real round trip to net-snmp's snmptrapd is tests/integration/test_alert_snmp_trapd.py.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest

from sip_ha.alert import snmp
from sip_ha.alert.errors import AlertError
from tests.support.missing import missing

PCMK = "1.3.6.1.4.1.32723"

# Reference packets made by net-snmp 5.9.3 (Debian 12 package `snmp`), not by
# our encoder: inside a fresh AlertNetns a Python socket bound udp
# 127.0.0.1:1162 and printed the hex of the one datagram that
#   SNMP_PERSISTENT_DIR=<tmp> SNMPCONFPATH=<tmp> MIBS= LC_ALL=C \
#   snmptrap -v 2c -c public 127.0.0.1:1162 12345 1.3.6.1.4.1.32723.2.1 \
#     1.3.6.1.4.1.32723.1.1 s node1  1.3.6.1.4.1.32723.1.2 s asterisk \
#     1.3.6.1.4.1.32723.1.3 s monitor  1.3.6.1.4.1.32723.1.4 s 'not running' \
#     1.3.6.1.4.1.32723.1.5 i 0  1.3.6.1.4.1.32723.1.6 i 7  1.3.6.1.4.1.32723.1.7 i 0
# sent. snmptrap picks a random request-id; it is copied from the packet
# (bytes 17-20) into REFERENCE_*_ID.
REFERENCE_PACEMAKER_ID = 0x7F7E9B92
REFERENCE_PACEMAKER = bytes.fromhex(
    "3081d902010104067075626c6963a781cb02047f7e9b920201000201003081bc300e06082b06010201010300"
    "430230393018060a2b060106030101040100060a2b0601040181ff5302013013060a2b0601040181ff530101"
    "04056e6f6465313016060a2b0601040181ff5301020408617374657269736b3015060a2b0601040181ff5301"
    "0304076d6f6e69746f723019060a2b0601040181ff530104040b6e6f742072756e6e696e67300f060a2b0601"
    "040181ff530105020100300f060a2b0601040181ff530106020107300f060a2b0601040181ff530107020100"
)

# The same way, with every edge at once:
#   snmptrap -v 2c -c 'sip-ha community' 127.0.0.1:1162 4294967295 \
#     2.999.128.16383.16384.4294967295 \
#     1.3.6.1.4.1.32723.1.6 i -1  1.3.6.1.4.1.32723.1.7 i -2147483648 \
#     1.3.6.1.4.1.32723.1.5 i 2147483647  1.3.6.1.4.1.32723.1.4 s <200 x> \
#     1.3.6.1.4.1.32723.1.2 s <300 y>  1.3.6.1.4.1.32723.1.1 s 'nœud-é😀' \
#     0.39.127 i 128  1.3.6.1.4.1.32723.1.3 i -129
# i.e. TimeTicks with the top bit set, first arcs 2.999 (one sub-identifier
# 1079 = 88 37) and 0.39, arcs 127/128/16383/16384/2**32-1, Integer32 limits,
# -1/-129/128, a 200-byte string (81 c8) and a 300-byte one (82 01 2c) that
# push the PDU and the message over 255 bytes (82 xx xx), UTF-8 text.
REFERENCE_EDGES_ID = 0x19DEB444
REFERENCE_EDGES = bytes.fromhex(
    "308202e502010104107369702d686120636f6d6d756e697479a78202cc020419deb444020100020100308202"
    "bc301106082b06010201010300430500ffffffff301c060a2b060106030101040100060e88378100ff7f8180"
    "008fffffff7f300f060a2b0601040181ff5301060201ff3012060a2b0601040181ff53010702048000000030"
    "12060a2b0601040181ff53010502047fffffff3081d7060a2b0601040181ff5301040481c878787878787878"
    "7878787878787878787878787878787878787878787878787878787878787878787878787878787878787878"
    "7878787878787878787878787878787878787878787878787878787878787878787878787878787878787878"
    "7878787878787878787878787878787878787878787878787878787878787878787878787878787878787878"
    "7878787878787878787878787878787878787878787878787878787878787878787878787878787878787878"
    "78787878787878787878787878787878783082013c060a2b0601040181ff5301020482012c79797979797979"
    "7979797979797979797979797979797979797979797979797979797979797979797979797979797979797979"
    "7979797979797979797979797979797979797979797979797979797979797979797979797979797979797979"
    "7979797979797979797979797979797979797979797979797979797979797979797979797979797979797979"
    "7979797979797979797979797979797979797979797979797979797979797979797979797979797979797979"
    "7979797979797979797979797979797979797979797979797979797979797979797979797979797979797979"
    "7979797979797979797979797979797979797979797979797979797979797979797979797979797979797979"
    "7979797979797979797979797979797979797979797979797979797979301a060a2b0601040181ff53010104"
    "0c6ec59375642dc3a9f09f988030080602277f020200803010060a2b0601040181ff5301030202ff7f"
)


# -- a small BER reader, written from X.690 for these tests ----------------------


def read_tlv(data: bytes, at: int = 0) -> tuple[int, bytes, int]:
    """(tag, content, offset after) of the TLV at AT."""
    tag, first = data[at], data[at + 1]
    at += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        length = int.from_bytes(data[at:at + count], "big")
        at += count
    return tag, data[at:at + length], at + length


def children(content: bytes) -> list[tuple[int, bytes]]:
    out, at = [], 0
    while at < len(content):
        tag, body, at = read_tlv(content, at)
        out.append((tag, body))
    return out


def oid_text(content: bytes) -> str:
    arcs, value = [], 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]]))


def decode(packet: bytes) -> dict[str, object]:
    tag, message, end = read_tlv(packet)
    assert (tag, end) == (0x30, len(packet))
    (vtag, version), (ctag, community), (ptag, pdu) = children(message)
    assert (vtag, ctag, ptag) == (0x02, 0x04, 0xA7)
    (_, request_id), (_, status), (_, index), (ltag, bindings) = children(pdu)
    assert ltag == 0x30
    varbinds = []
    for btag, binding in children(bindings):
        assert btag == 0x30
        (otag, oid), (value_tag, value) = children(binding)
        assert otag == 0x06
        decoded: object = value
        if value_tag == 0x02:
            decoded = int.from_bytes(value, "big", signed=True)
        elif value_tag == 0x43:
            decoded = int.from_bytes(value, "big")
        elif value_tag == 0x06:
            decoded = oid_text(value)
        elif value_tag == 0x04:
            decoded = value.decode()
        varbinds.append((oid_text(oid), value_tag, decoded))
    return {"version": int.from_bytes(version, "big"), "community": community.decode(),
            "request_id": int.from_bytes(request_id, "big", signed=True),
            "error_status": int.from_bytes(status, "big"),
            "error_index": int.from_bytes(index, "big"), "varbinds": varbinds}


# -- encoding against net-snmp ---------------------------------------------------


def test_pacemaker_trap_matches_net_snmp() -> None:
    varbinds = snmp.pacemaker_varbinds("resource", "node1", "1", "asterisk", "monitor",
                                       "not running", 0, 7, 0, "", "")
    packet = snmp.encode_trap("public", REFERENCE_PACEMAKER_ID, 12345, snmp.PACEMAKER_TRAP_OID,
                              varbinds)
    assert packet.hex() == REFERENCE_PACEMAKER.hex()


def test_edge_cases_match_net_snmp() -> None:
    varbinds: list[tuple[str, str | int]] = [
        (f"{PCMK}.1.6", -1), (f"{PCMK}.1.7", -(2**31)), (f"{PCMK}.1.5", 2**31 - 1),
        (f"{PCMK}.1.4", "x" * 200), (f"{PCMK}.1.2", "y" * 300), (f"{PCMK}.1.1", "nœud-é😀"),
        ("0.39.127", 128), (f"{PCMK}.1.3", -129)]
    packet = snmp.encode_trap("sip-ha community", REFERENCE_EDGES_ID, 2**32 - 1,
                              "2.999.128.16383.16384.4294967295", varbinds)
    assert packet.hex() == REFERENCE_EDGES.hex()


def test_reader_agrees_with_the_reference() -> None:
    """The test's own BER reader, checked on net-snmp's bytes before it checks ours."""
    fields = decode(REFERENCE_PACEMAKER)
    assert fields["version"] == 1 and fields["community"] == "public"
    assert fields["request_id"] == REFERENCE_PACEMAKER_ID
    assert (fields["error_status"], fields["error_index"]) == (0, 0)
    assert fields["varbinds"][:3] == [  # type: ignore[index]
        ("1.3.6.1.2.1.1.3.0", 0x43, 12345),
        ("1.3.6.1.6.3.1.1.4.1.0", 0x06, f"{PCMK}.2.1"),
        (f"{PCMK}.1.1", 0x04, "node1")]


# -- encoding details ------------------------------------------------------------


def only_varbind(value: str | int, oid: str = f"{PCMK}.1.1") -> bytes:
    """The bytes of the one user varbind's value TLV (after sysUpTime, snmpTrapOID)."""
    packet = snmp.encode_trap("public", 1, 0, snmp.PACEMAKER_TRAP_OID, [(oid, value)])
    pdu = children(read_tlv(packet)[1])[2][1]
    binding = children(children(pdu)[3][1])[2][1]
    _, _, after_oid = read_tlv(binding)
    return binding[after_oid:]


@pytest.mark.parametrize(("value", "encoded"), [
    (0, "020100"), (1, "020101"), (127, "02017f"), (128, "02020080"), (255, "020200ff"),
    (256, "02020100"), (-1, "0201ff"), (-128, "020180"), (-129, "0202ff7f"),
    (-256, "0202ff00"), (-32768, "02028000"), (-32769, "0203ff7fff"),
    (2**31 - 1, "02047fffffff"), (-(2**31), "020480000000"),
])
def test_integer32(value: int, encoded: str) -> None:
    assert only_varbind(value).hex() == encoded


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, 2**40])
def test_integer_outside_integer32_is_refused(value: int) -> None:
    with pytest.raises(ValueError, match="Integer32"):
        only_varbind(value)


@pytest.mark.parametrize("value", [True, 1.5, b"bytes", None])
def test_other_value_types_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="expected str or int"):
        only_varbind(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(("size", "header"), [
    (0, "0400"), (127, "047f"), (128, "048180"), (255, "0481ff"), (256, "04820100"),
    (65535, "0482ffff"), (65536, "0483010000"),
])
def test_string_lengths(size: int, header: str) -> None:
    encoded = only_varbind("a" * size)
    assert encoded.hex().startswith(header)
    assert encoded[len(header) // 2:] == b"a" * size


def test_string_is_utf8() -> None:
    assert only_varbind("é€😀") == bytes.fromhex("0409") + "é€😀".encode()


@pytest.mark.parametrize(("oid", "encoded"), [
    ("1.3.6.1.4.1.32723", "06082b0601040181ff53"),  # 32723 = 0x7fd3: 81 ff 53
    (".1.3.6.1.4.1.32723", "06082b0601040181ff53"),  # net-snmp's leading dot
    ("2.999.3", "0603883703"),  # X.690 8.19.5 example
    ("0.0", "060100"), ("1.39", "06014f"), ("2.47", "06017f"), ("2.48", "06028100"),
    ("1.3.127", "06022b7f"), ("1.3.128", "06032b8100"), ("1.3.16383", "06032bff7f"),
    ("1.3.16384", "06042b818000"), ("1.3.4294967295", "06062b8fffffff7f"),
    ("1.3.18446744073709551616", "060b2b82808080808080808000"),  # 2**64
])
def test_oid_encoding(oid: str, encoded: str) -> None:
    packet = snmp.encode_trap("public", 1, 0, oid, [])
    assert bytes.fromhex(encoded) in packet
    assert decode(packet)["varbinds"][1][2] == oid.removeprefix(".")  # type: ignore[index]


@pytest.mark.parametrize("oid", [
    "", "1", ".", "1.", "1..3", "1.3.6.x", "1.3.-6", "3.1", "0.40", "1.40", " 1.3", "1.3 ",
    "1.3.٣",  # a non-ASCII digit
])
def test_bad_oids_are_refused(oid: str) -> None:
    with pytest.raises(ValueError, match="OID"):
        snmp.encode_trap("public", 1, 0, oid, [])
    with pytest.raises(ValueError, match="OID"):
        snmp.encode_trap("public", 1, 0, snmp.PACEMAKER_TRAP_OID, [(oid, 1)])


@pytest.mark.parametrize(("uptime", "encoded"), [
    (0, "430100"), (127, "43017f"), (128, "43020080"), (2**31, "43050080000000"),
    (2**32 - 1, "430500ffffffff"),
])
def test_timeticks(uptime: int, encoded: str) -> None:
    packet = snmp.encode_trap("public", 1, uptime, snmp.PACEMAKER_TRAP_OID, [])
    assert bytes.fromhex("06082b06010201010300" + encoded) in packet


@pytest.mark.parametrize(("uptime", "request_id"),
                         [(-1, 1), (2**32, 1), (0, 2**31), (0, -(2**31) - 1)])
def test_out_of_range_header_values_are_refused(uptime: int, request_id: int) -> None:
    with pytest.raises(ValueError):
        snmp.encode_trap("public", request_id, uptime, snmp.PACEMAKER_TRAP_OID, [])


def test_message_layout() -> None:
    packet = snmp.encode_trap("c0mmunity", -5, 42, f"{PCMK}.2.1",
                              [(f"{PCMK}.1.1", "n"), (f"{PCMK}.1.6", -3)])
    assert decode(packet) == {
        "version": 1, "community": "c0mmunity", "request_id": -5, "error_status": 0,
        "error_index": 0, "varbinds": [
            ("1.3.6.1.2.1.1.3.0", 0x43, 42), ("1.3.6.1.6.3.1.1.4.1.0", 0x06, f"{PCMK}.2.1"),
            (f"{PCMK}.1.1", 0x04, "n"), (f"{PCMK}.1.6", 0x02, -3)]}


# -- PACEMAKER-MIB ---------------------------------------------------------------


def test_pacemaker_varbinds_map_every_field_in_mib_order() -> None:
    assert snmp.pacemaker_varbinds("attribute", "n1", "1", "rsc", "start", "ok", 0, 0, 7,
                                   "master-db", "100") == [
        (f"{PCMK}.1.1", "n1"), (f"{PCMK}.1.2", "rsc"), (f"{PCMK}.1.3", "start"),
        (f"{PCMK}.1.4", "ok"), (f"{PCMK}.1.5", 0), (f"{PCMK}.1.6", 0), (f"{PCMK}.1.7", 7),
        (f"{PCMK}.1.8", "master-db"), (f"{PCMK}.1.9", "100")]
    assert f"{PCMK}.2.1" == snmp.PACEMAKER_TRAP_OID


def test_pacemaker_varbinds_skip_empty_and_none_but_keep_zero() -> None:
    assert snmp.pacemaker_varbinds("node", "n1", "2", "", "", "member", None, None, None,
                                   "", "") == [(f"{PCMK}.1.1", "n1"), (f"{PCMK}.1.4", "member")]
    assert snmp.pacemaker_varbinds("fencing", "", "", "", "", "", 0, -2, None, "", "") == [
        (f"{PCMK}.1.5", 0), (f"{PCMK}.1.6", -2)]


def test_pacemaker_strings_are_cut_to_the_mib_sizes() -> None:
    varbinds = dict(snmp.pacemaker_varbinds(
        "attribute", "n" * 70, "1", "r" * 300, "o" * 65, "d" * 255 + "\u00e9", None, None, None,
        "a" * 257, "\u221e" * 100))
    assert varbinds == {f"{PCMK}.1.1": "n" * 64, f"{PCMK}.1.2": "r" * 256,
                        f"{PCMK}.1.3": "o" * 64,
                        f"{PCMK}.1.4": "d" * 255,  # not half of the two-octet \u00e9
                        f"{PCMK}.1.8": "a" * 256, f"{PCMK}.1.9": "\u221e" * 85}
    exact = snmp.pacemaker_varbinds("node", "n" * 64, "", "", "", "\u00e9" * 128, None, None,
                                    None, "", "")
    assert exact == [(f"{PCMK}.1.1", "n" * 64), (f"{PCMK}.1.4", "\u00e9" * 128)]


def test_undecodable_environment_text_is_replaced() -> None:
    node = b"n\xe9ud".decode("utf-8", errors="surrogateescape")
    [(_, value)] = snmp.pacemaker_varbinds("node", node, "", "", "", "", None, None, None,
                                           "", "")
    assert value == "n?ud"


MIB_FILE = Path("/usr/share/snmp/mibs/PCMK-MIB.txt")  # Debian's pacemaker-common


def test_constants_follow_the_installed_pacemaker_mib() -> None:
    """Our OIDs, resolved again from the MIB text that Pacemaker ships."""
    if not MIB_FILE.exists():
        missing(f"{MIB_FILE} (pacemaker-common) is not installed")
    text = MIB_FILE.read_text().split(";", 1)[1]  # past IMPORTS
    known = {"enterprises": "1.3.6.1.4.1"}
    for name, parent, arc in re.findall(
            r"([A-Za-z][\w-]*)\s+(?:MODULE-IDENTITY|OBJECT-TYPE|NOTIFICATION-TYPE|"
            r"OBJECT IDENTIFIER)\b.*?::=\s*\{\s*([A-Za-z][\w-]*)\s+(\d+)\s*\}", text, re.S):
        known[name] = f"{known[parent]}.{arc}"
    assert known["pacemakerNotificationTrap"] == snmp.PACEMAKER_TRAP_OID
    expected = {"Node": snmp.PCMK_NODE_OID, "Resource": snmp.PCMK_RESOURCE_OID,
                "Operation": snmp.PCMK_OPERATION_OID, "Description": snmp.PCMK_DESCRIPTION_OID,
                "Status": snmp.PCMK_STATUS_OID, "ReturnCode": snmp.PCMK_RETURN_CODE_OID,
                "TargetReturnCode": snmp.PCMK_TARGET_RETURN_CODE_OID,
                "AttributeName": snmp.PCMK_ATTRIBUTE_NAME_OID,
                "AttributeValue": snmp.PCMK_ATTRIBUTE_VALUE_OID}
    assert {name: known[f"pacemakerNotification{name}"] for name in expected} == expected
    sizes = {known[name]: int(size) for name, size in re.findall(
        r"([A-Za-z][\w-]*)\s+OBJECT-TYPE\s+SYNTAX\s+OCTET STRING\s*\(SIZE\s*\(1\.\.(\d+)\)\)",
        text)}
    assert sizes == snmp.PCMK_SIZES


# -- targets ---------------------------------------------------------------------


# The host:port rules themselves are tests/unit/test_alert_hostport.py's.
@pytest.mark.parametrize(("target", "parsed"), [
    ("trapd.example.org", ("trapd.example.org", 162)),
    ("198.51.100.7:1162", ("198.51.100.7", 1162)),
    ("[2001:db8::7]", ("2001:db8::7", 162)),
    ("2001:db8::7", ("2001:db8::7", 162)),
])
def test_parse_target(target: str, parsed: tuple[str, int]) -> None:
    assert snmp.parse_target(target) == parsed


@pytest.mark.parametrize("target", [
    "", ":162", "host:0", "host:65536", "host:abc", "[::1", "[198.51.100.7]:162",
    "2001:db8::zz", "a b", "host:162:1",
])
def test_bad_targets_raise_alert_error_naming_them(target: str) -> None:
    with pytest.raises(AlertError, match=re.escape(repr(target))):
        snmp.parse_target(target)
    with pytest.raises(AlertError, match=re.escape(repr(target))):
        snmp.send_trap(target, "public", snmp.PACEMAKER_TRAP_OID, [])


# -- sending, with a fake resolver and socket --------------------------------------


class FakeSocket:
    sent: list[tuple[int, bytes, object]]
    fail_for: set[int]

    def __init__(self, family: int, kind: int, proto: int) -> None:
        assert kind == socket.SOCK_DGRAM
        self.family = family
        self.timeout: float | None = None

    def __enter__(self) -> FakeSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def settimeout(self, timeout: float) -> None:
        assert timeout > 0
        self.timeout = timeout

    def sendto(self, packet: bytes, address: object) -> int:
        if self.family in self.fail_for:
            raise OSError(101, "Network is unreachable")
        self.sent.append((self.family, packet, address))
        return len(packet)


@pytest.fixture
def fake_net(monkeypatch: pytest.MonkeyPatch) -> type[FakeSocket]:
    class Net(FakeSocket):
        sent: list[tuple[int, bytes, object]] = []  # noqa: RUF012 - per-test class
        fail_for: set[int] = set()  # noqa: RUF012
    lookups: list[tuple[object, ...]] = []

    def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list[object]:
        lookups.append((host, port, kwargs))
        if host == "unknown.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6, socket.SOCK_DGRAM, 17, "", ("::1", port, 0, 0)),
                (socket.AF_INET, socket.SOCK_DGRAM, 17, "", ("127.0.0.1", port))]

    monkeypatch.setattr(snmp.socket, "socket", Net)
    monkeypatch.setattr(snmp.socket, "getaddrinfo", getaddrinfo)
    Net.lookups = lookups  # type: ignore[attr-defined]
    return Net


def test_send_trap_sends_one_datagram(fake_net: type[FakeSocket]) -> None:
    varbinds = snmp.pacemaker_varbinds("resource", "n1", "1", "ast", "stop", "error", 1, -5, 0,
                                       "", "")
    snmp.send_trap("trapd.example.org:1162", "s3cret", snmp.PACEMAKER_TRAP_OID, varbinds)
    assert len(fake_net.sent) == 1
    family, packet, address = fake_net.sent[0]
    assert (family, address) == (socket.AF_INET6, ("::1", 1162, 0, 0))
    fields = decode(packet)
    assert fields["community"] == "s3cret"
    assert 0 <= fields["request_id"] < 2**31  # type: ignore[operator]
    uptime = fields["varbinds"][0][2]  # type: ignore[index]
    assert abs(uptime - snmp.uptime_centiseconds()) < 500
    assert fields["varbinds"][1][2] == snmp.PACEMAKER_TRAP_OID  # type: ignore[index]
    assert [(oid, value) for oid, _, value in fields["varbinds"][2:]] == varbinds  # type: ignore[index]
    host, port, kwargs = fake_net.lookups[0]  # type: ignore[attr-defined]
    assert (host, port) == ("trapd.example.org", 1162)
    assert kwargs["type"] == socket.SOCK_DGRAM


def test_literal_addresses_skip_the_resolver_thread(fake_net: type[FakeSocket]) -> None:
    snmp.send_trap("[::1]:1162", "public", snmp.PACEMAKER_TRAP_OID, [])
    snmp.send_trap("127.0.0.1", "public", snmp.PACEMAKER_TRAP_OID, [])
    flags = [kwargs["flags"] for _, _, kwargs in fake_net.lookups]  # type: ignore[attr-defined]
    assert flags == [socket.AI_NUMERICHOST] * 2


def test_send_trap_falls_back_to_the_next_address(fake_net: type[FakeSocket]) -> None:
    fake_net.fail_for = {socket.AF_INET6}
    snmp.send_trap("localhost", "public", snmp.PACEMAKER_TRAP_OID, [])
    assert [(family, address) for family, _, address in fake_net.sent] == [
        (socket.AF_INET, ("127.0.0.1", 162))]


def test_socket_errors_raise_alert_error(fake_net: type[FakeSocket]) -> None:
    fake_net.fail_for = {socket.AF_INET, socket.AF_INET6}
    with pytest.raises(AlertError, match=r"'trapd:1162' not sent: ::1 port 1162: .*unreachable"
                                         r".*127\.0\.0\.1 port 1162"):
        snmp.send_trap("trapd:1162", "public", snmp.PACEMAKER_TRAP_OID, [])


def test_unresolvable_target_raises_alert_error(fake_net: type[FakeSocket]) -> None:
    with pytest.raises(AlertError, match=r"'unknown.invalid:1162': cannot resolve"):
        snmp.send_trap("unknown.invalid:1162", "public", snmp.PACEMAKER_TRAP_OID, [])
    assert fake_net.sent == []


def test_a_hanging_resolver_meets_the_deadline(monkeypatch: pytest.MonkeyPatch,
                                               fake_net: type[FakeSocket]) -> None:
    def slow(*args: object, **kwargs: object) -> list[object]:
        time.sleep(1.0)
        return []

    monkeypatch.setattr(snmp.socket, "getaddrinfo", slow)
    started = time.monotonic()
    with pytest.raises(AlertError, match=r"'slow.example.org': 'slow.example.org' not resolved"):
        snmp.send_trap("slow.example.org", "public", snmp.PACEMAKER_TRAP_OID, [], timeout=0.2)
    assert time.monotonic() - started < 0.8


def test_bad_values_and_timeouts_raise_alert_error(fake_net: type[FakeSocket]) -> None:
    with pytest.raises(AlertError, match=r"'127.0.0.1'.*OID"):
        snmp.send_trap("127.0.0.1", "public", "not.an.oid", [])
    with pytest.raises(AlertError, match=r"'127.0.0.1'.*Integer32"):
        snmp.send_trap("127.0.0.1", "public", snmp.PACEMAKER_TRAP_OID, [(f"{PCMK}.1.6", 2**31)])
    with pytest.raises(AlertError, match="timeout"):
        snmp.send_trap("127.0.0.1", "public", snmp.PACEMAKER_TRAP_OID, [], timeout=0)
    assert fake_net.sent == []


# -- uptime ----------------------------------------------------------------------


def test_uptime_from_proc_format(tmp_path: Path) -> None:
    uptime = tmp_path / "uptime"
    uptime.write_text("12345.67 23456.78\n")
    assert snmp.uptime_centiseconds(str(uptime)) == 1234567
    uptime.write_text("42949672.96 1.00\n")  # 2**32 centiseconds: TimeTicks wrap to 0
    assert snmp.uptime_centiseconds(str(uptime)) == 0


def test_uptime_without_proc(tmp_path: Path) -> None:
    boot = time.clock_gettime(time.CLOCK_BOOTTIME)
    value = snmp.uptime_centiseconds(str(tmp_path / "missing"))
    assert abs(value - int(boot * 100) % 2**32) < 100
