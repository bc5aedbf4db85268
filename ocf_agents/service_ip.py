"""ocf:sipha:service-ip - the SIP service address(es) and the outbound source.

Adds one or more IPv4/IPv6 service addresses, announces them (gratuitous ARP,
unsolicited neighbour advertisements, repeated and spaced), and makes the
service address the preferred source of the routes to the configured trunk
networks, so providers that whitelist by address see the same one after a
failover.  Every change is written to a state file before it is made; stop
undoes exactly what that file lists, so an address or route this resource
did not add is never removed, and two instances never touch each other's
routes.  Before an address goes, stop resets every TCP connection on it
(see _reset_connections).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time

from ocf_agents.framework import metrics
from ocf_agents.framework.ocf import (
    Agent,
    ArgsError,
    Config,
    Context,
    Duration,
    GenericError,
    NotConfiguredError,
    OCFCode,
    OCFError,
    Operation,
    param,
)
from ocf_agents.shared.iproute import ROUTE_PROTO, Ip, IpCommandError, TcpSockets, unrestorable
from sipha_runtime import processes
from sipha_runtime.run import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

BITS = {4: 32, 6: 128}


class ServiceIpConfig(Config):
    ip: tuple[str, ...] = param(
        unique=True, shortdesc="Service addresses",
        longdesc="Space-separated IPv4/IPv6 addresses, each optionally with a prefix "
                 "length (198.51.100.10/24 2001:db8:1::10/64). Without a prefix, the "
                 "prefix of the connected network that contains the address is used; "
                 "a prefix that differs from that network's is refused.")
    nic: str = param(
        "", shortdesc="Interface",
        longdesc="Interface for the addresses, e.g. eth0 or a VLAN sub-interface "
                 "such as eth0.100 (it must exist). Empty: each address goes on the "
                 "interface whose connected network contains it. With nic set, an "
                 "address with an explicit prefix may bring its own network.")
    outbound_networks: tuple[str, ...] = param(
        (), shortdesc="Networks reached from the service address",
        longdesc="Space-separated destination networks or hosts (ITSP trunk networks, "
                 "the PSTN gateway) whose route gets the service address of the same "
                 "family as preferred source while the resource runs; 'default' is the "
                 "IPv4 default route, '::/0' the IPv6 one. An existing route is changed "
                 "in place and restored on stop; a missing one is added (via the "
                 "gateway the node uses now) and removed on stop. Each destination "
                 "may belong to one service-ip resource only.")
    arp_count: int = param(
        5, shortdesc="Announcements",
        longdesc="How many gratuitous ARP / unsolicited neighbour advertisement "
                 "rounds to send after start (at least 1).")
    arp_interval: Duration = param(
        Duration(0.2), shortdesc="Time between announcements",
        longdesc="Spacing of the announcement rounds.")
    arp_background: bool = param(
        True, shortdesc="Announce in the background",
        longdesc="Send the first round before start returns and the rest from a "
                 "detached process (stopped by stop), so start does not wait "
                 "arp_count x arp_interval.")
    duplicate_timeout: Duration = param(
        Duration(0.3), shortdesc="Duplicate probe window",
        longdesc="At OCF_CHECK_LEVEL 10 the monitor sends an ARP probe / DAD "
                 "neighbour solicitation for each address and waits this long for "
                 "another host to answer; an answer is a failure (duplicate address).")


# --------------------------------------------------------------------------
# Parsing (no node access: a bad value here is wrong on every node)


def _family(text: str) -> int:
    return 6 if ":" in text else 4


def _to_int(family: int, text: str) -> int:
    kind = socket.AF_INET6 if family == 6 else socket.AF_INET
    return int.from_bytes(socket.inet_pton(kind, text), "big")


def _from_int(family: int, value: int) -> str:
    kind = socket.AF_INET6 if family == 6 else socket.AF_INET
    return socket.inet_ntop(kind, value.to_bytes(BITS[family] // 8, "big"))


def _split_prefix(text: str, what: str) -> tuple[int, str, int | None]:
    address, _, prefix_text = text.partition("/")
    family = _family(address)
    try:
        canonical = _from_int(family, _to_int(family, address))
        prefix = int(prefix_text, 10) if prefix_text else None
    except (OSError, ValueError):
        raise NotConfiguredError(f"{what}: {text!r} is not an IPv4 or IPv6 address") from None
    if prefix is not None and not 0 <= prefix <= BITS[family]:
        raise NotConfiguredError(f"{what}: {text!r} has an impossible prefix length")
    return family, canonical, prefix


def _contains(family: int, network: str, prefix: int, address: str) -> bool:
    shift = BITS[family] - prefix
    return _to_int(family, network) >> shift == _to_int(family, address) >> shift


class Address:
    __slots__ = ("family", "ip", "prefix")

    def __init__(self, text: str) -> None:
        self.family, self.ip, self.prefix = _split_prefix(text, "ip")
        if self.prefix == 0:
            raise NotConfiguredError(f"ip: {text!r} has prefix length 0")


class Destination:
    """A destination network as ``ip route`` prints it: 'default', a host
    without /32 or /128, or a network address with its prefix."""

    __slots__ = ("dst", "family", "first")

    def __init__(self, text: str) -> None:
        if text.lower() in ("default", "default4"):
            text = "0.0.0.0/0"
        elif text.lower() == "default6":
            text = "::/0"
        family, address, prefix = _split_prefix(text, "outbound_networks")
        prefix = BITS[family] if prefix is None else prefix
        shift = BITS[family] - prefix
        network = _from_int(family, _to_int(family, address) >> shift << shift)
        self.family = family
        self.first = network if prefix else _from_int(family, 1)
        if prefix == 0:
            self.dst = "default"
        elif prefix == BITS[family]:
            self.dst = network
        else:
            self.dst = f"{network}/{prefix}"

    def __str__(self) -> str:
        return self.dst if self.dst != "default" or self.family == 4 else "::/0 (default)"


def parse(cfg: ServiceIpConfig) -> tuple[list[Address], list[Destination]]:
    addresses = [Address(text) for text in _items(cfg.ip)]
    if not addresses:
        raise NotConfiguredError("parameter ip lists no address")
    if len({a.ip for a in addresses}) != len(addresses):
        raise NotConfiguredError("parameter ip lists an address twice")
    destinations = [Destination(text) for text in _items(cfg.outbound_networks)]
    for dest in destinations:
        if not any(a.family == dest.family for a in addresses):
            raise NotConfiguredError(
                f"outbound_networks: {dest} needs an IPv{dest.family} service address in ip")
    if len({(d.family, d.dst) for d in destinations}) != len(destinations):
        raise NotConfiguredError("outbound_networks lists a destination twice")
    if cfg.arp_count < 1:
        raise NotConfiguredError("arp_count must be at least 1")
    return addresses, destinations


def _items(values: tuple[str, ...]) -> list[str]:
    return [item for value in values for item in value.split(",") if item]


# --------------------------------------------------------------------------
# Placement on this node


class Placement:
    __slots__ = ("dev", "family", "ip", "prefix")

    def __init__(self, ip: str, prefix: int, dev: str) -> None:
        self.ip, self.prefix, self.dev, self.family = ip, prefix, dev, _family(ip)

    def as_dict(self) -> dict[str, Any]:
        return {"ip": self.ip, "prefix": self.prefix, "dev": self.dev}


def _connected(links: list[dict[str, Any]], family: int, skip: str) -> list[tuple[str, str, int]]:
    """(interface, network address, prefix) of every global address but ``skip``."""
    kind = "inet6" if family == 6 else "inet"
    found = []
    for link in links:
        for info in link.get("addr_info", ()):
            if (info.get("family") == kind and info.get("scope") != "link"
                    and info.get("local") != skip and link.get("ifname") != "lo"):
                found.append((link["ifname"], info["local"], int(info["prefixlen"])))
    return found


def place(address: Address, nic: str, links: list[dict[str, Any]]) -> Placement:
    """Where ``address`` goes on this node; ArgsError (this node only) if nowhere."""
    if nic and not any(link.get("ifname") == nic for link in links):
        raise ArgsError(f"interface {nic} does not exist on this node")
    networks = [(dev, net, prefix) for dev, net, prefix in _connected(links, address.family,
                                                                      address.ip)
                if _contains(address.family, net, prefix, address.ip)]
    devices = sorted({dev for dev, _, _ in networks})
    if nic:
        mine = [n for n in networks if n[0] == nic]
        if not mine and devices:
            raise ArgsError(f"{address.ip} belongs to a network on {', '.join(devices)}, "
                            f"not to nic={nic}")
        if not mine and address.prefix is None:
            raise ArgsError(f"{address.ip} is in no network connected to {nic}; "
                            "give it a prefix length (address/prefix)")
        networks = mine
        dev = nic
    else:
        if not devices:
            raise ArgsError(f"{address.ip} is in no network connected to this node; "
                            "set nic and a prefix length, or fix the address")
        if len(devices) > 1:
            raise ArgsError(f"{address.ip} is in networks on {', '.join(devices)}; set nic")
        dev = devices[0]
    prefixes = sorted({prefix for _, _, prefix in networks})
    if networks and address.prefix is not None and address.prefix not in prefixes:
        raise ArgsError(f"prefix mismatch: {address.ip}/{address.prefix} but the network "
                        f"on {dev} is /{prefixes[0]}")
    prefix = address.prefix if address.prefix is not None else prefixes[0]
    return Placement(address.ip, prefix, dev)


def _link(links: list[dict[str, Any]], dev: str) -> dict[str, Any] | None:
    return next((link for link in links if link.get("ifname") == dev), None)


def _address_info(link: dict[str, Any] | None, ip: str) -> dict[str, Any] | None:
    if link is None:
        return None
    return next((i for i in link.get("addr_info", ()) if i.get("local") == ip), None)


def _link_down(link: dict[str, Any]) -> str | None:
    flags = link.get("flags", ())
    if "UP" not in flags:
        return f"link {link['ifname']} is administratively down"
    if "LOWER_UP" not in flags:
        return f"link {link['ifname']} has no carrier"
    return None


def validate(cfg: ServiceIpConfig, ctx: Context) -> None:
    addresses, _ = parse(cfg)
    links = Ip(ctx.run).links()
    for address in addresses:
        place(address, cfg.nic, links)


# --------------------------------------------------------------------------
# State: what this resource added or changed, written before each change


class State:
    def __init__(self, path: str) -> None:
        self.path = path
        self.addresses: list[dict[str, Any]] = []
        self.routes: list[dict[str, Any]] = []
        self.sender: list[int] | None = None
        self.guards: list[str] = []  # addresses whose inbound TCP stop blocks

    @classmethod
    def load(cls, path: str) -> State | None:
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return None
        except ValueError:
            raise GenericError(f"state file {path} is unreadable; check and remove it") from None
        state = cls(path)
        state.addresses = data.get("addresses", [])
        state.routes = data.get("routes", [])
        state.sender = data.get("sender")
        state.guards = data.get("guards", [])
        return state

    def save(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = f"{self.path}.new"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump({"addresses": self.addresses, "routes": self.routes,
                       "sender": self.sender, "guards": self.guards}, handle)
        os.replace(tmp, self.path)

    def remove(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def owns(self, placement: Placement) -> bool:
        return placement.as_dict() in self.addresses

    def route(self, dest: Destination) -> dict[str, Any] | None:
        return next((r for r in self.routes
                     if r["family"] == dest.family and r["route"]["dst"] == dest.dst), None)


def _state_path(ctx: Context) -> str:
    return ctx.state_file("json")


# --------------------------------------------------------------------------
# Announcements


def _stop_sender(state: State) -> None:
    """A background announcer left running would claim the address for this
    node after it moved away."""
    if state.sender and processes.start_time(state.sender[0]) == state.sender[1]:
        try:
            os.kill(state.sender[0], signal.SIGKILL)
        except ProcessLookupError:
            pass
    state.sender = None


def _targets(state: State, links: list[dict[str, Any]]) -> list[Any]:
    from ocf_agents.clients.announce import Target

    targets = []
    for entry in state.addresses:
        link = _link(links, entry["dev"])
        if link and link.get("address") and link.get("link_type") == "ether":
            targets.append(Target(entry["dev"], entry["ip"], link["address"]))
    return targets


def _announce_first(state: State, links: list[dict[str, Any]]) -> list[Any]:
    """The first announcement round, at once; what it announced."""
    from ocf_agents.clients import announce

    targets = _targets(state, links)
    if targets:
        announce.announce(targets, 1, 0)
    return targets


def _announce_rest(cfg: ServiceIpConfig, ctx: Context, state: State, targets: list[Any]) -> None:
    from ocf_agents.clients import announce

    rest = cfg.arp_count - 1
    if not targets or rest <= 0:
        return
    if cfg.arp_background:
        pid = announce.announce_in_background(targets, rest, cfg.arp_interval)
        state.sender = [pid, processes.start_time(pid) or 0]
    else:
        time.sleep(cfg.arp_interval)
        announce.announce(targets, rest, cfg.arp_interval)
    ctx.log.info(f"announced {', '.join(t.address for t in targets)} "
                 f"({cfg.arp_count} rounds, {cfg.arp_interval:g}s apart)")


# --------------------------------------------------------------------------
# Routes


def _ours(routes: list[dict[str, Any]], dst: str, src: str) -> dict[str, Any] | None:
    return next((r for r in routes if r.get("dst") == dst and
                 str(r.get("protocol")) == ROUTE_PROTO and r.get("prefsrc") == src), None)


def _take_route(ip: Ip, state: State, dest: Destination, src: str,
                routes: list[dict[str, Any]]) -> None:
    recorded = state.route(dest)
    if recorded:
        if not _ours(routes, dest.dst, src):
            ip.replace_route(dest.family, recorded["route"])
        return
    existing = sorted((r for r in routes if r.get("dst") == dest.dst),
                      key=lambda r: int(r.get("metric", 0)))
    if existing:
        current = existing[0]
        if str(current.get("protocol")) == ROUTE_PROTO:
            raise ArgsError(f"the route to {dest} already has source {current.get('prefsrc')} "
                            "from another service-ip resource; a destination can belong to "
                            "one resource only")
        lost = unrestorable(current)
        if lost:
            raise ArgsError(f"the route to {dest} has attributes ({', '.join(lost)}) this "
                            "agent cannot restore; add a plain route for it")
        route, original = {**current, "protocol": ROUTE_PROTO, "prefsrc": src}, current
    else:
        if dest.dst == "default":
            raise ArgsError(f"no IPv{dest.family} default route on this node to give "
                            f"source {src}")
        found = ip.route_get(dest.first)
        if found is None or "dev" not in found:
            raise ArgsError(f"no route to {dest} on this node")
        route = {"dst": dest.dst, "dev": found["dev"], "protocol": ROUTE_PROTO, "prefsrc": src}
        if found.get("gateway"):
            route["gateway"] = found["gateway"]
        else:
            route["scope"] = "link"
        original = None
    route.pop("flags", None)
    state.routes.append({"family": dest.family, "route": route, "original": original})
    state.save()
    ip.replace_route(dest.family, route)


def _release_route(ip: Ip, ctx: Context, entry: dict[str, Any],
                   routes: list[dict[str, Any]]) -> None:
    route, original, family = entry["route"], entry["original"], entry["family"]
    current = _ours(routes, route["dst"], route["prefsrc"])
    try:
        if original is not None:
            if current or not any(r.get("dst") == route["dst"] for r in routes):
                ip.replace_route(family, original)
            else:
                ctx.log.warning(f"the route to {route['dst']} was changed by someone else; "
                                "left as it is")
        elif current:
            ip.del_route(family, current)
    except IpCommandError as err:
        # The address removal matters more than a route: keep stopping.
        ctx.log.error(f"could not restore the route to {route['dst']}: {err.reason}")


# --------------------------------------------------------------------------
# TCP connections on a leaving address


def _reset_connections(ip: Ip, ctx: Context, state: State, addresses: list[str]) -> None:
    """Abort every TCP connection on ``addresses`` while they are still here,
    so each peer (a TCP or TLS phone, a trunk, a web client) gets an RST now,
    and its next request opens a new connection to the next holder of the
    address instead of going into one that nobody answers any more (a phone
    waits 32 s for such a request, README "Phones").  Once an address is
    deleted the RST cannot be sent: there is no source address left for it.

    Here and not in a SIP server's demote: only this agent knows that the
    address leaves (a demote may keep it through a drain; a restart of this
    resource on the same node drops it too), and it covers every server
    and every other TCP service on the address.

    Inbound TCP to the addresses is dropped from before the reset until
    they are gone: a peer that reconnects the moment it is reset would
    otherwise be accepted here again, in the few milliseconds before the
    delete, and be left with a dead connection.  Its SYN, dropped, is
    retried (Linux: after 1 s) and reaches the next holder."""
    for address in addresses:
        if address in state.guards:
            continue  # an earlier stop that did not finish
        state.guards.append(address)
        state.save()
        try:
            ip.block_tcp_in(address)
        except (OCFError, CommandError) as err:  # none of this may fail the stop
            # Never ours to delete later: it may be someone's IPsec policy.
            state.guards.remove(address)
            state.save()
            ctx.log.warning(f"new TCP connections to {address} are not held off while its "
                            f"connections are reset ({err.reason})")
    sockets = TcpSockets(ctx.run)
    where = ", ".join(addresses)
    try:
        reset = sockets.reset(addresses)
        left = sockets.connected(addresses)
    except (OCFError, CommandError) as err:
        ctx.log.warning(f"TCP connections on {where} not reset: {err.reason}")
        return
    if reset:
        ctx.log.info(f"reset {len(reset)} TCP connection(s) on {where}")
    if left:
        ctx.log.warning(f"{len(left)} TCP connection(s) on {where} could not be reset (a "
                        "kernel without CONFIG_INET_DIAG_DESTROY?); their peers notice only "
                        "when they next send")


def _lift_guards(ip: Ip, ctx: Context, state: State) -> None:
    if not state.guards:
        return  # and no state file written: start may yet refuse
    for address in state.guards:
        try:
            ip.unblock_tcp_in(address)
        except (OCFError, CommandError) as err:
            if "No such file" not in err.reason:  # gone already (an earlier stop)
                ctx.log.error(f"inbound TCP to {address} may still be blocked on this node: "
                              f"{err.reason}")
    state.guards = []
    state.save()


# --------------------------------------------------------------------------
# Actions


def start(cfg: ServiceIpConfig, ctx: Context) -> OCFCode:
    addresses, destinations = parse(cfg)
    ip = Ip(ctx.run)
    links = ip.links()
    placements = [place(a, cfg.nic, links) for a in addresses]
    state = State.load(_state_path(ctx)) or State(_state_path(ctx))
    _stop_sender(state)
    _lift_guards(ip, ctx, state)
    for p in placements:
        reason = _link_down(_link(links, p.dev) or {})
        if reason:
            raise GenericError(reason)
        holder = next((link["ifname"] for link in links if _address_info(link, p.ip)), None)
        if holder is not None:
            if holder == p.dev and state.owns(p):
                continue
            raise ArgsError(f"{p.ip} is already on {holder} and was not added by this "
                            "resource; remove it there or choose another address")
        if not state.owns(p):
            state.addresses.append(p.as_dict())
            state.save()
        ip.add_address(p.ip, p.prefix, p.dev)
        ctx.log.info(f"added {p.ip}/{p.prefix} on {p.dev}")
    # Phones and trunks learn the address first; the outbound routes (our
    # own source address) before the rest of the rounds, which may wait.
    targets = _announce_first(state, links)
    routes: dict[int, list[dict[str, Any]]] = {}
    for dest in destinations:
        src = next(p.ip for p in placements if p.family == dest.family)
        if dest.family not in routes:
            routes[dest.family] = ip.routes(dest.family)
        _take_route(ip, state, dest, src, routes[dest.family])
        ctx.log.info(f"outbound source for {dest} is {src}")
    _announce_rest(cfg, ctx, state, targets)
    state.save()
    metrics.took_over(ctx)
    return OCFCode.SUCCESS


def stop(cfg: ServiceIpConfig, ctx: Context) -> OCFCode:
    state = State.load(_state_path(ctx))
    if state is None:
        return OCFCode.SUCCESS
    leaving = time.time()
    # First, while phones still reach the address: the new holder's start
    # waits for this stop to end either way.
    metrics.released(ctx, leaving)
    _stop_sender(state)
    state.save()
    ip = Ip(ctx.run)
    routes = {family: ip.routes(family) for family in {e["family"] for e in state.routes}}
    for entry in reversed(state.routes):
        _release_route(ip, ctx, entry, routes[entry["family"]])
    links = ip.links()
    present = [entry for entry in reversed(state.addresses)
               if _address_info(_link(links, entry["dev"]), entry["ip"]) is not None]
    if present:
        _reset_connections(ip, ctx, state, [entry["ip"] for entry in present])
    for entry in present:
        _keep_secondaries(_link(links, entry["dev"]), entry)  # type: ignore[arg-type]
        ip.del_address(entry["ip"], entry["prefix"], entry["dev"])
        ctx.log.info(f"removed {entry['ip']}/{entry['prefix']} from {entry['dev']}")
    _lift_guards(ip, ctx, state)
    state.remove()
    metrics.forget_takeover(ctx)
    return OCFCode.SUCCESS


def _keep_secondaries(link: dict[str, Any], entry: dict[str, Any]) -> None:
    """Removing a primary IPv4 address also removes its secondaries unless the
    kernel is told to promote one: those may be addresses we did not add."""
    info = _address_info(link, entry["ip"])
    if _family(entry["ip"]) != 4 or info is None or info.get("secondary"):
        return
    others = [i for i in link.get("addr_info", ()) if i.get("family") == "inet"
              and i.get("secondary") and int(i["prefixlen"]) == entry["prefix"]
              and _contains(4, i["local"], entry["prefix"], entry["ip"])]
    if others:
        path = f"/proc/sys/net/ipv4/conf/{entry['dev']}/promote_secondaries"
        with open(path, "w", encoding="ascii") as handle:
            handle.write("1\n")


def monitor(cfg: ServiceIpConfig, ctx: Context) -> OCFCode:
    parse(cfg)
    state = State.load(_state_path(ctx))
    if state is None:
        return OCFCode.NOT_RUNNING
    ip = Ip(ctx.run)
    links = ip.links()
    for entry in state.addresses:
        link = _link(links, entry["dev"])
        if link is None:
            raise GenericError(f"interface {entry['dev']} is gone")
        info = _address_info(link, entry["ip"])
        if info is None or int(info["prefixlen"]) != entry["prefix"]:
            raise GenericError(f"{entry['ip']}/{entry['prefix']} is no longer on {entry['dev']}")
        if info.get("dadfailed"):
            raise GenericError(f"duplicate address: {entry['ip']} failed duplicate detection")
        reason = _link_down(link)
        if reason:
            raise GenericError(reason)
    routes = {family: ip.routes(family) for family in {e["family"] for e in state.routes}}
    for entry in state.routes:
        route = entry["route"]
        if not _ours(routes[entry["family"]], route["dst"], route["prefsrc"]):
            raise GenericError(f"the route to {route['dst']} no longer has source "
                               f"{route['prefsrc']}")
    if ctx.check_level >= 10:
        from ocf_agents.clients.announce import find_duplicates

        for address, mac in find_duplicates(_targets(state, links), cfg.duplicate_timeout):
            raise GenericError(f"duplicate address: {address} is also answered by {mac} "
                               "(another host holds it)")
    if not ctx.is_probe:
        metrics.settle_outage(ctx)
    return OCFCode.SUCCESS


AGENT = Agent(
    "service-ip",
    version="1.0",
    shortdesc="SIP service addresses and the outbound trunk source address",
    longdesc=(
        "Adds the SIP service addresses (IPv4 and IPv6) on the given interface or the "
        "one whose connected network contains them, announces them with repeated "
        "gratuitous ARP and unsolicited neighbour advertisements, and makes a service "
        "address the preferred source of the routes to outbound_networks (ITSP trunks, "
        "PSTN gateway, default), restoring those routes on stop. Stop removes only what "
        "this resource added, and first resets every TCP connection on the addresses "
        "(SOCK_DESTROY, new inbound TCP held off meanwhile), so TCP and TLS phones "
        "reconnect, to the next holder, at once. The monitor checks that each address is "
        "on its interface, the link is up and the source routes are in place; at "
        "OCF_CHECK_LEVEL 10 it also probes for another host answering for the addresses "
        "(duplicate address)."),
    config=ServiceIpConfig,
    handlers={"start": start, "stop": stop, "monitor": monitor},
    operations=(
        Operation("start", timeout=20),
        Operation("stop", timeout=20),
        Operation("monitor", timeout=20, interval=10),
        Operation("monitor", timeout=20, interval=30, depth=10),
        Operation("validate-all", timeout=20),
        Operation("meta-data", timeout=5),
    ),
    validate=validate,
)


def main() -> None:
    AGENT.main()


if __name__ == "__main__":
    main()
