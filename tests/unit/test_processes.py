"""Pid files and process states as /proc shows them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

from sipha_runtime import processes


def test_read_pidfile(tmp_path):
    path = tmp_path / "x.pid"
    assert processes.read_pidfile(str(path)) is None
    for text, expected in [("123\n", 123), ("  77 extra", 77), ("", None), ("abc", None),
                           ("-4", None), ("0", None)]:
        path.write_text(text)
        assert processes.read_pidfile(str(path)) == expected


def test_zombie_is_not_alive():
    child = subprocess.Popen(["/bin/true"])
    deadline = time.monotonic() + 5
    while processes.state(child.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert processes.state(child.pid) == "Z"
    assert not processes.is_alive(child.pid)
    child.wait()
    assert processes.state(child.pid) is None


def test_stopped_process_is_alive_but_stopped():
    child = subprocess.Popen(["/bin/sleep", "30"])
    try:
        os.kill(child.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 5
        while not processes.is_stopped(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert processes.is_alive(child.pid)
        assert processes.is_stopped(child.pid)
    finally:
        child.kill()
        child.wait()


def test_live_pid_checks_the_program(tmp_path):
    pidfile = tmp_path / "p.pid"
    child = subprocess.Popen(["/bin/sleep", "30"])
    try:
        pidfile.write_text(f"{child.pid}\n")
        assert processes.live_pid(str(pidfile), "/bin/sleep") == child.pid
        # A reused pid running something else is a stale pid file.
        assert processes.live_pid(str(pidfile), "/usr/sbin/kamailio") is None
    finally:
        child.kill()
        child.wait()
    assert processes.live_pid(str(pidfile), "/bin/sleep") is None


def test_group_signal_only_hits_the_expected_program():
    child = subprocess.Popen(["/bin/sleep", "30"], start_new_session=True)
    try:
        group = processes.group_of(child.pid)
        assert group == child.pid
        assert processes.group_members(group) == [child.pid]
        assert not processes.signal_group(group, signal.SIGKILL, "/usr/sbin/kamailio")
        assert processes.is_alive(child.pid)
        assert not processes.signal_group(os.getpgrp(), signal.SIGKILL, sys.executable)
        assert processes.signal_group(group, signal.SIGKILL, "/bin/sleep")
        child.wait(timeout=5)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_work_in_background_runs_in_a_child_of_its_own_session(tmp_path):
    out = tmp_path / "child"

    def work() -> None:
        out.write_text(f"{os.getsid(0)} {os.getpid()} {sorted(os.listdir('/proc/self/fd'))}")

    pid = processes.in_background(work)
    assert os.waitpid(pid, 0)[1] == 0
    session, child, fds = out.read_text().split(" ", 2)
    assert int(child) == pid and int(session) == pid != os.getsid(0)
    assert fds == "['0', '1', '2', '3']"  # /dev/null thrice, and listdir's own


def test_start_time_tells_processes_apart(tmp_path):
    """With the pid, the identity of a process: the clock tick it started at,
    read past a command name that holds ") " itself."""
    odd = tmp_path / "x) 1 2 3"
    shutil.copy("/bin/sleep", odd)
    child = subprocess.Popen([str(odd), "30"])
    try:
        with open(f"/proc/{child.pid}/stat", encoding="ascii") as handle:
            assert handle.read().startswith(f"{child.pid} (x) 1 2 3) ")
        started = processes.start_time(child.pid)
        assert started is not None
        assert started == processes.start_time(child.pid)
        assert started >= processes.start_time(os.getpid())  # type: ignore[operator]
        assert processes.group_of(child.pid) == os.getpgrp()
    finally:
        child.kill()
        child.wait()
    assert processes.start_time(child.pid) is None
