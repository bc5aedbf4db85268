"""Carry live astdb families from the active Asterisk to its standbys.

Asterisk keeps phone registrations (the ``registrar`` family), dynamic queue
members, DND and call forwards in its internal database, which is live and
must not be copied as a file under a running server.  So each standby asks
the active server (the node the cluster shows promoted, ``crm_resource
--locate``) through its manager interface (``database show FAMILY``) every
monitor and keeps the answer as a snapshot; on promote the snapshot
is written into the local astdb (the family made equal to the snapshot;
one older than ``astdb_max_age`` only adds missing keys) and queue members
are re-added, so that right after a failover a call reaches a phone that
registered only with the old active server.  The snapshot is removed after
the promote and on stop.
"""

from __future__ import annotations

import json
import os
import time

from ocf_agents.clients.asterisk_ami import Ami, AmiError
from ocf_agents.clients.asterisk_cli import parse_database
from ocf_agents.framework import daemon, promotion
from ocf_agents.framework.ocf import Context
from sipha_runtime.run import CommandError

QUEUE_MEMBERS = "Queue/PersistentMembers"


def snapshot_file(ctx: Context) -> str:
    return ctx.state_file("astdb.json")


def _failures_file(ctx: Context) -> str:
    return ctx.state_file("astdb-failures")


def state_files(ctx: Context) -> tuple[str, ...]:
    """What a stop removes: a snapshot left for the next start could be days old."""
    return snapshot_file(ctx), _failures_file(ctx)


def count_pulls(ctx: Context, failed: bool) -> int:
    """Record one pull's outcome; how many pulls in a row have failed."""
    path = _failures_file(ctx)
    if not failed:
        daemon.remove(path)
        return 0
    try:
        with open(path, encoding="ascii") as handle:
            failures = int(handle.read().strip() or 0) + 1
    except (FileNotFoundError, ValueError):
        failures = 1
    with open(path, "w", encoding="ascii") as handle:
        handle.write(f"{failures}\n")
    return failures


def pull(ctx: Context, families: tuple[str, ...], port: int, user: str, secret: str,
         timeout: float) -> None:
    """Save the active server's families; AmiError if it cannot be asked."""
    if not families:
        return
    try:
        node = promotion.promoted_node(ctx)
    except CommandError as err:
        raise AmiError(f"cannot ask the cluster where the active server runs: {err}") from None
    if node is None or node == ctx.node:
        return
    with Ami(node, port, user, secret, timeout) as ami:
        data = {family: parse_database(ami.command(f"database show {family}"), family)
                for family in families}
    path = snapshot_file(ctx)
    tmp = f"{path}.new"
    # Phone contacts and forwarding numbers: root's only, from the first byte
    # (O_EXCL: a leftover of a crash keeps no wider mode, a link is not followed).
    daemon.remove(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "w", encoding="utf-8") as handle:
        json.dump({"node": node, "time": time.time(), "families": data}, handle)
    os.replace(tmp, path)


def import_snapshot(ctx: Context, host: str, port: int, user: str, secret: str,
                    timeout: float, max_age: float) -> str:
    """Make the local families equal to the snapshot; a summary for the log.

    A snapshot older than ``max_age`` may miss what changed since on either
    server, so it only adds the keys missing here: it never changes or
    removes one (a DND set here after it was taken must survive)."""
    try:
        with open(snapshot_file(ctx), encoding="utf-8") as handle:
            snapshot = json.load(handle)
    except FileNotFoundError:
        return "no astdb snapshot to import"
    except (OSError, ValueError) as err:
        return f"astdb snapshot unreadable: {err}"
    age = time.time() - float(snapshot.get("time", 0))
    fresh = 0 <= age <= max_age
    written = removed = members = 0
    with Ami(host, port, user, secret, timeout) as ami:
        for family, entries in snapshot.get("families", {}).items():
            if family == QUEUE_MEMBERS:
                members += _add_queue_members(ami, entries)
                continue
            local = parse_database(ami.command(f"database show {family}"), family)
            for key in set(local) - set(entries) if fresh else ():
                ami.db_del(family, key)
                removed += 1
            for key, value in entries.items():
                if local.get(key) != value and (fresh or key not in local):
                    ami.db_put(family, key, value)
                    written += 1
    kind = "" if fresh else f", older than astdb_max_age {max_age:g}s: only missing keys"
    return (f"imported astdb snapshot of {snapshot.get('node')} ({age:.0f}s old{kind}): "
            f"{written} written, {removed} removed, {members} queue member(s) added")


def contact_endpoints(ctx: Context) -> list[str]:
    """The endpoints of the phones in the snapshot's registrar family."""
    try:
        with open(snapshot_file(ctx), encoding="utf-8") as handle:
            entries = json.load(handle).get("families", {}).get("registrar", {})
    except (OSError, ValueError):
        return []
    endpoints = set()
    for key, value in entries.items():
        if not key.startswith("contact/"):
            continue
        try:
            endpoint = json.loads(value).get("endpoint", "")
        except ValueError:
            continue
        # Keys and names come from the old server's astdb: pass only plain names on.
        if endpoint and all(c.isalnum() or c in "-_.+@" for c in endpoint):
            endpoints.add(endpoint)
    return sorted(endpoints)


def _add_queue_members(ami: Ami, entries: dict[str, str]) -> int:
    """Re-add dynamic members: app_queue reads its astdb only when it loads.
    QueueAdd takes each field as a field: names with spaces or quotes stay
    whole, and no field can add arguments as it could to a CLI command."""
    added = 0
    for queue, packed in entries.items():
        for member in filter(None, packed.split("|")):
            # interface;penalty;paused;member name;state interface;pause reason;...
            fields = member.split(";")
            if len(fields) < 5:
                continue
            interface, penalty, paused, name, state_interface = fields[:5]
            request = {"Queue": queue, "Interface": interface, "Penalty": penalty or "0",
                       "Paused": "true" if paused == "1" else "false",
                       "MemberName": name or interface,
                       "StateInterface": state_interface or interface}
            if paused == "1" and len(fields) > 5 and fields[5]:
                request["Reason"] = fields[5]
            if ami.action("QueueAdd", **request).get("Response") == "Success":
                added += 1
    return added


__all__ = ["AmiError", "import_snapshot", "pull"]
