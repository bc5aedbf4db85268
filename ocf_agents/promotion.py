"""Promotion scores of promotable agents, published only when they change."""

from __future__ import annotations

import os
import time

from ocf_agents.ocf import Context, OCFError


def set_score(ctx: Context, score: int | None, cache: str) -> None:
    """Publish the promotion score (None: withdraw it), skipping the call when
    CACHE says nothing changed.

    A failed update is retried at most once a minute (outside a cluster, as
    under ocf-tester, every attempt fails and would cost each monitor 50 ms).
    """
    text = "" if score is None else str(score)
    try:
        with open(cache, encoding="ascii") as handle:
            cached = handle.read()
    except FileNotFoundError:
        cached = None if score is not None else ""
    if cached == text:
        return
    if cached and cached.startswith(f"!{text}@") and \
            time.time() - float(cached.rsplit("@", 1)[1]) < 60:
        return
    try:
        if score is None:
            ctx.attrs.clear_promotion_score()
        else:
            ctx.attrs.set_promotion_score(score)
    except OCFError as err:
        ctx.log.warning(f"{err.reason} (retrying within a minute)")
        text = f"!{text}@{time.time():.0f}"
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache, "w", encoding="ascii") as handle:
        handle.write(text)
