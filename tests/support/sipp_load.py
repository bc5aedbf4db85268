"""Call load for tests: SIPp places calls at a fixed rate and a bounded count,
and its statistics file says how many succeeded.

The default scenario (``sipp/uac_pbx_hangs_up.xml``) expects the PBX to
answer and to hang up (an extension such as ``Answer(); Wait(2);
Hangup()``), so a success proves the call went through the dialplan and the
PBX was still there at its end.  SIPp runs where the load host is (see
``client_host``); its files stay in ``folder`` there.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from tests.support.client_host import ClientHost

SIPP = "/usr/bin/sipp"
SCENARIOS = Path(__file__).with_name("sipp")
UNEXPECTED_STATUS = re.compile(r"unexpected message .*? received 'SIP/2\.0 (\d{3}) ")


@dataclass(frozen=True)
class SippFigures:
    """The cumulative counters of SIPp's last statistics line.  ``failures``
    are the non-zero ``Failed...`` counters by cause, ``codes`` the SIP
    statuses among the unexpected messages; times in seconds."""

    created: int
    successful: int
    failed: int
    failures: dict[str, int]
    response_time: float
    call_length: float
    retransmissions: int
    exit_code: int
    codes: dict[int, int] = field(default_factory=dict)
    # calls whose INVITE was answered (200), from -trace_counts; the rest of
    # the failed ones were answered and then cut
    answered: int | None = None

    def __str__(self) -> str:
        causes = ", ".join([*(f"{cause} {count}" for cause, count in self.failures.items()),
                            *(f"{code} x{count}" for code, count in self.codes.items())])
        answered = "" if self.answered is None else f", {self.answered} answered"
        return (f"SIPp: {self.created} calls{answered}, {self.failed} failed"
                + (f" ({causes})" if causes else "")
                + f", INVITE->200 {self.response_time * 1000:.0f} ms on average,"
                f" {self.retransmissions} retransmissions")


def parse_statistics(text: str, exit_code: int, errors: str = "") -> SippFigures:
    """The figures from a ``-trace_stat`` file (``;``-separated, a header
    line, one line per dump; the last is the final one) and the ``-trace_err``
    log."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        raise ValueError("SIPp wrote no statistics")
    row = dict(zip(lines[0].split(";"), lines[-1].split(";"), strict=False))
    failures = {name[len("Failed"):-len("(C)")]: int(value) for name, value in row.items()
                if name.startswith("Failed") and name.endswith("(C)")
                and name != "FailedCall(C)" and value.isdigit() and int(value)}
    return SippFigures(
        created=int(row["TotalCallCreated"]), successful=int(row["SuccessfulCall(C)"]),
        failed=int(row["FailedCall(C)"]), failures=failures,
        response_time=_seconds(row["ResponseTime1(C)"]),
        call_length=_seconds(row["CallLength(C)"]),
        retransmissions=int(row["Retransmissions(C)"]), exit_code=exit_code,
        codes=dict(Counter(int(code) for code in UNEXPECTED_STATUS.findall(errors))))


def answered_calls(text: str) -> int:
    """From a ``-trace_counts`` file (``;``-separated, a header line, one line
    per dump): how many calls got the 200 answering their INVITE, the first
    ``N_200_Recv`` column of the last line."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        raise ValueError("SIPp wrote no message counts")
    header = lines[0].split(";")
    column = next(i for i, name in enumerate(header) if re.fullmatch(r"\d+_200_Recv", name))
    return int(lines[-1].split(";")[column])


def _seconds(value: str) -> float:
    """SIPp's HH:MM:SS:microseconds."""
    hours, minutes, seconds, micro = (int(part) for part in value.split(":"))
    return hours * 3600 + minutes * 60 + seconds + micro / 1e6


class SippLoad:
    """``calls`` calls to ``service`` at ``target`` (host:port), ``rate`` per
    second, at most ``limit`` at once, from ``local_ip``:``local_port``.  A
    call fails when an expected message does not come within
    ``recv_timeout``; the whole run ends after ``timeout`` seconds (default:
    enough for every call at the rate plus one receive timeout)."""

    def __init__(self, host: ClientHost, folder: str, target: str, *, service: str = "700",
                 local_ip: str, local_port: int = 5060, rate: float = 5, calls: int = 20,
                 limit: int = 50, transport: str = "u1", recv_timeout: float = 10,
                 timeout: float | None = None,
                 scenario: Path = SCENARIOS / "uac_pbx_hangs_up.xml") -> None:
        self.host, self.folder, self.target = host, folder.rstrip("/"), target
        self.service, self.local_ip, self.local_port = service, local_ip, local_port
        self.rate, self.calls, self.limit, self.transport = rate, calls, limit, transport
        self.recv_timeout = recv_timeout
        self.timeout = timeout if timeout is not None else calls / rate + 2 * recv_timeout
        self.scenario = scenario
        self._process: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def argv(self) -> list[str]:
        return [SIPP, self.target, "-sf", f"{self.folder}/{self.scenario.name}",
                "-s", self.service, "-t", self.transport,
                "-i", self.local_ip, "-p", str(self.local_port), "-mi", self.local_ip,
                "-r", f"{self.rate:g}", "-m", str(self.calls), "-l", str(self.limit),
                "-recv_timeout", f"{self.recv_timeout * 1000:.0f}",
                "-timeout", f"{self.timeout:.0f}s", "-timeout_error", "-nostdin",
                "-trace_stat", "-stf", f"{self.folder}/stat.csv", "-fd", "1",
                "-trace_counts",
                "-trace_err", "-error_file", f"{self.folder}/errors.log",
                "-trace_screen", "-screen_file", f"{self.folder}/screen.log"]

    def start(self) -> None:
        self.host.write(f"{self.folder}/{self.scenario.name}", self.scenario.read_text())
        folder = shlex.quote(self.folder)
        command = shlex.join(self.argv())
        self._process = self.host.spawn(f"cd {folder} && "
                                        "rm -f stat.csv errors.log *_counts.csv && "
                                        f"echo $$ > pid && exec {command} > sipp.out 2>&1")
        self.started = time.monotonic()

    def wait(self) -> SippFigures:
        """The figures once SIPp has ended (it ends itself by ``timeout``)."""
        if self._process is None:
            raise RuntimeError("SIPp was not started")
        left = self.started + self.timeout + 15 - time.monotonic()
        try:
            code = self._process.wait(timeout=max(left, 1))
        except subprocess.TimeoutExpired:
            self.host.end(f"{self.folder}/pid", 0)
            code = self._process.wait(timeout=10)
        text = self.host.read(f"{self.folder}/stat.csv")
        if not text:
            raise RuntimeError(f"SIPp ended ({code}) without statistics: "
                               f"{self.host.read(f'{self.folder}/sipp.out')[-800:]}")
        figures = parse_statistics(text, code, self.errors())
        counts = self.host.run(["sh", "-c", f"cat {shlex.quote(self.folder)}/*_counts.csv"])
        return replace(figures, answered=answered_calls(counts.stdout))

    def run(self) -> SippFigures:
        self.start()
        return self.wait()

    def errors(self) -> str:
        """SIPp's log of unexpected messages (for a failure report)."""
        return self.host.read(f"{self.folder}/errors.log")
