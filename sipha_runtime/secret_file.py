"""Whether a file may hold a secret: root's (or ours), and nobody else's to read."""

from __future__ import annotations

import os


def problem(path: str, what: str, owners: tuple[str, ...] = ()) -> str | None:
    """Why PATH, named WHAT in the message, must not hold a secret (group or
    other access, owned by neither root, this process's user nor one of the
    accounts OWNERS), or None.  OSError (FileNotFoundError when there is no
    such file) if PATH cannot be examined."""
    import pwd

    info = os.stat(path)
    if info.st_mode & 0o077:
        return f"{what} {path} is accessible by group or others (chmod 600 it)"
    trusted = {0, os.geteuid()}
    for name in owners:
        try:
            trusted.add(pwd.getpwnam(name).pw_uid)
        except KeyError:
            pass
    if info.st_uid not in trusted:
        return f"{what} {path} is not owned by {' or '.join(('root', *owners))}"
    return None
