"""What one run of an OCF agent gave: exit code, output, exit reason, time."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


class AgentRun:
    def __init__(self, proc: subprocess.CompletedProcess[str], elapsed: float) -> None:
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.elapsed = elapsed

    @property
    def reason(self) -> str:
        for line in self.stderr.splitlines():
            if line.startswith("ocf-exit-reason:"):
                return line.split(":", 1)[1]
        return ""


def run_agent(ocf_root: Path, agent: str, action: str, env: dict[str, str],
              timeout: float = 60) -> AgentRun:
    """Run the installed agent as Pacemaker does: the action its only argument."""
    started = time.monotonic()
    proc = subprocess.run([str(ocf_root / "resource.d" / "sipha" / agent), action], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    return AgentRun(proc, time.monotonic() - started)
