"""``holds-address ADDRESS...``: exit 0 when one of the addresses is
configured on this host (its network namespace), 1 when none is, 2 on a
bad argument.

corosync-qdevice runs it as the quorum device's heuristic
(``exec_sipactive``, ``cib_templates.qdevice``) on every membership change,
with the service addresses: in a split where both halves still reach the
qnetd, the half holding a service address (the SIP-ACTIVE node) passes and
gets the vote.  It reads the kernel's own lists instead of trying to bind
the address, which ``net.ipv4.ip_nonlocal_bind = 1`` (common beside
HAProxy or keepalived) would let succeed anywhere: ``/proc/net/fib_trie``
marks each local IPv4 address ``/32 host LOCAL``, ``/proc/net/if_inet6``
lists each IPv6 one.  Standard library only (``socket``, ``sys``), started
with ``python3 -IS``: it runs within the sync's deadline.
"""

from __future__ import annotations

import socket
import sys

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


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:  # no IPv6 in this kernel
        return ""


def _packed(text: str) -> tuple[int, bytes] | None:
    address = text.partition("/")[0]
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return family, socket.inet_pton(family, address)
        except OSError:
            continue
    return None


def main(argv: list[str]) -> int:
    wanted = [_packed(arg) for arg in argv]
    if not argv or None in wanted:
        bad = next((arg for arg, packed in zip(argv, wanted, strict=True) if packed is None),
                   None)
        print(f"holds-address: {bad!r} is not an IP address" if bad is not None else
              "usage: holds-address ADDRESS... (exit 0: one is configured here)",
              file=sys.stderr)
        return 2
    families = {family for family, _ in filter(None, wanted)}
    here = ((local_ipv4(_read(FIB_TRIE)) if socket.AF_INET in families else set())
            | (local_ipv6(_read(IF_INET6)) if socket.AF_INET6 in families else set()))
    return 0 if any(packed in here for _, packed in filter(None, wanted)) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
