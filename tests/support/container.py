"""A light container from a test box's root file system, for integration
tests that need software this host lacks (Asterisk 22 is only in Debian sid).

The box built by ``vagrant/build-box.sh`` is unpacked once into the cache;
each container mounts an overlay on it (changes vanish with the container),
runs in its own pid, mount, network and UTS namespaces with a reaping init,
and has this checkout installed into the box's virtualenv the way a user
installs it.  Commands run inside with ``nsenter``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SIPHA_CACHE", "/var/cache/sip-ha"))
VENV = "/opt/sip-ha/venv"

# PID 1 inside: reap every orphan (a zombie Asterisk must not look alive).
INIT = ("import os, signal, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: os._exit(0))\n"
        "while True:\n"
        "    try:\n"
        "        os.wait()\n"
        "    except ChildProcessError:\n"
        "        time.sleep(0.2)\n")


def box_file(dist: str) -> Path:
    """The cached box for ``dist``, built by the box recipe if missing."""
    script = REPO / "vagrant" / "build-box.sh"
    name = subprocess.run([str(script), "--name", dist], capture_output=True, text=True,
                          check=True).stdout.strip()
    path = CACHE / "boxes" / f"{name}.box"
    if not path.is_file():
        subprocess.run([str(script), dist], check=True)
    return path


def rootfs(dist: str) -> Path:
    """The box's root file system, unpacked once per recipe version."""
    box = box_file(dist)
    target = CACHE / "rootfs" / box.stem
    if (target / "usr").is_dir():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    outer = subprocess.Popen(["tar", "-xOf", str(box), "rootfs.tar.gz"], stdout=subprocess.PIPE)
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner",
                    "--strip-components=2", "-xzf", "-", "-C", str(partial)],
                   stdin=outer.stdout, check=True)
    if outer.wait() != 0:
        raise RuntimeError(f"cannot read rootfs.tar.gz from {box}")
    for old in target.parent.glob(f"{target.name.rsplit('-', 1)[0]}-*"):
        if old not in (target, partial):
            shutil.rmtree(old, ignore_errors=True)
    partial.rename(target)
    return target


class Container:
    """One running container; ``run()`` executes inside it."""

    def __init__(self, dist: str, name: str, work: Path) -> None:
        self.name = name
        self.lower = rootfs(dist)
        self.work = work
        for sub in ("upper", "work", "root"):
            (work / sub).mkdir(parents=True, exist_ok=True)
        root = work / "root"
        setup = " && ".join([
            f"mount -t overlay overlay -o lowerdir={self.lower},upperdir={work}/upper,"
            f"workdir={work}/work {root}",
            f"mount -t proc proc {root}/proc",
            f"mount --rbind /dev {root}/dev",
            f"mount -t tmpfs tmpfs {root}/run",
            f"mount -t tmpfs tmpfs {root}/tmp",
            f"mkdir -p {root}/src && mount --bind -o ro {REPO} {root}/src",
            f"hostname {name}",
            "ip link set lo up",
            "ip addr add 127.0.0.2/8 dev lo",
            f"exec chroot {root} /usr/bin/python3 -c \"$SIPHA_INIT\"",
        ])
        self.proc = subprocess.Popen(
            ["unshare", "--fork", "--pid", "--mount", "--net", "--uts", "--kill-child",
             "--mount-proc", "/bin/sh", "-c", setup],
            env={**os.environ, "SIPHA_INIT": INIT}, start_new_session=True)
        self.pid = self._init_pid()
        self._install_project()

    def _init_pid(self) -> int:
        """The pid (seen from the host) of the init running in the chroot."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for child in _children(self.proc.pid):
                for grandchild in [child, *_children(child)]:
                    if os.readlink(f"/proc/{grandchild}/root") != "/":
                        return grandchild
            if self.proc.poll() is not None:
                raise RuntimeError(f"container {self.name} exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise RuntimeError(f"container {self.name} did not start")

    def _install_project(self) -> None:
        # Copy, then install from the copy: the checkout stays untouched.
        self.run(["cp", "-a", "/src/.", "/opt/sip-ha/src"], check=True)
        self.run(["rm", "-rf", "/opt/sip-ha/src/.venv", "/opt/sip-ha/src/build"], check=True)
        self.run([f"{VENV}/bin/pip", "install", "-q", "--no-deps", "--no-build-isolation",
                  "--no-index", "/opt/sip-ha/src"], check=True)
        self.run([f"{VENV}/bin/sip-ha", "install-agents"], check=True)

    def run(self, argv: list[str], *, check: bool = False, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        command = ["nsenter", "-t", str(self.pid), "-m", "-u", "-n", "-p", "-r", "-w",
                   "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C.UTF-8",
                   *(f"{k}={v}" for k, v in (env or {}).items()), *argv]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=check)

    def write(self, path: str, text: str) -> None:
        target = self.path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def path(self, inside: str) -> Path:
        """Where a path inside the container is seen from the host."""
        return Path(f"/proc/{self.pid}/root") / inside.lstrip("/")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        shutil.rmtree(self.work, ignore_errors=True)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(x) for x in text.split()]
