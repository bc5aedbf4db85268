"""Unit tests that read a real Pacemaker tool say so with a marker; the one
skip policy (tests/support/missing.py) decides what a missing one means."""

from __future__ import annotations

import pytest

from tests.support.missing import require_pacemaker_tools


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("pacemaker_tools"):
        require_pacemaker_tools()
