"""Real Asterisk 22 nodes in a sid container, driven through the installed agent."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.asterisk import AMI_SECRET, AsteriskSetup
from tests.support.container import Container

AGENT = "/usr/lib/ocf/resource.d/sipha/asterisk"
REGISTRAR = "127.0.0.2:5070"
# No cluster in the container: where an agent asks Pacemaker (crm_resource),
# a script first on its PATH answers (show_promoted).
FAKE_BIN = "/tmp/sipha-fake-bin"
AGENT_PATH = f"{FAKE_BIN}:/usr/sbin:/usr/bin:/sbin:/bin"


def show_promoted(box: Container, node: str) -> None:
    """The cluster shows the promoted instance on NODE (what a standby asks
    before it pulls the astdb families from there)."""
    answer = ("<pacemaker-result>\n  <nodes>\n"
              f'    <node state="promoted">{node}</node>\n  </nodes>\n</pacemaker-result>')
    box.write(f"{FAKE_BIN}/crm_resource",
              f'#!/bin/sh\ncase "$*" in *--locate*) cat <<EOF\n{answer}\nEOF\n;; esac\n')
    box.path(f"{FAKE_BIN}/crm_resource").chmod(0o755)


class Node:
    """One Asterisk in the container and the agent that runs it."""

    def __init__(self, box: Container, name: str, address: str = "127.0.0.1",
                 eid: int = 1, **extra: str) -> None:
        self.box = box
        self.setup = AsteriskSetup(box.path(f"/tmp/{name}"), address, REGISTRAR,
                                   inside=f"/tmp/{name}", eid=eid)
        box.run(["chown", "-R", "asterisk:asterisk", f"/tmp/{name}"], check=True)
        # The manager secret as a deployment keeps it: a root-only file, not a parameter.
        self.secret_file = f"/tmp/{name}/ami.secret"
        secret = box.path(self.secret_file)
        secret.unlink(missing_ok=True)  # an earlier test's, chowned to asterisk just now
        secret.write_text(f"{AMI_SECRET}\n")
        secret.chmod(0o600)
        self.params = {k: v for k, v in self.setup.params(**extra).items() if k != "ami_secret"}
        self.params.setdefault("ami_secret_file", self.secret_file)
        self.instance = name

    def env(self, **extra: str) -> dict[str, str]:
        values = {**self.params, **extra}
        env = {f"OCF_RESKEY_{k}": v for k, v in values.items()}
        env.update({"OCF_ROOT": "/usr/lib/ocf", "OCF_RESOURCE_INSTANCE": self.instance,
                    "HA_RSCTMP": "/run/resource-agents", "PATH": AGENT_PATH})
        return env

    def agent(self, action: str, *, level: int = 0, meta: dict[str, str] | None = None,
              **extra: str) -> tuple[int, str, float]:
        env = self.env(**extra)
        env["OCF_CHECK_LEVEL"] = str(level)
        env.update({f"OCF_RESKEY_CRM_meta_{k}": v for k, v in (meta or {}).items()})
        started = time.monotonic()
        result = self.box.run([AGENT, action], env=env)
        self.last_stderr = result.stderr
        reason = next((line.split(":", 1)[1] for line in result.stderr.splitlines()
                       if line.startswith("ocf-exit-reason:")), "")
        return result.returncode, reason, time.monotonic() - started

    def rx(self, command: str) -> str:
        return self.box.run(["asterisk", "-C", self.setup.config, "-rx", command]).stdout

    def pid(self) -> int:
        return int(self.box.path(f"{self.setup.inside}/run/asterisk.pid").read_text())

    def host_pid(self) -> int:
        """The same process as the host sees it (for signals from outside)."""
        inner = str(self.pid())
        namespace = os.readlink(f"/proc/{self.box.pid}/ns/pid")
        for entry in Path("/proc").iterdir():
            try:
                same_ns = entry.name.isdigit() and os.readlink(entry / "ns/pid") == namespace
                status = (entry / "status").read_text() if same_ns else ""
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
            nspid = next((line.split()[1:] for line in status.splitlines()
                          if line.startswith("NSpid:")), [])
            if nspid[-1:] == [inner]:
                return int(entry.name)
        raise AssertionError("asterisk not found from the host")


def start_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    """A sid container with a recording registrar (use as a module fixture)."""
    container = Container("sid", "siphaast", tmp_path_factory.mktemp("siphaast"))
    registrar = subprocess.Popen(
        ["nsenter", "-t", str(container.pid), "-m", "-u", "-n", "-p", "-r", "-w",
         "python3", "/src/tests/support/registrar.py", "--host", "127.0.0.2", "--port",
         "5070", "--log", "/tmp/registrar.log"])
    try:
        yield container
    finally:
        registrar.kill()
        registrar.wait()
        container.stop()


def registrar_log(box: Container) -> list[dict[str, object]]:
    path = box.path("/tmp/registrar.log")
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def registers(box: Container, since: float, expires_zero: bool) -> list[dict[str, object]]:
    return [r for r in registrar_log(box) if r["method"] == "REGISTER"
            and float(r["time"]) >= since and (r["expires"] == "0") == expires_zero]
