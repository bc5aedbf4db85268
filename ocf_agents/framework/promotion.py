"""Values an agent publishes to Pacemaker (transient node attributes and its
promotion score), sent only when they change.

A failed update is retried at most once every RETRY_AFTER seconds: outside a
cluster, as under ocf-tester, every attempt fails and would cost each monitor
50 ms, and the warning would fill the log.
"""

from __future__ import annotations

import os
import time

from ocf_agents.framework.ocf import Context, OCFError
from sipha_runtime.run import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Write = Callable[[str, str], None]
    # (name, published value, new value): True when the change is not worth a call
    Close = Callable[[str, str, str], bool]

RETRY_AFTER = 60
SCORE = "promotion-score"
# Seconds an informational attribute waits in attrd before it is written to
# the CIB (attrd_updater -d); attrd_updater -Q answers at once.
DAMPEN = 2


def _attribute(ctx: Context, delay: float | None = None, private: bool = False) -> Write:
    def write(name: str, value: str) -> None:
        if value:
            ctx.attrs.set(name, value, delay=delay, private=private)
        else:
            ctx.attrs.delete(name)
    return write


def dampened(ctx: Context) -> Write:
    """For what people and monitoring read (measurements, why a node is
    degraded): a change written to the CIB at once, in the middle of a
    failover, aborts its transition (Pacemaker waits for the actions in
    flight and schedules the rest anew, 0.05-0.1 s on a planned move's
    path); DAMPEN seconds later the failover is over."""
    return _attribute(ctx, delay=DAMPEN)


def private(ctx: Context) -> Write:
    """For attributes only the agents read: attrd keeps them and never writes
    them to the CIB, where every attribute change aborts the transition in
    flight (Pacemaker waits for its running actions, then schedules anew)."""
    return _attribute(ctx, private=True)


def promoted_node(ctx: Context) -> str | None:
    """Where this clone's promoted instance runs now, as the cluster says
    (``crm_resource --locate``); None when nowhere.  CommandError when the
    cluster cannot say."""
    argv = [ctx.pacemaker_tool("crm_resource"), "--locate", "--resource", ctx.resource,
            "--output-as", "xml"]
    result = ctx.run.run(argv, timeout=5)
    if not result.ok:
        raise CommandError(f"crm_resource --locate: {result.summary()}")
    # <node state="promoted">node1</node> (Pacemaker 2.1.5 and 3.0 alike)
    for raw in result.stdout.splitlines():
        line = raw.strip()
        if line.startswith('<node state="promoted">') and line.endswith("</node>"):
            return line[len('<node state="promoted">'):-len("</node>")] or None
    return None


def _score(ctx: Context) -> Write:
    def write(_name: str, value: str) -> None:
        if value:
            ctx.attrs.set_promotion_score(int(value))
        else:
            ctx.attrs.clear_promotion_score()
    return write


def _read(cache: str) -> dict[str, tuple[str, float]]:
    before: dict[str, tuple[str, float]] = {}
    try:
        with open(cache, encoding="utf-8") as handle:
            for line in handle:
                name, value, failed = [*line.rstrip("\n").split("\t"), "", ""][:3]
                before[name] = (value, float(failed or 0))
    except (FileNotFoundError, ValueError):
        pass
    return before


def publish(ctx: Context, values: dict[str, str | None], cache: str | None = None,
            write: Write | None = None, close: Close | None = None) -> dict[str, str]:
    """Set (or with None delete) node attributes, calling Pacemaker only for a
    change (and, with CLOSE, only for one CLOSE does not call too small).
    CACHE defaults to the agent's "attrs" state file. Returns what was
    published before."""
    cache = cache or ctx.state_file("attrs")
    write = write or _attribute(ctx)
    before = _read(cache)
    now, after = time.time(), dict(before)
    for name, value in values.items():
        text = value or ""
        old, failed = before.get(name, ("", 0.0))
        if text == old and (not failed or now - failed < RETRY_AFTER):
            continue
        if name not in before and not text:
            continue
        if (close is not None and old and text and close(name, old, text)
                and (not failed or now - failed < RETRY_AFTER)):
            continue
        try:
            write(name, text)
        except (OCFError, CommandError) as err:
            if not failed:
                ctx.log.warning(f"{err.reason} (retrying within a minute)")
            after[name] = (text, now)
        else:
            after[name] = (text, 0.0)
    if after != before:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with open(cache, "w", encoding="utf-8") as handle:
            for name, (value, failed) in after.items():
                handle.write(f"{name}\t{value}\t{failed:.0f}\n" if failed else
                             f"{name}\t{value}\t\n")
    return {name: value for name, (value, _) in before.items()}


def set_score(ctx: Context, score: int | None) -> None:
    """Publish this resource's promotion score (None: withdraw it)."""
    publish(ctx, {SCORE: None if score is None else str(score)},
            ctx.state_file("score"), _score(ctx))


def promoted_marker(ctx: Context) -> str:
    """The file that says, from promote to demote or stop, that this node
    holds the promoted role."""
    return ctx.state_file("promoted")


def is_promoted(ctx: Context) -> bool:
    return os.path.exists(promoted_marker(ctx))
