"""Running external commands: argument lists, ``LC_ALL=C``, stdin closed,
their own process group, never past a deadline."""

from __future__ import annotations

import os
import time

from sipha_runtime.errors import Failure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sipha_runtime.log import Logger


class CommandError(Failure):
    """A command could not be run, or not to its end; the exit codes are the
    LSB/OCF ones for the same cause."""


class CommandTimeout(CommandError):
    """An external command ran past its deadline and was killed."""

    exit_code = 1


class CommandNotFound(CommandError):
    exit_code = 5


class CommandNotExecutable(CommandError):
    exit_code = 4


def tool(name: str) -> str:
    """The absolute path of a system tool, or NAME itself if none is found."""
    for folder in ("/usr/sbin", "/usr/bin", "/sbin"):
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK):
            return path
    return name


class Completed:
    __slots__ = ("argv", "returncode", "stdout", "stderr", "elapsed")

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str,
                 stderr: str, elapsed: float) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed = elapsed

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def summary(self) -> str:
        """The first non-empty line of the command's complaint."""
        for text in (self.stderr, self.stdout):
            for line in text.splitlines():
                if line.strip():
                    return line.strip()[:200]
        return f"exit status {self.returncode}"


class Runner:
    """Runs commands with argument lists, ``LC_ALL=C``, stdin closed, in
    their own process group, never past the operation's deadline.

    Output goes to anonymous memory files, not pipes, so a daemon that keeps
    the inherited descriptors open cannot make us wait for end-of-file.
    """

    def __init__(self, deadline: float, log: Logger | None = None) -> None:
        self.deadline = deadline
        self.log = log

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def run(self, argv: Sequence[str], timeout: float | None = None,
            env: Mapping[str, str | None] | None = None) -> Completed:
        """ARGV's outcome; ENV changes the child's environment (None removes
        a variable)."""
        limit = self.remaining() if timeout is None else min(timeout, self.remaining())
        if limit <= 0:
            raise CommandTimeout(f"no time left to run {argv[0]}")
        import subprocess  # not on the path of a monitor that runs no command

        child_env = {key: value for key, value in {**os.environ, **(env or {})}.items()
                     if value is not None}
        child_env["LC_ALL"] = "C"
        started = time.monotonic()
        out, err = os.memfd_create("stdout"), os.memfd_create("stderr")
        try:
            try:
                proc = subprocess.Popen(
                    list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                    env=child_env, start_new_session=True, close_fds=True)
            except FileNotFoundError:
                raise CommandNotFound(f"{argv[0]} not found") from None
            except PermissionError:
                raise CommandNotExecutable(f"{argv[0]} is not executable") from None
            try:
                returncode = proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid)
                proc.wait()
                raise CommandTimeout(
                    f"{os.path.basename(argv[0])} did not answer within {limit:.1f}s"
                ) from None
            except BaseException:
                # Ctrl-C reaches us, not the child in its own session: end it too,
                # rather than leave it running on its own.
                _kill_group(proc.pid)
                proc.wait()
                raise
            result = Completed(argv, returncode, _read_all(out), _read_all(err),
                               time.monotonic() - started)
        finally:
            os.close(out)
            os.close(err)
        if self.log:
            self.log.debug(f"ran {' '.join(argv)} -> {returncode} in {result.elapsed:.3f}s")
        return result


def _read_all(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    # lossless: a file name that is not UTF-8 must come back as the same bytes
    return b"".join(chunks).decode("utf-8", "surrogateescape")


def _kill_group(pgid: int) -> None:
    import signal  # with enum: not on the path of a monitor that runs no command

    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass

