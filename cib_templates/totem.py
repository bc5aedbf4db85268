"""Corosync's totem timing as the parameter file owns it: what each node
must run, and the one command that sets it on every node.

Corosync adds ``token_coefficient`` (650 ms unless set) per node above two
to the token it runs (``runtime.config.totem.token``), and takes 1.2 times
that as the consensus timeout when none is written.  SIP-HA always writes
both, so the consensus a node runs is the parameter file's.
"""

from __future__ import annotations

TOKEN_COEFFICIENT = 650
TOKEN_RANGE = (200, 60_000)
CONSENSUS_MAX = 120_000
PCS = "/usr/sbin/pcs"


def running_token(token: int, members: int, coefficient: int = TOKEN_COEFFICIENT) -> int:
    """The token Corosync runs with MEMBERS nodes in its nodelist."""
    return token + max(0, members - 2) * coefficient


def default_consensus(token: int, members: int) -> int:
    """What Corosync would take (1.2 x the token it runs), in whole ms."""
    return int(1.2 * running_token(token, members))


def update_argv(token: int, consensus: int, pcs: str = PCS) -> list[str]:
    """pcs (0.11 and 0.12) writes corosync.conf on every node through pcsd
    and reloads Corosync there (corosync-cfgtool -R); the cluster keeps
    running."""
    return [pcs, "cluster", "config", "update", "totem", f"token={token}",
            f"consensus={consensus}"]
