"""Errors with a short reason a person can act on, and an exit status."""

from __future__ import annotations


class SyncError(Exception):
    """Base class: one short reason, and the CLI's exit status for it."""

    exit_status = 1

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConfigError(SyncError):
    """The configuration is unreadable, incomplete or names a missing folder."""

    exit_status = 2


class PeerError(SyncError):
    """A peer name or address that is not usable (or not configured)."""

    exit_status = 2


class PathEscapeError(SyncError):
    """A path outside every watched folder (through ``..`` or a symlink)."""

    exit_status = 2


class RoleError(SyncError):
    """This node is not the active one, so it does not push."""

    exit_status = 4


class TransferError(SyncError):
    """rsync or ssh failed; nothing was recorded as synced."""

    exit_status = 1
