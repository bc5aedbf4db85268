"""The one error the alert channels raise: the message says which recipient
failed and why; the agent logs it and exits non-zero."""

from __future__ import annotations

import functools
from typing import ParamSpec, TypeVar

from sipha_runtime.recipients import RecipientError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

P = ParamSpec("P")
T = TypeVar("T")


class AlertError(Exception):
    """A notification could not be sent (bad recipient, receiver down, refused)."""


def alert_errors(parse: Callable[P, T]) -> Callable[P, T]:
    """PARSE, one of sipha_runtime.recipients' parsers, raising AlertError
    with the same message where it raises RecipientError."""
    @functools.wraps(parse)
    def parsed(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return parse(*args, **kwargs)
        except RecipientError as err:
            raise AlertError(str(err)) from None
    return parsed
