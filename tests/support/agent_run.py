"""What one run of an OCF agent gave: exit code, output, exit reason, time."""

from __future__ import annotations

import subprocess


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
