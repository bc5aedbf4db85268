"""The one skip policy of the integration and cluster layers: a real
component that is missing (a daemon, root, a package) fails the test, since
a skipped test proves nothing and CI must not turn green without it.  A
developer who knows a part is absent opts in with SIPHA_ALLOW_SKIP=1."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

OPT_IN = "SIPHA_ALLOW_SKIP"


def missing(why: str) -> NoReturn:
    """Fail (or, with SIPHA_ALLOW_SKIP=1, skip) because WHY."""
    if os.environ.get(OPT_IN) == "1":
        pytest.skip(why)
    pytest.fail(f"{why} (set {OPT_IN}=1 to skip what needs it)", pytrace=False)


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        missing(f"{what} need root")
