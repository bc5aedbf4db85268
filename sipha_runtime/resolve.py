"""Name resolution with a deadline: getaddrinfo has no timeout of its own."""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, TypeAlias

    AddrInfo: TypeAlias = tuple[socket.AddressFamily, socket.SocketKind, int, str,
                                tuple[Any, ...]]


def resolve(host: str, port: int, kind: socket.SocketKind, timeout: float,
            proto: int = 0) -> Sequence[AddrInfo]:
    """getaddrinfo for HOST within TIMEOUT seconds.  A literal address needs
    no resolver; a name is looked up in a daemon thread that is abandoned (not
    waited for) when the resolver hangs past the deadline.  TimeoutError
    then; OSError("cannot resolve HOST: why") when the lookup fails."""
    try:
        ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        pass
    else:
        return socket.getaddrinfo(host, port, type=kind, proto=proto,
                                  flags=socket.AI_NUMERICHOST)
    outcome: list[Sequence[AddrInfo] | OSError] = []

    def lookup() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=kind, proto=proto))
        except (OSError, UnicodeError) as err:  # gaierror is an OSError
            outcome.append(OSError(f"cannot resolve {host}: {err}"))

    worker = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
    worker.start()
    worker.join(max(timeout, 0.0))
    if not outcome:
        raise TimeoutError(errno.ETIMEDOUT, f"{host} not resolved within {timeout:.1f}s")
    found = outcome[0]
    if isinstance(found, OSError):
        raise found
    return found
