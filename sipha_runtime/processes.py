"""Pid files and processes as /proc shows them.

A zombie is not running, and a pid file naming a live process that is not
the expected program (the pid was reused after a crash) is stale.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def read_pidfile(path: str) -> int | None:
    try:
        with open(path, "rb") as handle:
            text = handle.read(64).strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        pid = int(text.split()[0]) if text else 0
    except ValueError:
        return None
    return pid if pid > 0 else None


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3, the
    state, first), or None if there is no such process."""
    # Bytes: a text file would load the ascii codec and cost each of a
    # monitor's several reads a decoder.
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may itself contain ") ".
    return stat[stat.rfind(")") + 2:].split() or None


def state(pid: int) -> str | None:
    """The process state letter (R, S, T, Z, ...) or None if there is none."""
    fields = _stat(pid)
    return fields[0][:1] if fields else None


def start_time(pid: int) -> int | None:
    """Clock ticks after boot at which ``pid`` started: with the pid, the
    identity of a process (a reused pid has another start time)."""
    fields = _stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def is_alive(pid: int) -> bool:
    return state(pid) not in (None, "Z", "X")


def is_stopped(pid: int) -> bool:
    """Stopped by a signal (SIGSTOP) or a tracer: alive but doing nothing."""
    return state(pid) in ("T", "t")


def runs_program(pid: int, binary: str) -> bool:
    """Whether ``pid`` executes ``binary`` (by path, or by name if unreadable)."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except FileNotFoundError:
        return False
    except PermissionError:
        exe = ""
    if exe:
        exe = exe.removesuffix(" (deleted)")
        return os.path.realpath(binary) == exe or os.path.basename(exe) == os.path.basename(binary)
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
            return handle.read().strip() == os.path.basename(binary)[:15]
    except FileNotFoundError:
        return False


def live_pid(pidfile: str, binary: str) -> int | None:
    """The pid from ``pidfile`` if that process is alive and runs ``binary``."""
    pid = read_pidfile(pidfile)
    if pid is None or not is_alive(pid) or not runs_program(pid, binary):
        return None
    return pid


def signal_pid(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def group_of(pid: int) -> int | None:
    """The process group id of ``pid``, or None if it is gone."""
    fields = _stat(pid)
    return int(fields[2]) if fields and len(fields) > 2 else None


def group_members(pgid: int) -> list[int]:
    """Live processes in process group ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and group_of(int(entry)) == pgid and is_alive(int(entry)):
            members.append(int(entry))
    return members


def signal_group(pgid: int, sig: int, binary: str) -> bool:
    """Signal process group ``pgid`` if one of its members runs ``binary``.

    A daemon's workers stay in the group of the command that started it,
    even after the main process died; the check keeps a reused id safe.
    """
    if pgid <= 1 or pgid == os.getpgrp():
        return False
    if not any(runs_program(pid, binary) for pid in group_members(pgid)):
        return False
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def wait_group_gone(pgid: int, deadline: float, poll: float = 0.05) -> bool:
    while group_members(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
    return True


def wait_gone(pid: int, deadline: float, poll: float = 0.05) -> bool:
    """Wait until ``pid`` is gone (or a zombie); False if the deadline passed."""
    while is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
    return True


def set_name(name: str) -> None:
    """This process's name as ps, pkill and killall see it (at most 15
    bytes): a process forked from an agent otherwise keeps the name of the
    agent's shim, which for ocf:sipha:asterisk is the server's ("asterisk")."""
    try:
        with open("/proc/self/comm", "w", encoding="ascii") as handle:
            handle.write(name[:15])
    except OSError:
        pass


def in_background(work: Callable[[], object]) -> int:
    """Run WORK in a child that outlives the agent and return its pid. The
    child has its own session and none of our descriptors: Pacemaker waits
    for the agent's output to close, and must not wait for the child."""
    pid = os.fork()
    if pid:
        return pid
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 65536)
        work()
    finally:
        os._exit(0)
