"""sync_helper with a mounted target, against a real mount and real rsync.

The NAS stand-in is a loop-mounted ext4 image: this kernel has neither the
NFS server (no ``nfsd`` file system, so ``rpc.nfsd`` has nothing to drive, in
a namespace or not) nor the NFS client (no ``nfs`` file system), and loads no
modules; Debian 12 packages no FUSE NFS client.  What the sync relies on is
the same for both: a mountpoint in ``/proc/self/mountinfo`` with a type, and
the empty folder left when it is unmounted.  The mount is ``siphanfs-*``,
and removed on teardown.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync_helper.cli import main
from sync_helper.health import FAILING, OK, HealthFile, read
from tests.support.missing import require_root

pytestmark = pytest.mark.integration
MARKER = ".sip-ha-target"


class Nas:
    """An ext4 image mounted at ``mountpoint`` with the marker at its top."""

    def __init__(self, where: Path) -> None:
        self.image = where / "siphanfs-nas.img"
        self.mountpoint = where / "siphanfs-nas"
        self.mountpoint.mkdir()
        subprocess.run(["truncate", "-s", "32M", str(self.image)], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "siphanfs", str(self.image)],
                       check=True)
        self.mount()
        (self.mountpoint / MARKER).touch()

    def mount(self) -> None:
        subprocess.run(["mount", "-o", "loop", str(self.image), str(self.mountpoint)],
                       check=True)

    def umount(self) -> None:
        subprocess.run(["umount", str(self.mountpoint)], check=True)

    def mounted(self) -> bool:
        return os.path.ismount(self.mountpoint)

    def down(self) -> None:
        while self.mounted():
            self.umount()


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[Nas]:
    require_root("a loop mount")
    nas = Nas(tmp_path)
    try:
        yield nas
    finally:
        nas.down()
    assert str(nas.image) not in subprocess.run(["losetup", "-a"], capture_output=True,
                                                text=True, check=True).stdout


class Node:
    def __init__(self, tmp_path: Path, nas: Nas, **target: str) -> None:
        self.folder = tmp_path / "etc" / "asterisk"
        self.folder.mkdir(parents=True)
        self.nas = nas
        self.config_file = tmp_path / "sync.toml"
        self.state_dir = tmp_path / "state"
        options = "".join(f'{key} = "{value}"\n' for key, value in target.items())
        (tmp_path / "role").write_text("active\n")
        self.config_file.write_text(f"""
folders = ["{self.folder}"]
role_file = "{tmp_path / 'role'}"
state_dir = "{self.state_dir}"
backup_dir = "{tmp_path / 'local-backups'}"
timeout = 30
[[peers]]
name = "nas"
mount = "{nas.mountpoint}"
{options}""")

    def on_nas(self, path: Path) -> Path:
        return self.nas.mountpoint / str(path).lstrip("/")

    def cli(self, *args: str) -> int:
        return main(["-c", str(self.config_file), *args])

    def health(self) -> tuple[str, str]:
        state = read(HealthFile.of(self.state_dir).path)["nas"]
        return state.state, state.error


def test_a_push_lands_on_the_export_with_backups_there(tmp_path: Path, nas: Nas) -> None:
    node = Node(tmp_path, nas, fstype="ext4", marker=MARKER)
    conf = node.folder / "extensions.conf"
    conf.write_text("[default]\nexten => 100,1,Answer()\n")
    assert node.cli("resync") == 0
    assert node.on_nas(conf).read_text() == conf.read_text()
    conf.write_text("[default]\nexten => 200,1,Answer()\n")
    later = time.time() + 5  # same size: the change must show in the time
    os.utime(conf, (later, later))
    assert node.cli("push", str(conf)) == 0
    assert node.on_nas(conf).read_text() == "[default]\nexten => 200,1,Answer()\n"
    kept = list((nas.mountpoint / ".sip-ha-backups").glob(f"*/{str(conf).lstrip('/')}"))
    assert [p.read_text() for p in kept] == ["[default]\nexten => 100,1,Answer()\n"]


def test_a_missing_mount_is_never_written_into_and_recovers_after_remount(
        tmp_path: Path, nas: Nas, capsys: pytest.CaptureFixture[str]) -> None:
    node = Node(tmp_path, nas, fstype="ext4", marker=MARKER)
    (node.folder / "sip.conf").write_text("before\n")
    assert node.cli("resync") == 0
    nas.umount()
    assert os.listdir(nas.mountpoint) == []
    voicemail = node.folder / "voicemail.conf"
    voicemail.write_text("written while the export is away\n")
    capsys.readouterr()
    assert node.cli("push", str(voicemail)) == 1
    assert node.cli("resync") == 1
    out = capsys.readouterr()
    assert f"{nas.mountpoint} is not mounted" in out.out + out.err
    assert os.listdir(nas.mountpoint) == []  # nothing in the empty mountpoint
    state, error = node.health()
    assert state == FAILING and f"target nas: {nas.mountpoint} is not mounted" in error
    nas.mount()
    assert node.cli("resync") == 0
    assert node.on_nas(voicemail).read_text() == "written while the export is away\n"
    assert node.health() == (OK, "")


def test_something_else_mounted_there_is_not_the_target(tmp_path: Path, nas: Nas) -> None:
    nas.umount()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "siphanfs-other",
                    str(nas.mountpoint)], check=True)
    try:
        typed = Node(tmp_path / "typed", nas, fstype="ext4")
        (typed.folder / "sip.conf").write_text("x\n")
        assert typed.cli("resync") == 1
        assert typed.health()[1].endswith(f"{nas.mountpoint} is a tmpfs mount, not the "
                                          "ext4 expected")
        marked = Node(tmp_path / "marked", nas, marker=MARKER)
        (marked.folder / "sip.conf").write_text("x\n")
        assert marked.cli("resync") == 1
        assert marked.health()[1].endswith(f"{nas.mountpoint / MARKER} is missing: not the "
                                           "export this sync writes to")
        assert os.listdir(nas.mountpoint) == []
    finally:
        subprocess.run(["umount", str(nas.mountpoint)], check=True)
    nas.mount()
