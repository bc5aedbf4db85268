"""Addresses and routes through iproute2's ``ip -j`` (argument lists, JSON),
and the TCP connections on an address through its ``ss``.

``ip`` rather than a netlink library: pyroute2's import alone takes longer
(~200-280 ms here) than a whole monitor with ``ip`` (two or three ~3 ms
calls); README.rst has the numbers.
"""

from __future__ import annotations

import json

from ocf_agents.framework.ocf import GenericError
from sipha_runtime.run import tool

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from sipha_runtime.run import Runner

# Routes this agent writes carry this protocol number, so every instance (and
# a person running `ip route show proto 241`) can tell them from others.
ROUTE_PROTO = "241"
CALL_TIMEOUT = 5.0


class IpCommandError(GenericError):
    """An ``ip`` command failed; the reason quotes its complaint."""


class Ip:
    def __init__(self, runner: Runner, binary: str | None = None) -> None:
        self.runner = runner
        self.binary = binary or tool("ip")

    def _run(self, *args: str) -> str:
        result = self.runner.run([self.binary, *args], timeout=CALL_TIMEOUT)
        if not result.ok:
            raise IpCommandError(f"ip {' '.join(args)}: {result.summary()}")
        return result.stdout

    def _json(self, *args: str) -> list[dict[str, Any]]:
        text = self._run("-j", *args).strip()
        return json.loads(text) if text else []

    # -- reading -----------------------------------------------------------

    def links(self) -> list[dict[str, Any]]:
        """Every interface with its flags, MAC and ``addr_info``."""
        return self._json("addr", "show")

    def routes(self, family: int) -> list[dict[str, Any]]:
        return self._json(f"-{family}", "route", "show", "table", "main")

    def route_get(self, address: str) -> dict[str, Any] | None:
        result = self.runner.run([self.binary, "-j", "route", "get", address],
                                 timeout=CALL_TIMEOUT)
        if not result.ok or not result.stdout.strip():
            return None
        found = json.loads(result.stdout)
        return found[0] if found else None

    # -- changing ----------------------------------------------------------

    def add_address(self, address: str, prefix: int, dev: str) -> None:
        if ":" in address:
            # No DAD: the address must be usable (and a route source) at once;
            # duplicates are what the depth-10 monitor looks for.
            self._run("-6", "addr", "add", f"{address}/{prefix}", "dev", dev, "nodad")
        else:
            self._run("-4", "addr", "add", f"{address}/{prefix}", "brd", "+", "dev", dev)

    def del_address(self, address: str, prefix: int, dev: str) -> None:
        family = "-6" if ":" in address else "-4"
        self._run(family, "addr", "del", f"{address}/{prefix}", "dev", dev)

    def replace_route(self, family: int, route: dict[str, Any]) -> None:
        self._run(f"-{family}", "route", "replace", *route_argv(route))

    def del_route(self, family: int, route: dict[str, Any]) -> None:
        self._run(f"-{family}", "route", "del", *route_argv(route))

    def block_tcp_in(self, address: str) -> None:
        """Drop every TCP segment that arrives for ``address`` (a new
        connection's SYN too) while the address stays usable as a source.
        An IPsec policy that blocks: ``ip`` alone, no firewall tool."""
        self._run("xfrm", "policy", "add", *_tcp_to(address), "dir", "in", "action", "block")

    def unblock_tcp_in(self, address: str) -> None:
        self._run("xfrm", "policy", "delete", *_tcp_to(address), "dir", "in")


def _tcp_to(address: str) -> list[str]:
    anywhere, bits = ("::/0", 128) if ":" in address else ("0.0.0.0/0", 32)
    return ["src", anywhere, "dst", f"{address}/{bits}", "proto", "tcp"]


class TcpSockets:
    """This node's TCP connections whose local address is one of ``addresses``
    (listeners and TIME-WAIT left out), read or aborted with ``ss``."""

    def __init__(self, runner: Runner, binary: str | None = None) -> None:
        self.runner = runner
        self.binary = binary or tool("ss")

    def _ss(self, addresses: list[str], *options: str) -> list[str]:
        sources: list[str] = []
        for address in addresses:
            sources += [*(["or"] if sources else []), "src",
                        f"[{address}]" if ":" in address else address]
        result = self.runner.run([self.binary, *options, "-H", "-n", "-t", "state", "connected",
                                  "exclude", "time-wait", "(", *sources, ")"],
                                 timeout=CALL_TIMEOUT)
        if not result.ok:
            raise IpCommandError(f"ss {' '.join(options)}: {result.summary()}")
        return [line for line in result.stdout.splitlines() if line.strip()]

    def connected(self, addresses: list[str]) -> list[str]:
        """One ``ss`` line per connection."""
        return self._ss(addresses)

    def reset(self, addresses: list[str]) -> list[str]:
        """Abort them (SOCK_DESTROY): the kernel sends each peer an RST.  The
        lines of those aborted; a kernel without CONFIG_INET_DIAG_DESTROY
        aborts none and says nothing (``connected`` shows them still)."""
        return self._ss(addresses, "-K")


# Attributes of `ip -j route` output and the `ip route` words that set them.
_ROUTE_WORDS = (("gateway", "via"), ("dev", "dev"), ("protocol", "proto"),
                ("scope", "scope"), ("metric", "metric"), ("prefsrc", "src"),
                ("pref", "pref"))
RESTORABLE = frozenset({"dst", "flags", *(key for key, _ in _ROUTE_WORDS)})


def route_argv(route: dict[str, Any]) -> list[str]:
    """The ``ip route`` arguments that recreate a route shown by ``ip -j route``."""
    argv = [str(route["dst"])]
    for key, word in _ROUTE_WORDS:
        if key in route and route[key] != "":
            argv += [word, str(route[key])]
    if "onlink" in route.get("flags", ()):
        argv.append("onlink")
    return argv


def unrestorable(route: dict[str, Any]) -> list[str]:
    """Attributes (multipath, metrics, ...) that route_argv would lose."""
    return sorted(key for key in route if key not in RESTORABLE)
