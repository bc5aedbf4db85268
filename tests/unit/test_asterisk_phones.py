"""After a promote the phones' contacts are qualified once the service
address is up: which endpoints, what is sent, how the wait is bounded, and
that the work outlives the agent."""

from __future__ import annotations

import time

from ocf_agents.clients.asterisk_phones import endpoints_with_contacts, refresh, refresh_when_up
from sipha_runtime import local_addresses
from tests.unit.test_qdevice import FIB_TRIE

# Asterisk 22's answer, trimmed (tests/integration has the live one).
ENDPOINTS = """
 Endpoint:  <Endpoint/CID.....................................>  <State.....>  <Channels.>
      Contact:  <Aor/ContactUri..........................> <Hash....> <Status> <RTT(ms)..>
==========================================================================================

 Endpoint:  100                                                  Unavailable   0 of inf
        Aor:  100                                                1
      Contact:  100/sip:100@198.51.100.50:5060             6930e193d2 Unavail        -nan
      Contact:  100/sip:100@198.51.100.51:5060             6930e193d3 Unavail        -nan

 Endpoint:  101/"Reception" <101>                                Unavailable   0 of inf
        Aor:  101                                                1
      Contact:  101/sip:101@198.51.100.52:5060;transport=tcp 1234567890 Avail   1.2

 Endpoint:  102                                                  Unavailable   0 of inf
        Aor:  102                                                1

 Endpoint:  bad;name                                             Unavailable   0 of inf
      Contact:  bad/sip:x@198.51.100.53:5060               1234567891 Unavail        -nan

Objects found: 4
"""


class Console:
    timeout = 3.0

    def __init__(self) -> None:
        self.commands: list[str] = []

    def command(self, text: str, timeout: float | None = None) -> str:
        self.commands.append(text)
        return ENDPOINTS if text == "pjsip show endpoints" else ""


def test_endpoints_with_contacts():
    assert endpoints_with_contacts(ENDPOINTS) == ["100", "101", "bad;name"]


def test_refresh_qualifies_then_notifies_plain_names_only():
    console = Console()
    summary = refresh(console, "sipha-resync", ["100", "x y"])
    assert console.commands == ["pjsip show endpoints", "pjsip qualify 100",
                                "pjsip qualify 101",
                                "pjsip send notify sipha-resync endpoint 100"]
    assert summary == ("qualified the contacts of 2 endpoint(s), asked 1 endpoint(s) to "
                       "re-register (sipha-resync)")


def test_an_address_counts_once_the_kernel_lists_it_here(monkeypatch):
    """A secondary address (a service address in the node's own subnet) too:
    the source address the kernel picks for it is the primary one, which is
    how the first version missed it on every test cluster."""
    assert local_addresses.first_held(["198.51.100.254", "127.0.0.1"]) == "127.0.0.1"
    assert local_addresses.first_held(["198.51.100.254", "not an address"]) is None
    # A node whose eth0 has 198.51.100.11/24 and the service address as a secondary.
    monkeypatch.setattr(local_addresses, "_read",
                        lambda path: FIB_TRIE if path == local_addresses.FIB_TRIE else "")
    assert local_addresses.first_held(["198.51.100.100"]) == "198.51.100.100"
    assert local_addresses.first_held(["198.51.100.12"]) is None


def test_the_refresh_waits_for_the_address_and_gives_up_in_time(monkeypatch):
    up_at = time.monotonic() + 0.3
    monkeypatch.setattr(local_addresses, "first_held",
                        lambda addresses: "198.51.100.100" if "198.51.100.100" in addresses
                        and time.monotonic() >= up_at else None)
    console = Console()
    done, message = refresh_when_up(console, ("2001:db8::100", "198.51.100.100"), "", [],
                                    timeout=5)
    assert done and time.monotonic() >= up_at
    assert message.startswith("qualified the contacts of 2 endpoint(s) once 198.51.100.100 "
                              "was up (0.")
    console.commands.clear()
    started = time.monotonic()
    done, message = refresh_when_up(console, ("198.51.100.9",), "", [], timeout=0.2)
    assert not done and time.monotonic() - started < 2
    assert message == ("phones not refreshed: no service address (198.51.100.9) came up "
                       "within 0.2s")
    assert console.commands == []
