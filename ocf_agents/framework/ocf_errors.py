"""OCF's return codes and the errors that carry them: below both the
dispatch (ocf.py) and the interactive surface (ocf_cli.py), so neither
imports the other to learn them.  Agents import them through ocf.py."""

from __future__ import annotations

from sipha_runtime.errors import Failure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar


class OCFCode(int):
    """An OCF exit code: an int with a name.  Not an enum.IntEnum: enum (with
    functools and collections) would be a sixth of a monitor's imports."""

    __slots__ = ()
    __str__ = int.__repr__   # "7", as IntEnum's str()

    SUCCESS: ClassVar[OCFCode]
    ERR_GENERIC: ClassVar[OCFCode]
    ERR_ARGS: ClassVar[OCFCode]
    ERR_UNIMPLEMENTED: ClassVar[OCFCode]
    ERR_PERM: ClassVar[OCFCode]
    ERR_INSTALLED: ClassVar[OCFCode]
    ERR_CONFIGURED: ClassVar[OCFCode]
    NOT_RUNNING: ClassVar[OCFCode]
    RUNNING_PROMOTED: ClassVar[OCFCode]
    FAILED_PROMOTED: ClassVar[OCFCode]
    DEGRADED: ClassVar[OCFCode]
    DEGRADED_PROMOTED: ClassVar[OCFCode]

    def __repr__(self) -> str:
        name = next((key for key, value in vars(OCFCode).items()
                     if key.isupper() and value == self), "?")
        return f"<OCFCode.{name}: {int(self)}>"


OCFCode.SUCCESS = OCFCode(0)
OCFCode.ERR_GENERIC = OCFCode(1)
OCFCode.ERR_ARGS = OCFCode(2)
OCFCode.ERR_UNIMPLEMENTED = OCFCode(3)
OCFCode.ERR_PERM = OCFCode(4)
OCFCode.ERR_INSTALLED = OCFCode(5)
OCFCode.ERR_CONFIGURED = OCFCode(6)
OCFCode.NOT_RUNNING = OCFCode(7)
OCFCode.RUNNING_PROMOTED = OCFCode(8)
OCFCode.FAILED_PROMOTED = OCFCode(9)
OCFCode.DEGRADED = OCFCode(190)
OCFCode.DEGRADED_PROMOTED = OCFCode(191)


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
