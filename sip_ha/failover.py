"""Moving a SIP service to another node on an operator's request: the
manual failover, and the failback the operator approves once the old
master is healthy again.

The move is ``pcs resource move`` (``--promoted`` for Asterisk), which
creates a location constraint, waits for the move and removes it again; the
constraint is cleared once more afterwards so stickiness alone keeps the
service where it now is.  While it runs, the service address is probed with
SIP OPTIONS to measure the outage callers saw.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass

from cib_templates.params import ClusterParams, Service
from cib_templates.render import (
    active_resource,
    forced_attribute,
    ip_resource,
    sync_resource,
)
from sip_ha import cluster, tools
from sip_ha.errors import BadUsage, Interrupted, Refused, TimedOut
from sip_ha.interrupt import shielded
from sipha_runtime.errors import Failure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from sipha_runtime.run import Runner

    Progress = Callable[[str], None]


# how often a waiting failback reads the cluster again
POLL = 2.0


@dataclass(frozen=True)
class Outcome:
    service: str
    source: str | None
    target: str
    took: float              # request to SIP-ACTIVE on the target, seconds
    outage: float | None     # longest time the address did not answer SIP
    probed: bool             # outage was measured (None then: it never answered again)
    warnings: tuple[str, ...]


def readiness_problems(state: cluster.ClusterState, service: Service, target: str) -> list[str]:
    """Why TARGET cannot take SERVICE now (empty: it can)."""
    node = state.node(target)
    if target not in service.nodes:
        return [f"{target} is not one of {service.name}'s nodes ({', '.join(service.nodes)})"]
    if node is None or not node.online:
        return [f"{target} is offline: start it (pcs cluster start {target}) and wait "
                "until 'sip-ha status' shows it online"]
    problems = []
    if node.unclean:
        problems.append(f"{target} is unclean: fencing has not confirmed it")
    if node.standby:
        problems.append(f"{target} is in standby: run 'sip-ha unstandby {target}' first")
    if node.maintenance:
        problems.append(f"{target} is in maintenance mode")
    health = state.service(service.name).on(target)
    if health is None or not health.healthy:
        role = health.role if health else "Stopped"
        problems.append(
            f"{service.server} on {target} is not a healthy hot standby ({role}"
            f"{', failed' if health and health.failed else ''}): check it with 'pcs status' "
            f"and clear old failures with 'pcs resource cleanup {active_resource(service)}'")
    if health is not None and health.config_refused:
        problems.append(f"Asterisk on {target} refused configuration it was given "
                        f"({health.config_refused}): it would serve the previous one")
    if service.gateways and (health is None or health.gateways is None):
        problems.append(f"{target} has not measured its gateways yet "
                        f"({', '.join(service.gateways)}): wait for its ping resource")
    elif service.gateways and health is not None and health.gateways is not None \
            and health.gateways < len(service.gateways):
        problems.append(f"{target} reaches {health.gateways} of {len(service.gateways)} "
                        f"gateway(s) ({', '.join(service.gateways)}): fix its network first")
    return problems


def data_problems(state: cluster.ClusterState, service: Service, target: str) -> list[str]:
    """What TARGET still lacks of the data the SIP-ACTIVE node holds (empty:
    nothing): the failback gate.  It has received everything changed since it
    rejoined (a full comparison completed since the pushes to it last failed,
    nothing pending, no conflict), and its database replica runs and has
    caught up."""
    current = state.service(service.name)
    health = current.on(target)
    problems = []
    if service.sync is not None:
        sync = health.sync if health else None
        pusher = current.sync_node or "the SIP-ACTIVE node"
        if current.sync_node is None or current.sync_node != current.active_node:
            problems.append(f"file sync is not pushing from the SIP-ACTIVE node: see 'pcs "
                            f"resource status {sync_resource(service)}'")
        elif sync is None:
            problems.append(f"file sync from {pusher} has not reported on {target} yet")
        elif sync.state == "failing":
            problems.append(f"file sync from {pusher} to {target} fails: {sync.error or '?'}"
                            f" ({sync.pending or 0} change(s) not delivered)")
        elif sync.state == "conflicts":
            problems.append(
                f"{sync.conflicts} file(s) on {target} were edited since the last sync "
                f"(conflicts): list them with 'sip-ha-sync resync --dry-run' on {pusher}; "
                f"'sip-ha-sync push --force PATH' there sends its version (the one on "
                f"{target} kept in its backup folder)")
        elif sync.state != "ok" or sync.pending:
            problems.append(f"file sync from {pusher} to {target} is not complete: "
                            f"{sync.pending or 0} change(s) not delivered"
                            + ("" if sync.reconciled else
                               ", waiting for a full comparison (at most a minute)"))
    if service.database is not None:
        replica = health.replication if health else None
        if replica is None:
            problems.append(f"the database replica on {target} does not report: is "
                            f"{service.name}-db running there?")
        elif replica.state != "ok" or replica.lag:
            problems.append(f"the database replica on {target} has not caught up "
                            f"({replica.describe()})")
    return problems


def _find(params: ClusterParams, name: str | None) -> Service:
    if name is None:
        if len(params.services) == 1:
            return params.services[0]
        names = ", ".join(s.name for s in params.services)
        raise BadUsage(f"the cluster runs several services ({names}): name one with --service")
    for service in params.services:
        if service.name == name:
            return service
    names = ", ".join(s.name for s in params.services)
    raise BadUsage(f"there is no service {name!r} in the parameter file (known: {names})")


def _quiet(_message: str) -> None:
    pass


def failover(runner: Runner, params: ClusterParams, service_name: str | None = None,
             to: str | None = None, force: bool = False, wait: float = 120,
             probe: Callable[[str], bool] | None = None,
             progress: Progress = _quiet) -> Outcome:
    """Move the service off its SIP-ACTIVE node now (to TO, or the best
    standby), telling PROGRESS each step."""
    service = _find(params, service_name)
    progress("reading the cluster status")
    try:
        state = cluster.read(runner, params)
    except KeyboardInterrupt:
        raise Interrupted("interrupted before anything was changed") from None
    current = state.service(service.name).active_node
    if to is None:
        candidates = [n for n in _by_preference(service) if n != current]
        ready = [n for n in candidates if not readiness_problems(state, service, n)]
        if not ready and not force:
            reasons = "; ".join(p for n in candidates
                                for p in readiness_problems(state, service, n))
            raise Refused(f"no other node can take {service.name}: {reasons}")
        to = (ready or candidates)[0]
    return _move(runner, params, service, state, to, force, wait, probe, progress)


def failback(runner: Runner, params: ClusterParams, service_name: str | None = None,
             to: str | None = None, force: bool = False, wait: float = 120,
             probe: Callable[[str], bool] | None = None, wait_ready: float = 0,
             progress: Progress = _quiet) -> Outcome:
    """The operator's approval: move the service back to its preferred node,
    once it is ready and holds the data (failback_problems).  WAIT_READY:
    seconds to wait for that, PROGRESS told each step and what is still
    missing whenever it changes."""
    service = _find(params, service_name)
    target = to or service.preferred_node
    progress("reading the cluster status")
    try:
        state = _ready(runner, params, service, target, force, wait_ready, progress)
    except KeyboardInterrupt:
        raise Interrupted("interrupted before anything was changed") from None
    health = state.service(service.name).on(target)
    kept = [cluster.kept_note(target, health.sync)] if health and health.sync and \
        health.sync.kept else []
    try:
        outcome = _move(runner, params, service, state, target, force, wait, probe, progress,
                        failback_problems)
    except Refused as err:
        if kept:
            raise Refused(f"{err}; also: {kept[0]}") from None
        raise
    return dataclasses.replace(outcome, warnings=(*outcome.warnings, *kept))


def _ready(runner: Runner, params: ClusterParams, service: Service, target: str, force: bool,
           wait_ready: float, progress: Progress) -> cluster.ClusterState:
    """The cluster once TARGET is ready for SERVICE, or WAIT_READY is over."""
    state = cluster.read(runner, params)
    started, last = time.monotonic(), None
    while not force and time.monotonic() - started < wait_ready:
        problems = failback_problems(state, service, target)
        if not problems or state.service(service.name).active_node == target:
            break
        if problems != last:
            progress(f"waiting ({time.monotonic() - started:.0f}s): " + "; ".join(problems))
            last = problems
        time.sleep(POLL)
        state = cluster.read(runner, params)
    return state


def failback_problems(state: cluster.ClusterState, service: Service, target: str) -> list[str]:
    problems = readiness_problems(state, service, target)
    node = state.node(target)
    if node is not None and node.online:
        problems += data_problems(state, service, target)
    return problems


def _by_preference(service: Service) -> list[str]:
    return [service.preferred_node, *(n for n in service.nodes if n != service.preferred_node)]


def _move(runner: Runner, params: ClusterParams, service: Service,
          state: cluster.ClusterState, target: str, force: bool, wait: float,
          probe: Callable[[str], bool] | None, progress: Progress,
          gate: Callable[[cluster.ClusterState, Service, str], list[str]] | None = None
          ) -> Outcome:
    current = state.service(service.name).active_node
    if current == target:
        raise Refused(f"{service.name} is already SIP-ACTIVE on {target}; nothing to do")
    problems = (gate or readiness_problems)(state, service, target)
    warnings: list[str] = []
    if problems and not force:
        raise Refused(f"not moving {service.name} to {target}: " + "; ".join(problems)
                      + " (--force moves it anyway)")
    if problems:
        warnings.append("forced although " + "; ".join(problems))
        _announce_forced(runner, service, target, problems, warnings)
    rsc = active_resource(service) if service.promotable else ip_resource(service)
    watcher = _OutageWatch(service, probe) if probe else None
    started = time.monotonic()
    argv = [tools.PCS, "resource", "move", rsc, target]
    if service.promotable:
        argv.append("--promoted")
    argv.append(f"--wait={int(wait)}")
    took = None
    try:
        progress(f"moving {service.name} from {current or 'nowhere'} to {target}: "
                 + " ".join(argv))
        tools.run(runner, argv, f"move {service.name} to {target}",
                  "See 'pcs status' for why Pacemaker did not move it.", timeout=wait + 30)
        progress(f"pcs is done; waiting until crm_mon shows {target} SIP-ACTIVE")
        deadline = started + wait
        while True:
            now = cluster.read(runner, params).service(service.name)
            if now.active_node == target:
                break
            if time.monotonic() > deadline:
                raise TimedOut(f"{service.name} is not SIP-ACTIVE on {target} after "
                               f"{wait:.0f}s; see 'sip-ha status' and 'pcs status'")
            time.sleep(0.5)
        took = time.monotonic() - started
        progress(f"{service.name} SIP-ACTIVE on {target} after {took:.1f}s")
    except KeyboardInterrupt:
        pass  # below, once the constraint is cleared
    finally:
        with shielded():
            outage = watcher.stop() if watcher else None
            # pcs removes its move constraint itself, but not when it is cut
            # short; none may stay, or the service could never come back here.
            left = _clear(runner, rsc)
        if left:
            warnings.append(left)
        else:
            progress("move constraint cleared")
    if took is None:
        raise Interrupted(
            f"interrupted while moving {service.name} from {current or 'nowhere'} to "
            f"{target}: "
            + (left or "the move constraint is cleared; Pacemaker leaves it where health "
                       "and stickiness put it (see 'sip-ha status')"))
    return Outcome(service.name, current, target, took, outage, watcher is not None,
                   tuple(warnings))


def _clear(runner: Runner, rsc: str) -> str | None:
    """Remove RSC's move constraints; what is left and how to clear it (None: nothing)."""
    try:
        cleared = runner.run([tools.PCS, "resource", "clear", rsc], timeout=30)
    except Failure as err:  # CommandError: pcs missing, or out of time
        reason = err.reason
    else:
        if cleared.ok:
            return None
        reason = cleared.summary()
    return (f"the move constraint may still be there (pcs resource clear: {reason}): "
            f"run 'pcs resource clear {rsc}'")


def _announce_forced(runner: Runner, service: Service, target: str, problems: list[str],
                     warnings: list[str]) -> None:
    """A forced move goes into the log and, through a node attribute the
    alert selects, to the alert recipients (the value changes every time)."""
    from sip_ha import history

    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    text = f"{service.name} to {target} at {stamp} although " + "; ".join(problems)
    history.record(f"FORCED move of {text}")
    result = runner.run([tools.ATTRD_UPDATER, "-n", forced_attribute(service), "-U",
                         text[:900]], timeout=10)
    if not result.ok:
        warnings.append(f"the alert about this forced move was not sent: "
                        f"{result.summary()}")


def sip_uri(address: str, local_uris: str = "") -> str:
    """The service address at the port the server's own check uses (its
    first plain SIP URI in LOCAL_URIS, the agent's ``sip_uris``), else 5060."""
    from ocf_agents.clients.sip_options import parse_uri

    host = address.partition("/")[0]
    hostport = f"[{host}]" if ":" in host else host
    for uri in local_uris.split():
        try:
            target = parse_uri(uri)
        except ValueError:
            continue
        if target.transport != "tls":
            return f"sip:{hostport}" if target.port == 5060 else f"sip:{hostport}:{target.port}"
    return f"sip:{hostport}"


def sip_answers(uri: str, timeout: float = 0.5) -> bool:
    """True when URI answers SIP OPTIONS over TCP or UDP with a status a
    working stack gives.  TCP first: a server bound to the wildcard address
    may answer UDP from another source address, which the probe ignores."""
    from ocf_agents.clients.sip_options import SipError, probe
    from ocf_agents.shared.sip_check import accepts

    for transport in ("tcp", "udp"):
        try:
            if accepts(("2xx", "3xx", "4xx"), probe(f"{uri};transport={transport}",
                                                    timeout).status):
                return True
        except (SipError, OSError):
            continue
    return False


# How often the outage watch asks the service address.
PROBE_INTERVAL = 0.1


class _OutageWatch:
    """Probe the service address in the background; the longest stretch from
    the last answer before a silence to the first answer after it.  Each
    probe runs in a thread of its own and counts at the time it was sent, so
    a probe waiting out its timeout on a dead address does not hide when the
    next one is answered: the outage is measured to the interval."""

    def __init__(self, service: Service, probe: Callable[[str], bool],
                 interval: float = PROBE_INTERVAL) -> None:
        self.uri = sip_uri(service.ip[0], service.options.get("sip_uris", ""))
        self.probe = probe
        self.interval = interval
        self.samples: list[tuple[float, bool]] = []
        self.lock = threading.Lock()
        self.probes: list[threading.Thread] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.done.is_set():
            probe = threading.Thread(target=self._one, args=(time.monotonic(),), daemon=True)
            probe.start()
            self.probes = [p for p in self.probes if p.is_alive()] + [probe]
            self.done.wait(self.interval)

    def _one(self, sent: float) -> None:
        answered = self.probe(self.uri)
        with self.lock:
            self.samples.append((sent, answered))

    def stop(self) -> float | None:
        # One more probe after the move so a final silence is measured too.
        self.done.set()
        self.thread.join()
        for probe in self.probes:
            probe.join()
        self._one(time.monotonic())
        return longest_outage(sorted(self.samples))


def longest_outage(samples: list[tuple[float, bool]]) -> float | None:
    """Longest time between an answer and the next one after failed probes;
    0.0 when no probe failed; None when the address never answered again."""
    longest, last_ok, failing = 0.0, None, False
    for stamp, ok in samples:
        if ok:
            if failing and last_ok is not None:
                longest = max(longest, stamp - last_ok)
            elif failing:
                longest = max(longest, stamp - samples[0][0])
            last_ok, failing = stamp, False
        else:
            failing = True
    return None if failing else longest
