from __future__ import annotations

import subprocess
import sys


def test_the_cli_and_syncer_do_not_import_watchdog_until_watching() -> None:
    code = ("import sys, sync_helper.cli, sync_helper.syncer, sync_helper.service; "
            "print('watchdog' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
