"""``sip-ha-sync``: watch and push, push some paths now, resync whole folders.

Exit codes, the same as sip-ha's: 0 done, 1 a transfer failed, 2 bad input
(usage, configuration, peer, path), 3 refused, nothing changed (this node is
not the active one), 5 done, but something needs attention (conflicts were
left alone).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import click

from sipha_runtime.run import CommandError
from sipha_runtime.version import click_option
from sync_helper.config import SyncConfig, load_config
from sync_helper.errors import ConfigError, RoleError, SyncError
from sync_helper.health import HealthFile, record
from sync_helper.report import SyncReport, printable
from sync_helper.role import ACTIVE, STANDBY, RoleFile
from sync_helper.syncer import PULL, PUSH, Syncer

DEFAULT_CONFIG = "/etc/sip-ha/sync.toml"
EXIT_CONFLICTS = 5  # as sip-ha status: done, but something needs attention


def _logger() -> Any:
    from sipha_runtime.log import Logger

    return Logger("sip-ha-sync", os.environ.get("OCF_RESOURCE_INSTANCE", "sync"), os.environ)


def _syncer(config: SyncConfig) -> Syncer:
    from sipha_runtime.run import Runner

    log = _logger()
    margin = 5.0
    return Syncer(config, lambda: Runner(time.monotonic() + config.timeout + margin, log), log,
                  RoleFile(config.role_file))


def _finish(report: SyncReport, as_json: bool) -> None:
    click.echo(json.dumps(report.to_dict(), indent=1) if as_json else report.text())
    if not report.ok:
        raise SystemExit(1)
    if report.conflicts:
        raise SystemExit(EXIT_CONFLICTS)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click_option()
@click.option("-c", "--config", "config_path", default=DEFAULT_CONFIG, show_default=True,
              envvar="SIP_HA_SYNC_CONFIG", help="The sync configuration (TOML).")
@click.pass_context
def cli(ctx: click.Context, config_path: str) -> None:
    """Event-driven, role-aware file sync between the SIP-ACTIVE node and its peers."""
    ctx.obj = config_path


def _config(ctx: click.Context) -> SyncConfig:
    return load_config(ctx.obj)


@cli.command()
@click.pass_context
def watch(ctx: click.Context) -> None:
    """Watch the folders and push every change while this node is active
    (in the foreground, until SIGTERM or SIGINT)."""
    from sync_helper.service import SyncService

    config = _config(ctx)
    syncer = _syncer(config)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    SyncService(config, syncer, syncer.log).run(stop)


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--peer", "peers", multiple=True, help="Only this peer (repeatable).")
@click.option("--force", is_flag=True,
              help="Overwrite conflicting files too (their version still goes to the backup).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def push(ctx: click.Context, paths: tuple[str, ...], peers: tuple[str, ...], force: bool,
         as_json: bool) -> None:
    """Push these files or folders (changed or removed) to the peers now."""
    config = _config(ctx)
    config.check_folders()
    syncer = _syncer(config)
    if syncer.role() != ACTIVE:
        raise RoleError("this node is not the active one; only the active pushes")
    wanted = [os.path.abspath(p) for p in paths]
    try:
        report = syncer.push_paths(wanted, peers=peers, force=force)
    finally:
        # Stop, not exit: the watcher may be pushing on a connection now.
        syncer.close("stop")
    record(HealthFile.of(config.state_dir), report, set(wanted))
    _finish(report, as_json)


@cli.command()
@click.option("--direction", type=click.Choice([PUSH, PULL]), default=PUSH, show_default=True,
              help="push: from here to the peers (active node only); "
                   "pull: from the peers to here.")
@click.option("--peer", "peers", multiple=True, help="Only this peer (repeatable).")
@click.option("--force", is_flag=True,
              help="Overwrite conflicts and remove files never synced (all kept as backups).")
@click.option("--dry-run", is_flag=True, help="Only report what would change.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def resync(ctx: click.Context, direction: str, peers: tuple[str, ...], force: bool,
           dry_run: bool, as_json: bool) -> None:
    """Compare whole folders and copy the differences in one direction."""
    config = _config(ctx)
    if direction == PUSH:
        config.check_folders()
    syncer = _syncer(config)
    try:
        report = syncer.resync(direction, peers=peers, force=force, dry_run=dry_run)
    finally:
        syncer.close("stop")
    record(HealthFile.of(config.state_dir), report)
    _finish(report, as_json)


@cli.command()
@click.argument("new_role", required=False, type=click.Choice([ACTIVE, STANDBY]))
@click.pass_context
def role(ctx: click.Context, new_role: str | None) -> None:
    """Show this node's role, or set it (what the filesync agent does)."""
    source = RoleFile(_config(ctx).role_file)
    if new_role is not None:
        source.set(new_role)
    click.echo(source())


@cli.command("prune")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.pass_context
def prune_backups(ctx: click.Context, dry_run: bool) -> None:
    """Remove this node's dated backup folders older than backup_keep_days
    (what watch does every hour)."""
    from sync_helper.prune import empty_after, prune

    config = _config(ctx)
    gone = prune(config.backup_dir, config.backup_keep_days, time.time(),
                 empty_after(config.timeout), dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for name in gone:
        click.echo(printable(f"{verb} {config.backup_dir / name}"))
    if not gone:
        click.echo("nothing to prune")


@cli.command("authorized-key")
@click.option("--peer", "receiver", help="The receiving node (default: this one).")
@click.option("--dir", "root", required=True,
              help="Its receive root: the one folder rrsync lets the key read and write.")
@click.option("--from", "sources", multiple=True,
              help="An address or network the pushes come from (repeatable; "
                   "default: every other node's host).")
@click.pass_context
def authorized_key(ctx: click.Context, receiver: str | None, root: str,
                   sources: tuple[str, ...]) -> None:
    """Print the authorized_keys line that confines the sync key on a node
    to rsync (rrsync) below its receive root, from the other nodes only."""
    from sync_helper import authorize
    from sync_helper.config import config_from_mapping, local_node_name, read_config

    data = read_config(ctx.obj)
    config = config_from_mapping(data, source=ctx.obj)
    confined = authorize.receive_root(root)
    allowed = [authorize.source_address(s) for s in sources] or \
        authorize.senders(data, receiver or local_node_name(), ctx.obj)
    if not config.ssh.identity_file:
        raise ConfigError(f"{ctx.obj}: [ssh] identity_file is not set, so there is no sync "
                          "key to confine")
    public = f"{config.ssh.identity_file}.pub"
    try:
        with open(public, encoding="ascii") as handle:
            key = handle.read()
    except (OSError, UnicodeDecodeError):
        raise ConfigError(f"cannot read {public} (ssh-keygen -y -f "
                          f"{config.ssh.identity_file} > {public} makes it)") from None
    click.echo(authorize.authorized_key_line(key, confined, allowed))


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="sip-ha-sync",
                 standalone_mode=False)
    except SyncError as exc:
        click.echo(f"error: {printable(exc.reason)}", err=True)
        return exc.exit_code
    except CommandError as exc:  # its codes are OCF's: here, the action failed
        click.echo(f"error: {printable(exc.reason)}", err=True)
        return 1
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return 2
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
