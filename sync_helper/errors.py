"""Errors with a short reason a person can act on, and the exit code of
``sip-ha-sync`` for it (the same codes as ``sip-ha``'s, see sync_helper/cli.py)."""

from __future__ import annotations

from sipha_runtime.errors import Failure


class SyncError(Failure):
    """Base class: one short reason, and the CLI's exit code for it."""

    exit_code = 1


class ConfigError(SyncError):
    """The configuration is unreadable, incomplete or names a missing folder."""

    exit_code = 2


class PeerError(SyncError):
    """A peer name or address that is not usable (or not configured)."""

    exit_code = 2


class PathEscapeError(SyncError):
    """A path outside every watched folder (through ``..`` or a symlink)."""

    exit_code = 2


class RoleError(SyncError):
    """This node is not the active one, so it does not push: refused, as
    sip-ha's safety checks."""

    exit_code = 3


class TransferError(SyncError):
    """rsync or ssh failed; nothing was recorded as synced."""

    exit_code = 1
