"""lxc-attach that aborts in its memfd re-exec is run again, nothing else is.

A fake lxc-attach on PATH stands in for LXC 5.0.2's (lxc/lxc#4412): it aborts
with the rexec message the first N calls, then runs its command.
"""

import os
import subprocess
import textwrap

import pytest

from tests.support import lxc_attach

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def attach(*argv: str) -> subprocess.CompletedProcess[str]:
    """What the cluster harness runs for a command in a node."""
    cmd = ["lxc-attach", "-n", "node1", "--", *argv]
    return lxc_attach.retrying(
        lambda: subprocess.run(cmd, check=False, capture_output=True, text=True))

FAKE = textwrap.dedent("""\
    #!/bin/sh
    count=$(cat "$FAKE_COUNT" 2>/dev/null || echo 0)
    echo $((count + 1)) >"$FAKE_COUNT"
    if [ "$count" -lt "$FAKE_ABORTS" ]; then
        echo "$FAKE_MESSAGE" >&2
        kill -ABRT $$
    fi
    while [ "$1" != "--" ]; do shift; done
    shift
    exec "$@"
""")


@pytest.fixture
def fake_attach(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "lxc-attach"
    script.write_text(FAKE)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ["PATH"]))
    monkeypatch.setenv("FAKE_COUNT", str(tmp_path / "count"))
    monkeypatch.setenv("FAKE_MESSAGE", "Device or resource busy - Failed to rexec as memfd")

    def calls() -> int:
        return int((tmp_path / "count").read_text())
    return calls


def test_aborted_rexec_is_run_again(fake_attach, monkeypatch):
    monkeypatch.setenv("FAKE_ABORTS", "2")
    res = attach("echo", "ran")
    assert (res.returncode, res.stdout) == (0, "ran\n")
    assert fake_attach() == 3


def test_other_aborts_are_not_repeated(fake_attach, monkeypatch):
    monkeypatch.setenv("FAKE_ABORTS", "1")
    monkeypatch.setenv("FAKE_MESSAGE", "free(): invalid pointer")
    res = attach("echo", "ran")
    assert res.returncode == -6
    assert "invalid pointer" in res.stderr
    assert fake_attach() == 1


def test_attach_gives_up(fake_attach, monkeypatch):
    monkeypatch.setenv("FAKE_ABORTS", "99")
    res = attach("echo", "ran")
    assert res.returncode == -6
    assert fake_attach() == lxc_attach.ATTACH_TRIES


def test_shell_wrapper_runs_again_and_keeps_exit_status(fake_attach, monkeypatch):
    monkeypatch.setenv("FAKE_ABORTS", "2")
    script = '. %s/vagrant/env.sh; sipha_attach -n x -- sh -c "echo ran; exit 3"' % REPO
    res = subprocess.run(["bash", "-c", script], check=False, capture_output=True, text=True)
    assert (res.returncode, res.stdout) == (3, "ran\n")
    assert fake_attach() == 3
