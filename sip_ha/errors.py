"""Errors of the operator library; each carries the exit code the CLI uses.

Exit codes: 0 done; 1 the action failed; 2 wrong usage; 3 refused by a
safety check (nothing was changed); 4 the change was made but its outcome
was not seen before the deadline.
"""

from __future__ import annotations

from sipha_runtime.errors import Failure


class SipHaError(Failure):
    """A sentence that says what went wrong and what to do."""

    exit_code = 1


class Refused(SipHaError):
    """A safety check said no; nothing was changed."""

    exit_code = 3


class TimedOut(SipHaError):
    """The change was requested but did not complete in time."""

    exit_code = 4
