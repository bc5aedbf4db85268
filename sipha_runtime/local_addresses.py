"""Which IP addresses are configured on this host (its network namespace),
from the kernel's own lists.

Not a bind test, which ``net.ipv4.ip_nonlocal_bind = 1`` (common beside
HAProxy or keepalived) lets succeed anywhere, nor the source address of a
connected socket, which for a secondary address (a service address in the
node's own subnet) is the subnet's primary one: ``/proc/net/fib_trie`` marks
each local IPv4 address ``/32 host LOCAL``, ``/proc/net/if_inet6`` lists
each IPv6 one.  Standard library only (``socket``): the quorum device's
heuristic runs it under ``python3 -IS``.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

FIB_TRIE = "/proc/net/fib_trie"
IF_INET6 = "/proc/net/if_inet6"
# An IPv6 address whose duplicate address detection failed is another host's.
DADFAILED = 0x08


def local_ipv4(fib_trie: str) -> set[bytes]:
    """The addresses fib_trie shows as local: a leaf '|-- ADDRESS' followed
    by its '/32 host LOCAL' line."""
    found, leaf = set(), ""
    for line in fib_trie.splitlines():
        words = line.split()
        if words[:1] == ["|--"] and len(words) == 2:
            leaf = words[1]
        elif words[:3] == ["/32", "host", "LOCAL"] and leaf:
            found.add(socket.inet_pton(socket.AF_INET, leaf))
    return found


def local_ipv6(if_inet6: str) -> set[bytes]:
    """if_inet6's addresses (32 hex digits, index, prefix, scope, flags, name)."""
    found = set()
    for line in if_inet6.splitlines():
        words = line.split()
        if len(words) == 6 and not int(words[4], 16) & DADFAILED:
            found.add(bytes.fromhex(words[0]))
    return found


def packed(text: str) -> tuple[int, bytes] | None:
    """TEXT ("ADDRESS" or "ADDRESS/PREFIX") as (family, packed address); None
    when it is no IP address."""
    address = text.partition("/")[0]
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return family, socket.inet_pton(family, address)
        except OSError:
            continue
    return None


def first_held(addresses: Sequence[str]) -> str | None:
    """The first of ADDRESSES configured here (None: none is, or none is an
    IP address)."""
    wanted = [(text, packed(text)) for text in addresses]
    families = {found[0] for _, found in wanted if found}
    here = ((local_ipv4(_read(FIB_TRIE)) if socket.AF_INET in families else set())
            | (local_ipv6(_read(IF_INET6)) if socket.AF_INET6 in families else set()))
    return next((text for text, found in wanted if found and found[1] in here), None)


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:  # no IPv6 in this kernel
        return ""
