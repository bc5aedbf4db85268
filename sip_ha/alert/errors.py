"""The one error the alert channels raise: the message says which recipient
failed and why; the agent logs it and exits non-zero."""

from __future__ import annotations


class AlertError(Exception):
    """A notification could not be sent (bad recipient, receiver down, refused)."""
