"""The one skip policy of every test layer: a real component that is
missing (a daemon, root, a host package) fails the test, since a skipped
test proves nothing and CI must not turn green without it.  A run that
knows a part is absent opts in with SIPHA_ALLOW_SKIP=1: ``make unit`` and
``make check`` do (the fast loop needs no apt), ``make test`` does not."""

from __future__ import annotations

import glob
import os
import shutil
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
        missing(f"{what}: needs root")


def require_pacemaker_tools() -> None:
    """Pacemaker's schemas, crm_verify and crm_simulate (pacemaker-cli-utils)."""
    from cib_templates import validate
    from tests.support.scheduler import CRM_SIMULATE

    if not (glob.glob(os.path.join(validate.SCHEMA_DIR, "pacemaker-*.rng"))
            and os.access(validate.CRM_VERIFY, os.X_OK) and shutil.which(CRM_SIMULATE)):
        missing("Pacemaker's schemas, crm_verify and crm_simulate (pacemaker-cli-utils) "
                "are not installed")
