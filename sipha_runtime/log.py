"""Log like ``ocf_log``: the one logger of the agents, the file sync and the
tools that run beside them."""

from __future__ import annotations

import os
import sys
import syslog
import time
from types import MappingProxyType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


# syslog(3) facility codes by name: the agents' log (HA_LOGFACILITY) and the
# alert agent's syslog channels (sipha_runtime.recipients) read this one table.
SYSLOG_FACILITIES = MappingProxyType({
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
    "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
    **{f"local{n}": 16 + n for n in range(8)},
})

_PRIORITIES = {"debug": syslog.LOG_DEBUG, "info": syslog.LOG_INFO,
               "warning": syslog.LOG_WARNING, "err": syslog.LOG_ERR,
               "crit": syslog.LOG_CRIT}


class Logger:
    """Log like ``ocf_log``: syslog when ``HA_LOGFACILITY`` names a facility,
    ``HA_LOGFILE``/``HA_DEBUGLOG`` when set, else stderr; tag
    ``agent(instance)[pid]``."""

    def __init__(self, agent: str, instance: str, environ: Mapping[str, str],
                 stderr: Any = None) -> None:
        self.tag = f"{agent}({instance})"
        self.pid = os.getpid()
        code = SYSLOG_FACILITIES.get(environ.get("HA_LOGFACILITY", "").lower())
        self.facility = None if code is None else code << 3    # syslog.LOG_DAEMON etc.
        self.logfile = environ.get("HA_LOGFILE", "")
        self.debuglog = environ.get("HA_DEBUGLOG", "")
        self.debug_on = environ.get("HA_debug", "0") not in ("", "0")
        self.stderr = stderr if stderr is not None else sys.stderr
        if self.facility is not None:
            syslog.openlog(self.tag, syslog.LOG_PID, self.facility)

    def _emit(self, level: str, message: str) -> None:
        if level == "debug" and not self.debug_on:
            return
        # One line per message, and bytes a command printed that are not
        # UTF-8 (kept by surrogateescape) must not make the write fail.
        message = one_line(message)
        stamp = time.strftime("%Y/%m/%d_%H:%M:%S")
        line = f"{self.tag}[{self.pid}]:\t{stamp} {level.upper()}: {message}\n"
        if self.facility is not None:
            syslog.syslog(_PRIORITIES[level], f"{level.upper()}: {message}")
        target = self.debuglog if level == "debug" and self.debuglog else self.logfile
        if target:
            try:
                with open(target, "a", encoding="utf-8") as handle:
                    handle.write(line)
            except OSError:
                pass
        if self.facility is None and not self.logfile:
            self.stderr.write(f"{self.tag}[{self.pid}]: {level.upper()}: {message}\n")

    def debug(self, message: str) -> None:
        self._emit("debug", message)

    def info(self, message: str) -> None:
        self._emit("info", message)

    def warning(self, message: str) -> None:
        self._emit("warning", message)

    def error(self, message: str) -> None:
        self._emit("err", message)


def one_line(text: str) -> str:
    """TEXT with control characters escaped (a newline as ``\\n``): a value
    quoted in an exit reason must not end it early or forge another line."""
    return "".join(char if char.isprintable() else
                   char.encode("unicode_escape").decode("ascii") for char in text)
