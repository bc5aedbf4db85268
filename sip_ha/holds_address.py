"""``holds-address ADDRESS...``: exit 0 when one of the addresses is
configured on this host (its network namespace), 1 when none is, 2 on a
bad argument.

corosync-qdevice runs it as the quorum device's heuristic
(``exec_sipactive``, ``cib_templates.qdevice``) on every membership change,
with the service addresses: in a split where both halves still reach the
qnetd, the half holding a service address (the SIP-ACTIVE node) passes and
gets the vote.  What is configured here comes from the kernel's own lists
(``sipha_runtime.local_addresses``).  Standard library only, started with
``python3 -IS``: it runs within the sync's deadline.
"""

from __future__ import annotations

import sys

from sipha_runtime.local_addresses import first_held, packed


def main(argv: list[str]) -> int:
    bad = next((arg for arg in argv if packed(arg) is None), None)
    if not argv or bad is not None:
        print(f"holds-address: {bad!r} is not an IP address" if bad is not None else
              "usage: holds-address ADDRESS... (exit 0: one is configured here)",
              file=sys.stderr)
        return 2
    return 0 if first_held(argv) is not None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
