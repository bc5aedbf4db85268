"""Unit tests that read a real Pacemaker tool say so with a marker; the one
skip policy (tests/support/missing.py) decides what a missing one means."""

from __future__ import annotations

import pytest

from tests.support.missing import require_pacemaker_tools


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("pacemaker_tools"):
        require_pacemaker_tools()


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch):
    """For the sip-ha CLI tests: the command line runs FAKE (a FakeRunner)
    instead of real commands, and records no history."""
    from sip_ha import tools

    def install(fake):
        monkeypatch.setattr(tools, "runner", lambda seconds: fake)
        monkeypatch.setattr("sip_ha.history.record", lambda message: None)
        # Its cluster runs the parameter file's Corosync timing; reading each
        # node's is tested in test_corosync_timing.py.
        monkeypatch.setattr("sip_ha.corosync.survey", lambda *args, **kwargs: ())
        return fake
    return install
