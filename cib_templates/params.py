"""The SIP-HA parameter file: what an administrator writes (TOML), checked
into frozen values the renderer turns into a CIB.

Every section is optional except ``[cluster]`` and at least one
``[[service]]``; an unknown section or key is an error (a typo must not
silently drop a resource).  ``example.toml`` beside this module documents
every key.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import stat
import tomllib
from dataclasses import dataclass, field, replace

from cib_templates import qdevice, totem
from sipha_runtime.errors import Failure
from sipha_runtime.log import SYSLOG_FACILITIES
from sipha_runtime.recipients import (
    SEVERITIES,
    TLS_MODES,
    RecipientError,
    check_tls,
    smtp_server,
)
from sipha_runtime.recipients import parse as parse_recipient

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

DEFAULT_PATH = "/etc/sip-ha/cluster.toml"
SERVERS = ("asterisk", "sipserver")
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_DURATION = re.compile(r"[0-9]{1,9}(ms|s|m|min|h)?")
# Host names as Corosync and ssh take them: never an option ("-x") or a path.
_NODE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}")
# Agent parameters become OCF_RESKEY_<name> (environment variable names).
_OPTION = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,99}")
_NIC = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
# Not XML text (lxml refuses it), or a line break in a one-line message.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ufffe\uffff]")
DEFAULT_ROUTES = ("default", "default4", "default6")
# Pacemaker caps every score at INFINITY.
SCORE_INFINITY = 1_000_000
# class:provider:type (ocf) or class:type (systemd, lsb, service, stonith).
_AGENT = re.compile(r"(ocf:[A-Za-z0-9_.-]+|systemd|lsb|service):[A-Za-z0-9_.@-]+")
# Option names that hold a secret; the *_file, *_script and *_path ones
# (password_script, identity_file) only point at one.
_SECRET_NAME = re.compile(r"passw|passphrase|secret|token|credential|api_?key|private_?key"
                          r"|(^|[_.-])(pass|kg)($|[_.-])", re.IGNORECASE)
_POINTER_NAME = re.compile(r"[_.-](file|script|path)$", re.IGNORECASE)
# cibsecret's marker: the value is in a root-only file on each node.
STASHED = "lrm://"


class ParamError(Failure):
    """The parameter file is wrong; the message names the key and the fix.
    Bad input, so the CLI's 2 (README "Exit codes")."""

    exit_code = 2


@dataclass(frozen=True)
class Timings:
    """Operation intervals and timeouts (Pacemaker durations such as 3s)."""

    monitor_promoted: str = "2s"
    monitor_unpromoted: str = "5s"
    monitor_deep: str = "31s"
    monitor_timeout: str = "10s"
    start_timeout: str = "60s"
    stop_timeout: str = "60s"
    promote_timeout: str = "30s"
    demote_timeout: str = "60s"
    ip_monitor: str = "5s"
    ping_monitor: str = "5s"
    ping_dampen: str = "3s"
    extra_monitor: str = "10s"
    failure_timeout: str = "5s"
    migration_threshold: int = 1
    recheck_interval: str = "1min"
    # Corosync's totem timing, whole milliseconds (README, Timings).  The
    # parse sets consensus to 1.2 x the token Corosync runs when not given.
    corosync_token: int = 1000
    corosync_consensus: int = 1200
    # priority-fencing-delay: in a split of two nodes, fencing the node
    # holding the service address waits this long, so the other is fenced first.
    # With a quorum device the parse makes it qdevice.FENCING_DELAY when not given.
    fencing_delay: str = "5s"
    # corosync-qdevice's timeout and sync_timeout, whole milliseconds (used
    # with [cluster] quorum_device only; cib_templates/qdevice.py says why).
    qdevice_timeout: int = qdevice.DEFAULT_TIMEOUT
    qdevice_sync_timeout: int = qdevice.DEFAULT_SYNC_TIMEOUT


@dataclass(frozen=True)
class Fencing:
    id: str
    agent: str
    targets: tuple[str, ...]
    options: Mapping[str, str]


@dataclass(frozen=True)
class Extra:
    """A service run on the active server only (web GUI, TFTP, ...)."""

    id: str
    agent: str
    options: Mapping[str, str]


@dataclass(frozen=True)
class Storage:
    """A shared storage area (ocf:heartbeat:Filesystem) mounted where the
    service is SIP-ACTIVE, before it takes the role."""

    device: str
    directory: str
    fstype: str
    options: str = ""


@dataclass(frozen=True)
class Service:
    name: str
    server: str
    preferred_node: str
    nodes: tuple[str, ...]
    ip: tuple[str, ...]
    nic: str
    trunk_networks: tuple[str, ...]
    gateways: tuple[str, ...]
    options: Mapping[str, str]
    ip_options: Mapping[str, str]
    extras: tuple[Extra, ...]
    # ocf:sipha:filesync parameters; None: no file sync for this service.
    sync: Mapping[str, str] | None = None
    # sync.toml peers that are not nodes of the service (a mounted export, a
    # NAS over ssh): their sync state is alerted like a node's.
    sync_targets: tuple[str, ...] = ()
    # ocf:sipha:mysql-mm parameters; None: no CDR database for this service.
    database: Mapping[str, str] | None = None
    # The shared storage area; None: none for this service.
    storage: Storage | None = None

    @property
    def promotable(self) -> bool:
        return self.server == "asterisk"


@dataclass(frozen=True)
class Alerts:
    """Notifications through sip-ha-alert: each recipient names its channel."""

    recipients: tuple[str, ...]
    path: str
    timeout: str
    # sip-ha-alert's settings, as the sipha_* instance attributes it reads.
    options: Mapping[str, str]
    # How often a lasting sync problem is reminded of (the filesync agent's
    # reminder_interval; the change of state itself alerts at once).
    reminder_interval: str = "1h"
    # Within this of one sent, the same failed resource operation (or the same
    # success while that resource keeps failing) is held back and counted
    # (sip-ha-alert's sipha_repeat_interval; "0": never).
    repeat_interval: str = "10m"


@dataclass(frozen=True)
class ClusterParams:
    nodes: tuple[str, ...]
    stickiness: int
    preferred_score: int
    services: tuple[Service, ...]
    fencing: tuple[Fencing, ...]
    timings: Timings = field(default_factory=Timings)
    alerts: Alerts | None = None
    # corosync-qnetd's host (address or name); None: no quorum device.
    quorum_device: str | None = None
    # The file left fencing_delay to the device's default: until the device
    # is in place (sip_ha.qdevice.until_in_place) the two-node one holds.
    fencing_delay_from_device: bool = False


# --------------------------------------------------------------------------


def load(path: str = DEFAULT_PATH) -> ClusterParams:
    """The parameter file at PATH; refused while it holds secrets that group
    or others can read."""
    try:
        with open(path, "rb") as handle:
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            raw = handle.read()
    except FileNotFoundError:
        raise ParamError(f"{path} does not exist; copy the documented example "
                         "(sip-ha cib example) there and edit it") from None
    except OSError as err:  # a folder, no permission
        raise ParamError(f"{path} cannot be read: {err.strerror}") from None
    params = parse(_toml(raw, path), path)
    exposed = inline_secrets(params)
    if exposed and mode & 0o077:
        more = f" and {len(exposed) - 2} more" if len(exposed) > 2 else ""
        raise ParamError(
            f"{path} holds secrets ({'; '.join(exposed[:2])}{more}) and its mode {mode:04o} "
            f"lets group or others at them: chmod 600 {shlex.quote(path)} (or point at them: "
            "password_script, a *_file option, cibsecret; see README, Security)")
    return params


def inline_secrets(params: ClusterParams) -> list[str]:
    """Where PARAMS holds a secret itself, as 'table option' (never the value)."""
    return [f"{where} {name}" for where, options in _option_tables(params)
            for name, value in options.items()
            if value and value != STASHED and secret_name(name)]


def secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name)) and not _POINTER_NAME.search(name)


def _option_tables(params: ClusterParams) -> Iterator[tuple[str, Mapping[str, str]]]:
    for service in params.services:
        where = f"[[service]] {service.name}"
        yield f"{where} options", service.options
        yield f"{where} ip_options", service.ip_options
        yield f"{where} sync", service.sync or {}
        yield f"{where} database", service.database or {}
        for extra in service.extras:
            yield f"[[service.extra]] {extra.id} options", extra.options
    for device in params.fencing:
        yield f"[[fencing]] {device.id} options", device.options
    if params.alerts:
        yield "[alerts]", params.alerts.options


def _toml(raw: bytes, path: str) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise ParamError(f"{path} line {line}: not UTF-8 text; save the file as UTF-8"
                         ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ParamError(f"{path} is not valid TOML: {err}") from None
    except RecursionError:
        raise ParamError(f"{path}: arrays or tables nested too deeply") from None


def parse(data: Mapping[str, Any], where: str = "parameter file") -> ClusterParams:
    _plain(data, where)
    _known(data, {"cluster", "service", "fencing", "timings", "alerts"}, where)
    cluster = _table(data, "cluster", where, required=True)
    _known(cluster, {"nodes", "stickiness", "preferred_score", "gateways", "quorum_device"},
           f"{where} [cluster]")
    nodes = _names(cluster, "nodes", f"{where} [cluster]", required=True)
    if len(nodes) < 2:
        raise ParamError(f"{where} [cluster] nodes: list at least two nodes")
    stickiness = _int(cluster, "stickiness", 200, f"{where} [cluster]")
    preferred = _int(cluster, "preferred_score", 100, f"{where} [cluster]")
    if not 0 < preferred < stickiness:
        raise ParamError(
            f"{where} [cluster]: preferred_score ({preferred}) must be above 0 and below "
            f"stickiness ({stickiness}), or services would fail back on their own")
    if 2 * (stickiness + preferred) >= SCORE_INFINITY:
        raise ParamError(
            f"{where} [cluster]: stickiness + preferred_score must stay below "
            f"{SCORE_INFINITY // 2}: the gateway bonus, twice their sum, must stay below "
            f"Pacemaker's INFINITY ({SCORE_INFINITY})")
    gateways = _addresses(cluster, "gateways", f"{where} [cluster]")
    device = _quorum_device(cluster, nodes, f"{where} [cluster]")
    raw_services = data.get("service", [])
    if not isinstance(raw_services, list) or not raw_services:
        raise ParamError(f"{where}: declare at least one [[service]]")
    services = tuple(_service(raw, nodes, gateways, f"{where} [[service]] #{i + 1}")
                     for i, raw in enumerate(raw_services))
    _unique_ids(services, where)
    if device and device in {ip.partition("/")[0] for svc in services for ip in svc.ip}:
        raise ParamError(f"{where} [cluster] quorum_device: {device} is a service address; "
                         "the qnetd must run on a third machine")
    raw_fencing = data.get("fencing", [])
    if not isinstance(raw_fencing, list) or not raw_fencing:
        raise ParamError(f"{where}: declare at least one [[fencing]] device; a cluster "
                         "without fencing cannot safely move a SIP service address")
    fencing = tuple(_fencing(raw, nodes, f"{where} [[fencing]] #{i + 1}")
                    for i, raw in enumerate(raw_fencing))
    raw_timings = _table(data, "timings", where)
    timings = _timings(raw_timings, f"{where} [timings]", len(nodes))
    from_device = bool(device) and "fencing_delay" not in raw_timings
    if from_device:
        timings = replace(timings, fencing_delay=qdevice.FENCING_DELAY)
    return ClusterParams(
        nodes=nodes, stickiness=stickiness, preferred_score=preferred,
        services=services, fencing=fencing, timings=timings,
        alerts=_alerts(data["alerts"], f"{where} [alerts]") if "alerts" in data else None,
        quorum_device=device, fencing_delay_from_device=from_device)


def _quorum_device(cluster: Mapping[str, Any], nodes: tuple[str, ...], where: str
                   ) -> str | None:
    """[cluster] quorum_device: the qnetd's address or host name (ffsplit:
    an even number of nodes only), on none of the nodes."""
    members = len(nodes)
    if "quorum_device" not in cluster:
        return None
    host = _str(cluster, "quorum_device", "", where)
    if not (_is_address(host, prefix=False) or _NODE.fullmatch(host)):
        raise ParamError(f"{where} quorum_device: {host!r} is not an IPv4 or IPv6 address "
                         "or a host name (the machine that runs corosync-qnetd)")
    if host in nodes:
        raise ParamError(f"{where} quorum_device: {host} is a cluster node; the qnetd must "
                         "run on a third machine (its vote is lost with that node)")
    if members % 2:
        raise ParamError(f"{where} quorum_device: {members} nodes; the quorum device's "
                         f"algorithm ({qdevice.ALGORITHM}) is for an even number of nodes, "
                         "and an odd cluster settles a split by majority: leave it out")
    return host


def warnings(params: ClusterParams) -> list[str]:
    """What the parameter file allows but should not be (one line each)."""
    delay = params.timings.fencing_delay
    if params.quorum_device and not _zero(delay):
        return [f"[timings] fencing_delay is {delay} with a quorum device: every power cut "
                "of the SIP-ACTIVE node waits it (only the side with quorum fences; "
                f"set it to \"{qdevice.FENCING_DELAY}\")"]
    if not params.quorum_device and len(params.nodes) == 2 and _zero(delay):
        return ["[timings] fencing_delay is 0 in two nodes without a quorum device: a cut "
                "link can fence both nodes ([cluster] quorum_device, or a delay such as 5s)"]
    return []


def _zero(duration: str) -> bool:
    """A duration of the parameter file (_DURATION) that is no time at all."""
    return not duration.rstrip("minsh").strip("0")


def _service(raw: Any, nodes: tuple[str, ...], gateways: tuple[str, ...],
             where: str) -> Service:
    if not isinstance(raw, dict):
        raise ParamError(f"{where}: must be a table")
    _known(raw, {"name", "server", "preferred_node", "nodes", "ip", "nic",
                 "trunk_networks", "gateways", "options", "ip_options", "extra", "sync",
                 "database", "storage"},
           where)
    name = _id(raw, "name", where)
    where = f"{where} ({name})"
    server = _str(raw, "server", "asterisk", where)
    if server not in SERVERS:
        raise ParamError(f"{where} server: {server!r} is not one of {', '.join(SERVERS)}")
    own_nodes = _names(raw, "nodes", where) or nodes
    if len(own_nodes) < 2:
        raise ParamError(f"{where} nodes: list at least two nodes, or the service has "
                         "nowhere to fail over to")
    for node in own_nodes:
        if node not in nodes:
            raise ParamError(f"{where} nodes: {node} is not in [cluster] nodes")
    preferred = _str(raw, "preferred_node", own_nodes[0], where)
    if preferred not in own_nodes:
        raise ParamError(f"{where} preferred_node: {preferred} is not one of its nodes "
                         f"({', '.join(own_nodes)})")
    ip = _addresses(raw, "ip", where, prefix=True)
    if not ip:
        raise ParamError(f"{where} ip: give the service address(es), e.g. "
                         "[\"198.51.100.100/24\"]")
    extras = raw.get("extra", [])
    if not isinstance(extras, list):
        raise ParamError(f"{where} extra: write each as an [[service.extra]] table")
    return Service(
        name=name, server=server, preferred_node=preferred, nodes=own_nodes, ip=ip,
        nic=_nic(raw, where),
        trunk_networks=_addresses(raw, "trunk_networks", where, prefix=True,
                                  names=DEFAULT_ROUTES),
        gateways=_addresses(raw, "gateways", where) if "gateways" in raw else gateways,
        options=_options(raw, "options", where),
        ip_options=_options(raw, "ip_options", where),
        extras=tuple(_extra(item, f"{where} [[service.extra]] #{i + 1}")
                     for i, item in enumerate(extras)),
        sync=_options(raw, "sync", where, but=("targets",)) if "sync" in raw else None,
        sync_targets=_sync_targets(raw, own_nodes, where),
        database=_database(raw, where) if "database" in raw else None,
        storage=_storage(_table(raw, "storage", where), f"{where} storage")
        if "storage" in raw else None)


def _database(raw: Mapping[str, Any], where: str) -> dict[str, str]:
    options = _options(raw, "database", where)
    if not options.get("config"):
        raise ParamError(f"{where} database: give config, the my.cnf of the MariaDB "
                         "server on each node, e.g. config = \"/etc/mysql/my.cnf\"")
    return options


def _sync_targets(raw: Mapping[str, Any], nodes: tuple[str, ...],
                  where: str) -> tuple[str, ...]:
    table = raw.get("sync")
    if not isinstance(table, dict):
        return ()
    targets = _names(table, "targets", f"{where} sync")
    for target in targets:
        if target in nodes:
            raise ParamError(f"{where} sync targets: {target} is a node of the service; list "
                             "only sync.toml peers that are not (a mounted export, a NAS)")
    return targets


_FSTYPE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_NO_SPACE = re.compile(r"\S+")


def _storage(raw: Mapping[str, Any], where: str) -> Storage:
    """What the Filesystem agent mounts; each value one word (the agent and
    mount(8) split on white space)."""
    _known(raw, {"device", "directory", "fstype", "options"}, where)
    values = {key: _str(raw, key, "", where) for key in ("device", "directory", "fstype",
                                                         "options")}
    examples = {"device": "nas.example.org:/export/pbx or /dev/disk/by-label/pbx",
                "directory": "/var/spool/asterisk/shared", "fstype": "nfs4, ext4 or xfs"}
    for key, example in examples.items():
        if not values[key]:
            raise ParamError(f"{where} {key}: give it, e.g. {example}")
    for key, value in values.items():
        if value and not _NO_SPACE.fullmatch(value):
            raise ParamError(f"{where} {key}: {value!r} must be one word, without spaces")
    if values["device"].startswith("-"):
        raise ParamError(f"{where} device: {values['device']!r} must not start with '-'")
    if re.search(r"(^|,)(password|pass)=", values["options"], re.IGNORECASE):
        raise ParamError(f"{where} options: a password here would be in the CIB; put it in "
                         "a root-only file on every node and name it (credentials=FILE)")
    directory = values["directory"]
    if not directory.startswith("/") or os.path.normpath(directory) != directory \
            or directory == "/":
        raise ParamError(f"{where} directory: {directory!r} must be an absolute path other "
                         "than /, written without '..', '//' or a trailing '/'")
    if not _FSTYPE.fullmatch(values["fstype"]):
        raise ParamError(f"{where} fstype: {values['fstype']!r} is not a file system type "
                         f"such as {examples['fstype']}")
    return Storage(**values)


def _extra(raw: Any, where: str) -> Extra:
    if not isinstance(raw, dict):
        raise ParamError(f"{where}: must be a table")
    _known(raw, {"id", "agent", "options"}, where)
    agent = _str(raw, "agent", "", where)
    if not _AGENT.fullmatch(agent):
        raise ParamError(f"{where} agent: {agent!r} is not an agent such as "
                         "systemd:apache2, lsb:tftpd-hpa or ocf:heartbeat:apache")
    return Extra(id=_id(raw, "id", where), agent=agent, options=_options(raw, "options", where))


def _fencing(raw: Any, nodes: tuple[str, ...], where: str) -> Fencing:
    if not isinstance(raw, dict):
        raise ParamError(f"{where}: must be a table")
    _known(raw, {"id", "agent", "targets", "options"}, where)
    agent = _str(raw, "agent", "", where)
    if not re.fullmatch(r"fence_[A-Za-z0-9_]+", agent):
        raise ParamError(f"{where} agent: {agent!r} is not a fence agent such as "
                         "fence_ipmilan")
    targets = _names(raw, "targets", where)
    for node in targets:
        if node not in nodes:
            raise ParamError(f"{where} targets: {node} is not in [cluster] nodes")
    return Fencing(id=_id(raw, "id", where), agent=agent, targets=targets,
                   options=_options(raw, "options", where))


ALERT_PATH = "/usr/share/pacemaker/alerts/sip-ha-alert"
_ALERT_SETTINGS = ("min_severity", "smtp_server", "smtp_tls", "mail_from",
                   "syslog_facility", "snmp_community", "cluster_name",
                   "smtp_auth_file", "snmp_user_file")
# Paths of files holding credentials on every node: only the path goes into the CIB.
_ALERT_FILES = ("smtp_auth_file", "snmp_user_file")


def _alerts(raw: Any, where: str) -> Alerts:
    if not isinstance(raw, dict):
        raise ParamError(f"{where}: must be a table")
    _known(raw, {"recipients", "path", "timeout", "reminder_interval", "repeat_interval",
                 *_ALERT_SETTINGS}, where)
    recipients = _strings(raw, "recipients", where)
    if not recipients:
        raise ParamError(f"{where} recipients: list where notifications go, e.g. "
                         "[\"ops@example.org\", \"syslog:local\", \"snmp://198.51.100.30\"]")
    if len(set(recipients)) != len(recipients):
        raise ParamError(f"{where} recipients: a recipient is listed twice")
    settings = {key: _str(raw, key, "", where) for key in _ALERT_SETTINGS if key in raw}
    try:
        for value in recipients:
            parse_recipient(value)
        if "smtp_server" in settings:
            smtp_server(settings["smtp_server"], settings.get("smtp_tls", "none"))
        if settings.get("smtp_tls", "none") in TLS_MODES:
            check_tls(settings.get("smtp_tls", "none"), settings.get("smtp_auth_file", ""))
    except RecipientError as err:
        raise ParamError(f"{where} {err}") from None
    checks = {"min_severity": SEVERITIES, "smtp_tls": TLS_MODES,
              "syslog_facility": tuple(SYSLOG_FACILITIES)}
    for key, allowed in checks.items():
        if key in settings and settings[key] not in allowed:
            raise ParamError(f"{where} {key}: {settings[key]!r} is not one of "
                             f"{', '.join(allowed)}")
    for key in _ALERT_FILES:
        if key in settings and (not settings[key].startswith("/")
                                or _CONTROL.search(settings[key])):
            raise ParamError(f"{where} {key}: {settings[key]!r} must be the absolute path of a "
                             "file on every node (the file holds the secrets, the CIB its path)")
    if "snmp_user_file" in settings and "snmp_community" in settings:
        raise ParamError(f"{where} snmp_community is SNMPv2c's: with snmp_user_file the traps "
                         "are SNMPv3; remove one of them")
    path = _str(raw, "path", ALERT_PATH, where)
    if not path.startswith("/"):
        raise ParamError(f"{where} path: {path!r} must be absolute (Pacemaker runs it)")
    if "cluster_name" in settings:
        settings["cluster"] = settings.pop("cluster_name")
    return Alerts(recipients=recipients, path=path,
                  timeout=_alert_duration(raw, "timeout", "30s", "", where),
                  options={f"sipha_{key}": value for key, value in settings.items()},
                  reminder_interval=_alert_duration(raw, "reminder_interval", "1h",
                                                    " (0: no reminders)", where),
                  repeat_interval=_alert_duration(raw, "repeat_interval", "10m",
                                                  " (0: send every alert)", where))


def _alert_duration(raw: Mapping[str, Any], key: str, default: str, zero: str,
                    where: str) -> str:
    """[alerts] KEY, a duration (DEFAULT when not given; ZERO says what 0 means)."""
    value = str(raw.get(key, default))
    if not _DURATION.fullmatch(value):
        raise ParamError(f"{where} {key}: {value!r} is not a duration such as {default}{zero}")
    return value


def _timings(raw: Mapping[str, Any], where: str, members: int) -> Timings:
    defaults = Timings()
    _known(raw, set(Timings.__dataclass_fields__), where)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "migration_threshold":
            values[key] = _int(raw, key, defaults.migration_threshold, where)
            continue
        if key in _MILLISECONDS:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ParamError(f"{where} {key}: {value!r} is not a whole number of "
                                 "milliseconds such as 1000 (Corosync's unit)")
            values[key] = value
            continue
        text = str(value) if isinstance(value, int) else value
        if not isinstance(text, str) or not _DURATION.fullmatch(text):
            raise ParamError(f"{where} {key}: {value!r} is not a duration such as 3s or 1min")
        values[key] = text
    timings = Timings(**values)
    monitors = (timings.monitor_promoted, timings.monitor_unpromoted, timings.monitor_deep)
    if len(set(monitors)) != len(monitors):
        raise ParamError(f"{where}: monitor_promoted, monitor_unpromoted and monitor_deep "
                         "must differ (Pacemaker tells monitors apart by their interval)")
    low, high = qdevice.TIMEOUT_RANGE
    for key in ("qdevice_timeout", "qdevice_sync_timeout"):
        if not low <= getattr(timings, key) <= high:
            raise ParamError(f"{where} {key}: {getattr(timings, key)} ms is not between {low} "
                             f"and {high} ms (corosync-qdevice's heartbeat to the qnetd is 0.8 "
                             "x it, and the qnetd takes 1000 to 120000 ms)")
    return _corosync(timings, "corosync_consensus" in raw, where, members)


_MILLISECONDS = ("corosync_token", "corosync_consensus", "qdevice_timeout",
                 "qdevice_sync_timeout")


def _corosync(timings: Timings, consensus_given: bool, where: str, members: int) -> Timings:
    low, high = totem.TOKEN_RANGE
    if not low <= timings.corosync_token <= high:
        raise ParamError(f"{where} corosync_token: {timings.corosync_token} ms is not between "
                         f"{low} and {high} ms (milliseconds, e.g. 1000)")
    running = totem.running_token(timings.corosync_token, members)
    if not consensus_given:
        return replace(timings, corosync_consensus=totem.default_consensus(
            timings.corosync_token, members))
    consensus = timings.corosync_consensus
    if not running < consensus <= totem.CONSENSUS_MAX:
        more = (f" (corosync_token plus {totem.TOKEN_COEFFICIENT} ms per node above two)"
                if running != timings.corosync_token else "")
        raise ParamError(f"{where} corosync_consensus: {consensus} ms must be above the token "
                         f"Corosync runs, {running} ms{more}, and at most "
                         f"{totem.CONSENSUS_MAX} ms; leave it out for 1.2 x that token")
    return timings


def _unique_ids(services: tuple[Service, ...], where: str) -> None:
    seen: set[str] = set()
    for service in services:
        for ident in (service.name, *(e.id for e in service.extras)):
            if ident in seen:
                raise ParamError(f"{where}: {ident!r} is used twice; service names and "
                                 "extra ids must be unique")
            seen.add(ident)


# -- typed getters -----------------------------------------------------------


def _known(table: Mapping[str, Any], keys: set[str], where: str) -> None:
    unknown = sorted(set(table) - keys)
    if unknown:
        raise ParamError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(keys))}")


def _table(data: Mapping[str, Any], key: str, where: str,
           required: bool = False) -> Mapping[str, Any]:
    value = data.get(key, None if required else {})
    if not isinstance(value, dict):
        raise ParamError(f"{where}: [{key}] must be a table" if value is not None
                         else f"{where}: the [{key}] section is missing")
    return value


def _str(table: Mapping[str, Any], key: str, default: str, where: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ParamError(f"{where} {key}: write it as a quoted string")
    return value


def _id(table: Mapping[str, Any], key: str, where: str) -> str:
    value = _str(table, key, "", where)
    if not _ID.fullmatch(value):
        raise ParamError(f"{where} {key}: {value!r} must start with a letter and contain "
                         "only letters, digits, '-', '_' and '.'")
    return value


def _int(table: Mapping[str, Any], key: str, default: int, where: str) -> int:
    """A whole number from 0 to Pacemaker's INFINITY (scores, thresholds)."""
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ParamError(f"{where} {key}: write a whole number")
    if not 0 <= value <= SCORE_INFINITY:
        raise ParamError(f"{where} {key}: {value} is not between 0 and {SCORE_INFINITY} "
                         "(Pacemaker's INFINITY)")
    return value


def _strings(table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ParamError(f"{where} {key}: write a list of quoted strings")
    return tuple(value)


def _names(table: Mapping[str, Any], key: str, where: str,
           required: bool = False) -> tuple[str, ...]:
    names = _strings(table, key, where)
    if required and not names:
        raise ParamError(f"{where} {key}: list the Pacemaker node names")
    for name in names:
        if not _NODE.fullmatch(name):
            raise ParamError(f"{where} {key}: {name!r} is not a node name (letters, digits, "
                             "'-', '_' and '.', starting with a letter, digit or '_')")
    if len(set(names)) != len(names):
        raise ParamError(f"{where} {key}: a node is listed twice")
    return names


def _options(table: Mapping[str, Any], key: str, where: str,
             but: tuple[str, ...] = ()) -> dict[str, str]:
    """Agent parameters (all but BUT, which SIP-HA reads itself); lists become
    the space-separated text agents expect."""
    raw = table.get(key, {})
    if not isinstance(raw, dict):
        raise ParamError(f"{where} {key}: must be a table of name = value")
    options = {}
    for name, value in raw.items():
        if name in but:
            continue
        if not _OPTION.fullmatch(name):
            raise ParamError(f"{where} {key}: {name!r} is not a parameter name (a letter or "
                             "'_', then letters, digits, '_' or '-')")
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list):
            if not all(isinstance(v, str | int | float) for v in value):
                raise ParamError(f"{where} {key}.{name}: a list may hold only strings and "
                                 "numbers")
            text = " ".join(str(v) for v in value)
        elif isinstance(value, str | int | float):
            text = str(value)
        else:
            raise ParamError(f"{where} {key}.{name}: must be a string, number, boolean "
                             "or list")
        options[name] = text
    return options


def _plain(value: Any, where: str, path: str = "") -> None:
    """No control characters in any key or text (see _CONTROL)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if _CONTROL.search(key):
                raise ParamError(f"{where} {path or 'top level'}: the key {key!r} holds a "
                                 "control character")
            _plain(item, where, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for item in value:
            _plain(item, where, path)
    elif isinstance(value, str) and _CONTROL.search(value):
        raise ParamError(f"{where} {path}: {value!r} holds a control character")


def _addresses(table: Mapping[str, Any], key: str, where: str, prefix: bool = False,
               names: tuple[str, ...] = ()) -> tuple[str, ...]:
    """IPv4/IPv6 addresses, with a /prefix length where PREFIX allows it."""
    values = _strings(table, key, where)
    for value in values:
        if value.lower() not in names and not _is_address(value, prefix):
            what = "an IPv4 or IPv6 address" + (" (with an optional /prefix)" if prefix else "")
            raise ParamError(f"{where} {key}: {value!r} is not {what}")
    return values


def _is_address(text: str, prefix: bool) -> bool:
    address, slash, length = text.partition("/")
    if slash and not (prefix and length.isascii() and length.isdigit()):
        return False
    try:
        ipaddress.ip_interface(text)   # also checks the prefix length's range
    except ValueError:
        return False
    return "%" not in address          # no IPv6 scope: the agents take none


def _nic(table: Mapping[str, Any], where: str) -> str:
    nic = _str(table, "nic", "", where)
    if nic and not _NIC.fullmatch(nic):
        raise ParamError(f"{where} nic: {nic!r} is not an interface name such as eth0 or "
                         "eth0.100")
    return nic
