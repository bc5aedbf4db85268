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
        # Its cluster runs the parameter file's Corosync timing and quorum
        # device; reading each node's is tested in test_corosync_timing.py
        # and test_qdevice.py.
        monkeypatch.setattr("sip_ha.corosync.local_name", lambda runner: "node1")
        monkeypatch.setattr("sip_ha.corosync.survey", lambda *args, **kwargs: ())
        monkeypatch.setattr("sip_ha.corosync.cmapctl", lambda runner, argv, node, local: ("", None))
        monkeypatch.setattr("sip_ha.corosync.attend", lambda params, state, local, shown: state)
        no_device_work(monkeypatch)
        return fake
    return install


def no_device_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cluster runs the quorum device the parameter file describes."""
    from sip_ha import qdevice

    monkeypatch.setattr(qdevice, "attend", lambda runner, params, state, local, shown: state)
    monkeypatch.setattr(qdevice, "pending", lambda runner, params, live, local, here: (
        qdevice.Pending(qdevice.Wanted.of(params), None, [], ())))


def _stderr_apart_as_in_click_8_2() -> None:
    """Debian 12's click 8.1 mixes stderr into a CliRunner's stdout unless told
    not to; the tests read the streams as click 8.2 gives them (``stdout``,
    ``stderr``, and ``output`` both)."""
    import inspect

    from click import testing

    if "mix_stderr" not in inspect.signature(testing.CliRunner.__init__).parameters:
        return
    init = testing.CliRunner.__init__

    def apart(self: testing.CliRunner, *args: object, **kwargs: object) -> None:
        init(self, *args, **{"mix_stderr": False, **kwargs})  # type: ignore[arg-type]

    testing.CliRunner.__init__ = apart  # type: ignore[method-assign]
    testing.Result.output = property(  # type: ignore[method-assign,assignment]
        lambda self: self.stdout + (self.stderr if self.stderr_bytes is not None else ""))


_stderr_apart_as_in_click_8_2()
