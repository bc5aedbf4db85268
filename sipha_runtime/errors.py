"""The one error base: a short reason a person can act on, and the exit code
that the command (or OCF agent) which gives up because of it returns."""

from __future__ import annotations


class Failure(Exception):
    """One short reason, and the exit code it means for the program."""

    exit_code: int = 1

    def __init__(self, reason: str, exit_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if exit_code is not None:
            self.exit_code = exit_code
