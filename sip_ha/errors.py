"""Errors of the operator library; each carries the exit code the CLI uses.

Exit codes: 0 done; 1 the action failed; 2 wrong usage or bad input
(options, the parameter file: cib_templates.params.ParamError); 3 refused by
a safety check (nothing was changed); 4 the change was made but its outcome
was not seen before the deadline; 7 the cluster is not running on this
node; 130 interrupted (Ctrl-C), the message says what is left.
"""

from __future__ import annotations

from sipha_runtime.errors import Failure


class SipHaError(Failure):
    """A sentence that says what went wrong and what to do."""

    exit_code = 1


class BadUsage(SipHaError):
    """An option names what is not there (a service the parameter file
    lacks), or one is needed: wrong usage, nothing was run."""

    exit_code = 2


class Refused(SipHaError):
    """A safety check said no; nothing was changed."""

    exit_code = 3


class TimedOut(SipHaError):
    """The change was requested but did not complete in time."""

    exit_code = 4


class NotRunning(SipHaError):
    """The cluster (Pacemaker) does not run on this node: nothing to read or
    change here (7, as OCF's "not running")."""

    exit_code = 7


class Interrupted(SipHaError):
    """Ctrl-C: what was undone, and what is left and how to clear it."""

    exit_code = 130
