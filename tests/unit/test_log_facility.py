"""The agents' log: HA_LOGFACILITY names a syslog(3) facility from the one
table (sipha_runtime.log.SYSLOG_FACILITIES) the alert agent also reads."""

from __future__ import annotations

import io
import syslog

import pytest

from sipha_runtime.log import SYSLOG_FACILITIES, Logger


@pytest.mark.parametrize("name", ["daemon", "local0", "local7", "user", "authpriv", "cron"])
def test_the_facility_is_syslogs_own_constant(name: str, monkeypatch) -> None:
    monkeypatch.setattr(syslog, "openlog", lambda *args: None)
    log = Logger("asterisk", "pbx", {"HA_LOGFACILITY": name.upper()}, stderr=io.StringIO())
    assert log.facility == getattr(syslog, f"LOG_{name.upper()}")
    assert SYSLOG_FACILITIES[name] << 3 == log.facility


def test_no_or_an_unknown_facility_is_no_syslog() -> None:
    for environ in ({}, {"HA_LOGFACILITY": "none"}):
        assert Logger("asterisk", "pbx", environ, stderr=io.StringIO()).facility is None
