"""Measurements published as transient node attributes, for
prometheus-hacluster-exporter (``ha_cluster_pacemaker_node_attributes``)
and ``crm_mon -A``: the SIP round-trip time, the file sync lag and the
last takeover with the outage it ended.

A measurement's unit is the last word of its name (``-ms``, ``-s``).  It is
published through the agents' one attribute cache (``promotion.publish``)
only when it moved meaningfully from the published value: by more than
20 % or the unit's step (5 ms, 10 s), so a monitor whose value did not move
costs no ``attrd_updater`` call, and the exporter, which shows each value as
a label, is not handed a new series per monitor.  The published value thus
stays within that margin of the last measurement.  For a lag, 0 (in sync)
is a state of its own: reaching it or leaving it is always published.
"""

from __future__ import annotations

import os
import time

from ocf_agents.framework import promotion
from ocf_agents.framework.ocf import Context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ocf_agents.clients.sip_options import Answer

RELATIVE = 0.2
STEPS = {"-ms": 5.0, "-s": 10.0}
# A takeover counts a peer's release as the start of its outage only if the
# release is this recent: an older one belongs to an earlier move.
RELEASE_WINDOW = 300
# How long the monitors after a takeover look for a release that had not
# reached this node's attrd when the start ran.
PENDING_FOR = 60


def close(name: str, old: str, new: str) -> bool:
    """Whether NEW is too near the published OLD to be worth a call."""
    step = next((s for unit, s in STEPS.items() if name.endswith(unit)), None)
    if step is None:
        return False
    try:
        before, after = float(old), float(new)
    except ValueError:
        return False
    if name.endswith("-lag-s") and (before == 0) != (after == 0):
        return False
    return abs(after - before) <= max(step, RELATIVE * before)


def publish(ctx: Context, values: dict[str, str | None],
            dampened: bool = False) -> dict[str, str]:
    """promotion.publish with the margin above; DAMPENED: see promotion.dampened."""
    write = promotion.dampened(ctx) if dampened else None
    return promotion.publish(ctx, values, write=write, close=close)


# The names, built here only: the agents publish through them and ``sip-ha
# status`` reads through them.  RESOURCE is the primitive's id.


def rtt_name(resource: str) -> str:
    return f"sipha-{resource}-sip-rtt-ms"


# The last word of the file sync's lag behind a peer, after sipha-RESOURCE-PEER-
# (ocf_agents.filesync.HEALTH_WORDS, cib_templates.render.sync_attribute).
SYNC_LAG_WORD = "sync-lag-s"


def takeover_names(resource: str) -> tuple[str, str]:
    """The service address's last arrival on a node (UTC) and the outage it ended (s)."""
    return f"sipha-{resource}-last-takeover", f"sipha-{resource}-last-outage-s"


def rtt_attribute(ctx: Context) -> str:
    return rtt_name(ctx.resource)


def publish_rtt(ctx: Context, answers: Sequence[Answer]) -> None:
    """The slowest answer of the SIP check, in whole milliseconds."""
    if answers:
        slowest = max(answer.rtt for answer in answers)
        # Measured on every node in every monitor, also in a failover's midst.
        publish(ctx, {rtt_attribute(ctx): str(round(slowest * 1000))}, dampened=True)


def lag_seconds(in_sync: bool, last_ok: float | None, now: float) -> str | None:
    """A sync lag: 0 in sync, else the time since the last success (None:
    no success known yet)."""
    if in_sync:
        return "0"
    return None if last_ok is None else str(max(0, round(now - last_ok)))


# --------------------------------------------------------------------------
# Takeovers: who can know an outage's length


def release_attribute(ctx: Context) -> str:
    """Set by service-ip's stop on the node the address leaves."""
    return f"sipha-{ctx.resource}-left-at"


def takeover_attributes(ctx: Context) -> tuple[str, str]:
    return takeover_names(ctx.resource)


def released(ctx: Context, when: float) -> None:
    """Called when this node stops being the active one, WHEN it began to
    stop.  Private: recorded in the middle of a move, it must not make
    Pacemaker schedule the move's remaining steps anew."""
    promotion.publish(ctx, {release_attribute(ctx): f"{when:.1f}"},
                      write=promotion.private(ctx))


def took_over(ctx: Context) -> None:
    """Called when this node has become the active one: the time (UTC), and
    the outage from the previous active's release (its stop or demote) to
    now.  attrd spreads the release asynchronously: if it has not reached
    this node when the start asks, the monitors ask again (settle_outage).
    Without a release elsewhere (the previous active crashed or was fenced,
    and its attributes went with it; or there was none) no node knows when
    service stopped, and the outage attribute is removed."""
    now = time.time()
    outage = _outage(ctx, now)
    when, length = takeover_attributes(ctx)
    from ocf_agents.framework.reminder import utc

    promotion.publish(ctx, {when: utc(now), length: outage})
    pending = _pending_file(ctx)
    if outage is None:
        with open(pending, "w", encoding="ascii") as handle:
            handle.write(f"{now:.1f}\n")
    else:
        forget_takeover(ctx)


def settle_outage(ctx: Context) -> None:
    """A monitor's: the outage of a takeover whose release had not reached
    this node when it started, once it has (given up after PENDING_FOR)."""
    path = _pending_file(ctx)
    try:
        with open(path, "rb") as handle:
            at = float(handle.read())
    except FileNotFoundError:
        return
    except ValueError:
        forget_takeover(ctx)
        return
    outage = _outage(ctx, at)
    if outage is not None:
        promotion.publish(ctx, {takeover_attributes(ctx)[1]: outage})
    if outage is not None or time.time() - at > PENDING_FOR:
        forget_takeover(ctx)


def forget_takeover(ctx: Context) -> None:
    try:
        os.unlink(_pending_file(ctx))
    except FileNotFoundError:
        pass


def _pending_file(ctx: Context) -> str:
    return ctx.state_file("takeover")


def _outage(ctx: Context, at: float) -> str | None:
    """Seconds from the latest release of the service (within RELEASE_WINDOW
    before AT, by any node: this one's own when the address restarted here)
    to AT; None when nobody released it then.  Each release counts once: the
    takeover that used it removes it, so a later takeover after a crash
    does not count an older move's release as the start of its outage."""
    releases: dict[str, float] = {}
    for node, value in ctx.attrs.everywhere(release_attribute(ctx)).items():
        try:
            stamp = float(value)
        except ValueError:
            continue
        if at - RELEASE_WINDOW <= stamp <= at:
            releases[node] = stamp
    if not releases:
        return None
    for node in releases:
        ctx.attrs.delete_on(release_attribute(ctx), node)
    return f"{at - max(releases.values()):.1f}"
