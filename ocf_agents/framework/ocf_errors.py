"""OCF's return codes and the errors that carry them: below both the
dispatch (ocf.py) and the interactive surface (ocf_cli.py), so neither
imports the other to learn them.  Agents import them through ocf.py."""

from __future__ import annotations

import enum

from sipha_runtime.errors import Failure


class OCFCode(enum.IntEnum):
    SUCCESS = 0
    ERR_GENERIC = 1
    ERR_ARGS = 2
    ERR_UNIMPLEMENTED = 3
    ERR_PERM = 4
    ERR_INSTALLED = 5
    ERR_CONFIGURED = 6
    NOT_RUNNING = 7
    RUNNING_PROMOTED = 8
    FAILED_PROMOTED = 9
    DEGRADED = 190
    DEGRADED_PROMOTED = 191


class OCFError(Failure):
    """A failure with an OCF code and one short exit reason."""

    exit_code: int = OCFCode.ERR_GENERIC


class GenericError(OCFError):
    exit_code = OCFCode.ERR_GENERIC


class ArgsError(OCFError):
    exit_code = OCFCode.ERR_ARGS


class UnimplementedError(OCFError):
    exit_code = OCFCode.ERR_UNIMPLEMENTED


class PermError(OCFError):
    exit_code = OCFCode.ERR_PERM


class NotInstalledError(OCFError):
    exit_code = OCFCode.ERR_INSTALLED


class NotConfiguredError(OCFError):
    exit_code = OCFCode.ERR_CONFIGURED
