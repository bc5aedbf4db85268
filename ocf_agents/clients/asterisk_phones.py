"""Phones reachable the moment the service address is up on a new active.

A standby's Asterisk keeps qualifying the contacts it held when it was
active (or imported), from a service address it does not own; those
qualifies fail and the contacts are marked unavailable, so after a promote
Asterisk refuses to ring them until its next qualify, up to a minute later.
Anything sent to phones during promote fails the same way: the address
comes up only after the promote (CIB order).

So promote leaves a short-lived child behind that waits (bounded) until one
of the service addresses is configured here, then qualifies every endpoint that has
contacts (their state is fresh within one round trip) and, if configured,
sends the re-register NOTIFY.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ocf_agents.clients.asterisk_cli import AsteriskCli, AsteriskError
from sipha_runtime import local_addresses

WAIT_FOR_ADDRESS = 30.0
POLL = 0.05


def wait_for_address(addresses: Sequence[str], timeout: float) -> str | None:
    """The first of ADDRESSES that is configured here within TIMEOUT seconds
    (None: none)."""
    deadline = time.monotonic() + timeout
    while True:
        held = local_addresses.first_held(addresses)
        if held is not None:
            return held
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL)


def endpoints_with_contacts(output: str) -> list[str]:
    """Endpoint names from ``pjsip show endpoints`` that have a contact."""
    found: list[str] = []
    current = None
    for line in output.splitlines():
        words = line.split()
        if words[:1] == ["Endpoint:"] and len(words) > 1 and not words[1].startswith("<"):
            current = words[1].split("/", 1)[0]
        elif (words[:1] == ["Contact:"] and current and not words[1].startswith("<")
              and current not in found):
            found.append(current)
    return found


def plain(name: str) -> bool:
    """A name that cannot add words to a CLI command."""
    return bool(name) and all(c.isalnum() or c in "-_.+@" for c in name)


def refresh(cli: AsteriskCli, notify: str, notify_endpoints: Sequence[str]) -> str:
    """Qualify every endpoint with contacts, then NOTIFY NOTIFY_ENDPOINTS
    (if NOTIFY is set). Returns a summary for the log."""
    endpoints = [name for name in endpoints_with_contacts(cli.command("pjsip show endpoints"))
                 if plain(name)]
    for name in endpoints:
        cli.command(f"pjsip qualify {name}")
    summary = f"qualified the contacts of {len(endpoints)} endpoint(s)"
    if notify:
        sent = [name for name in notify_endpoints if plain(name)]
        for name in sent:
            cli.command(f"pjsip send notify {notify} endpoint {name}")
        summary += f", asked {len(sent)} endpoint(s) to re-register ({notify})"
    return summary


def refresh_when_up(cli: AsteriskCli, addresses: Sequence[str], notify: str,
                    notify_endpoints: Sequence[str],
                    timeout: float = WAIT_FOR_ADDRESS) -> tuple[bool, str]:
    """What the child does: wait for an address, then refresh. Returns
    whether it did, and what to log."""
    started = time.monotonic()
    address = wait_for_address(addresses, timeout) if addresses else None
    if addresses and address is None:
        return False, (f"phones not refreshed: no service address ({' '.join(addresses)}) "
                       f"came up within {timeout:g}s")
    waited = time.monotonic() - started
    try:
        summary = refresh(cli, notify, notify_endpoints)
    except AsteriskError as err:
        return False, f"phones not refreshed: {err}"
    return True, summary + (f" once {address} was up ({waited:.2f}s after promote)"
                            if address else "")
