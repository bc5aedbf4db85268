"""The credentials of an alert channel (SMTP AUTH, an SNMPv3 user): a file
that only its owner can read, named by a ``sipha_*_file`` setting, so that
the CIB holds its path only. Its values never go into an error message.

The file holds ``key = value`` lines; blank lines and lines starting with
``#`` are skipped; a value is the rest of its line, without the spaces
around it.
"""

from __future__ import annotations

from sip_ha.alert.errors import AlertError
from sipha_runtime import secret_file

ALERT_USER = "hacluster"

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def read(path: str, setting: str, keys: Sequence[str]) -> dict[str, str]:
    """KEYS from the file PATH (named by SETTING), each once and not empty.

    AlertError, naming SETTING, PATH and the line but never a value, when the
    file is missing or unreadable, when group or others may read it or
    neither root, hacluster nor this process's user owns it, or when a line
    is not one of KEYS."""
    where = f"{setting} {path}"
    try:
        # hacluster's, as Pacemaker runs the agent; root's `sip-ha test-alerts` reads it too.
        problem = secret_file.problem(path, setting, owners=(ALERT_USER,))
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise AlertError(f"{where}: not UTF-8 text") from None
    except PermissionError:
        raise AlertError(f"{where}: permission denied (Pacemaker runs the alert agent as "
                         f"hacluster: chown hacluster {path}; chmod 600 {path})") from None
    except OSError as err:
        raise AlertError(f"{where}: {err.strerror or err}") from None
    if problem:
        raise AlertError(problem)
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, equals, value = (part.strip() for part in line.partition("="))
        if not equals or key not in keys:
            raise AlertError(f"{where} line {number}: expected one of "
                             f"{', '.join(f'{k} = ...' for k in keys)}")
        if key in found:
            raise AlertError(f"{where} line {number}: {key} is given twice")
        if not value or not value.isprintable():
            raise AlertError(f"{where} line {number}: {key} is empty or holds control "
                             "characters")
        found[key] = value
    missing = [key for key in keys if key not in found]
    if missing:
        raise AlertError(f"{where}: no {', '.join(missing)}")
    return found
