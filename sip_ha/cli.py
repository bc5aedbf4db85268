"""``sip-ha``: the operator command line (a thin layer over the library).

Exit codes: 0 done (status: nothing needs attention); 1 the action failed
(the message says why and what to do); 2 wrong usage or bad input (options,
the parameter file); 3 refused by a safety check, nothing changed; 4 the
change was requested but not seen complete in time; 5 status: something
needs attention; 7 the cluster is not running on this node; 130
interrupted (Ctrl-C), the message says what is left.
``status --nagios`` gives the monitoring plugin codes instead (nagios.py).
"""

from __future__ import annotations

import functools
import sys
import time

import click

from sip_ha import install as installer
from sip_ha import output
from sipha_runtime.help_format import Group
from sipha_runtime.version import click_option

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from cib_templates.params import ClusterParams
    from sip_ha.corosync import Pending as TimingPending
    from sip_ha.qdevice import NodeDevice
    from sip_ha.qdevice import Pending as DevicePending
    from sipha_runtime.run import Runner

NEEDS_ATTENTION = 5
INTERRUPTED = 130


@click.group(cls=Group,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click_option()
def cli() -> None:
    """Run and inspect a SIP-HA cluster."""


def _params_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--params", "params_path", default="/etc/sip-ha/cluster.toml", show_default=True,
        metavar="FILE",
        envvar="SIP_HA_PARAMS", help="The SIP-HA parameter file.")(command)


def _errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into one sentence on stderr and the documented code."""
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sipha_runtime.errors import Failure
        from sipha_runtime.run import CommandError

        try:
            return command(*args, **kwargs)
        except CommandError as err:  # its codes are OCF's: here, the action failed
            click.echo(f"sip-ha: {err}", err=True)
            sys.exit(1)
        except Failure as err:  # SipHaError, ParamError, ValidationError
            click.echo(f"sip-ha: {err}", err=True)
            sys.exit(err.exit_code)
        except OSError as err:
            click.echo(f"sip-ha: {err}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("sip-ha: interrupted", err=True)
            sys.exit(INTERRUPTED)
    return wrapper


def _progress(message: str) -> None:
    """A progress line on stderr, stamped (UTC, as the journal's -o short-iso)."""
    click.echo(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {message}", err=True)


def _load(path: str, agents: bool = False) -> ClusterParams:
    """The parameter file; with AGENTS, also checked by the agents' own
    parameter parsing (what cib render, diff and apply install)."""
    from cib_templates import params

    loaded = params.load(path)
    if agents:
        from sip_ha import agent_options

        agent_options.check(loaded)
    return loaded


# -- status --------------------------------------------------------------


@cli.command()
@_params_option
@output.option("status.json")
@click.option("--json", "as_json", is_flag=True, hidden=True, help="--output-as json.")
@click.option("--nagios", is_flag=True,
              help="One line and the exit code of a monitoring plugin (Nagios, Icinga, "
                   "Zabbix): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.")
def status(params_path: str, output_as: str, as_json: bool, nagios: bool) -> None:
    """Which node is SIP-ACTIVE for each service, and what needs attention."""
    if nagios:
        from sip_ha import nagios as plugin

        if as_json or output_as != output.TEXT:  # a plugin's bad usage is UNKNOWN
            click.echo(f"{plugin.PREFIX} UNKNOWN - --nagios takes no --output-as")
            sys.exit(plugin.UNKNOWN)
        line, code = plugin.check(lambda: _read_status(params_path))
        click.echo(line)
        sys.exit(code)
    _errors(_status)(params_path, output.JSON if as_json else output_as)


def _read_status(params_path: str) -> Any:
    from sip_ha import cluster, corosync, qdevice, tools

    runner, params = tools.runner(60), _load(params_path)
    state = cluster.read(runner, params)
    local = corosync.local_name(runner)
    shown = corosync.cmapctl(runner, qdevice.HERE_ARGV, local, local)
    state = corosync.attend(params, state, local, shown)
    return qdevice.attend(runner, params, state, local, shown)


def _status(params_path: str, output_as: str) -> None:
    import dataclasses

    state = _read_status(params_path)
    notes = state.needs_attention
    if output_as == output.JSON:
        output.emit({**dataclasses.asdict(state), "needs_attention": notes})
    else:
        click.echo(_status_text(state, notes), nl=False)
    if notes:
        sys.exit(NEEDS_ATTENTION)


def _status_text(state: Any, notes: list[str]) -> str:
    lines = []
    for service in state.services:
        where = (f"SIP-ACTIVE on {service.active_node} since {service.since or '?'}"
                 if service.active_node else "NOT ACTIVE ANYWHERE")
        lines.append(f"{service.name} ({service.server}): {where}")
        lines.append(f"  address {' '.join(service.address)}")
        if service.sync_node:
            lines.append(f"  file sync pushing from {service.sync_node}")
        if service.database_node:
            lines.append(f"  database writable on {service.database_node}")
        for node in service.nodes:
            health = "healthy" if node.healthy else ("FAILED" if node.failed else "not healthy")
            gateways = ("" if not service.gateway_count else
                        f"  gateways {node.gateways if node.gateways is not None else '?'}"
                        f"/{service.gateway_count}")
            rtt = f"  SIP {node.sip_rtt_ms} ms" if node.sip_rtt_ms is not None else ""
            lines.append(f"  {node.node:<12} {node.role:<11} {health}{gateways}{rtt}")
            if node.last_takeover:
                outage = ("outage unknown" if node.last_outage_s is None
                          else f"outage {node.last_outage_s:.1f}s")
                lines.append(f"      last takeover here {node.last_takeover}, {outage}")
            if node.sync is not None:
                lag = f", lag {node.sync.lag}s" if node.sync.lag else ""
                lines.append(f"      file sync from {service.sync_node}: "
                             f"{node.sync.describe()}{lag}")
                if node.sync.kept:
                    lines.append(f"      {node.sync.kept} file(s) only there, never synced: "
                                 f"{node.sync.kept_names}")
            if node.replication is not None:
                lines.append(f"      database: {node.replication.describe()}")
        for target in service.targets:
            lines.append(f"  {target.name:<12} sync target "
                         + (target.sync.describe() if target.sync else "(nothing published yet)"))
    online = [n.name for n in state.nodes if n.online]
    lines.append(f"cluster: {len(online)}/{len(state.nodes)} nodes online, "
                 f"quorum {'yes' if state.quorum else 'NO'}, "
                 f"fencing {'on' if state.fencing_enabled else 'OFF'}, DC {state.dc or '-'}")
    if notes:
        lines.append("needs attention:")
        lines += [f"  - {note}" for note in notes]
    return "\n".join(lines) + "\n"


# -- moving a service ------------------------------------------------------


def _move_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed((
            click.option("--service", help="Which service (needed when there are several)."),
            click.option("--to", "to", metavar="NODE", help="Target node."),
            click.option("--force", is_flag=True,
                         help="Move even if the target is not ready (with a warning)."),
            click.option("--wait", default=120, show_default=True,
                         help="Seconds to wait for the move."),
            click.option("--no-probe", is_flag=True,
                         help="Do not measure the outage with SIP OPTIONS."),
            output.option("move.json"))):
        command = option(command)
    return _params_option(command)


def _report(outcome: Any, verb: str, output_as: str) -> None:
    from sip_ha import history
    from sip_ha.failover import PROBE_INTERVAL

    if not outcome.probed:
        outage = "not measured"
    elif outcome.outage is None:
        outage = "not over: the address does not answer SIP now, check 'sip-ha status'"
    elif outcome.outage == 0.0:
        outage = f"none seen (SIP OPTIONS every {PROBE_INTERVAL:g}s)"
    else:
        outage = f"{outcome.outage:.1f}s"
    for warning in outcome.warnings:
        click.echo(f"warning: {warning}", err=True)
    message = (f"{verb} {outcome.service}: {outcome.source or 'nowhere'} -> {outcome.target}, "
               f"SIP-ACTIVE after {outcome.took:.1f}s, SIP outage {outage}")
    history.record(message)
    if output_as == output.JSON:
        import dataclasses

        output.emit({"action": verb, **dataclasses.asdict(outcome)})
    else:
        click.echo(message)


@cli.command()
@_move_options
@_errors
def failover(params_path: str, service: str | None, to: str | None, force: bool, wait: int,
             no_probe: bool, output_as: str) -> None:
    """Move a service off its SIP-ACTIVE node now (pcs resource move).

    Progress lines go to stderr.  Ctrl-C stops waiting and clears the move
    constraint (or says how to)."""
    from sip_ha import failover as moves
    from sip_ha import tools

    outcome = moves.failover(tools.runner(wait + 120), _load(params_path), service, to,
                             force, wait, None if no_probe else moves.sip_answers,
                             progress=_progress)
    _report(outcome, "failover", output_as)


WAIT_READY = 600


@cli.command()
@click.option("--service", help="Which service (needed when there are several).")
@click.option("--to", "to", metavar="NODE", help="Target node (default: the preferred node).")
@click.option("--force", is_flag=True,
              help="Move even if the target is not ready or lacks data (with a warning, "
                   "logged and alerted).")
@click.option("--wait", type=click.IntRange(min=0), is_flag=False, flag_value=WAIT_READY,
              default=None, metavar="[SECONDS]",
              help=f"Wait until the target is ready (default {WAIT_READY} s), showing what "
                   "it still waits for, then move; also the time allowed for the move "
                   "(120 s without --wait).")
@click.option("--no-probe", is_flag=True, help="Do not measure the outage with SIP OPTIONS.")
@output.option("move.json")
@_params_option
@_errors
def failback(params_path: str, service: str | None, to: str | None, force: bool,
             wait: int | None, no_probe: bool, output_as: str) -> None:
    """Approve the failback to the preferred node: refused, naming what it waits
    for, until that node is a healthy standby that holds the data (the file
    sync's full comparison since it rejoined, nothing pending, no conflicts;
    its database replica running and caught up).

    Progress lines go to stderr.  Ctrl-C stops waiting and clears the move
    constraint (or says how to)."""
    from sip_ha import failover as moves
    from sip_ha import tools

    if force:
        click.echo("warning: --force skips the checks that the target is healthy and "
                   "holds the data", err=True)
    move_wait = 120 if wait is None else wait
    outcome = moves.failback(tools.runner((wait or 0) + move_wait + 120), _load(params_path),
                             service, to, force, move_wait,
                             None if no_probe else moves.sip_answers, wait_ready=wait or 0,
                             progress=_progress)
    _report(outcome, "failback", output_as)


@cli.command()
@click.argument("node", required=False)
@click.option("--wait", default=120, show_default=True, help="Seconds to wait.")
@_errors
def standby(node: str | None, wait: int) -> None:
    """Put NODE (default: this node) in standby: its services move away."""
    _standby("standby", node, wait)


@cli.command()
@click.argument("node", required=False)
@click.option("--wait", default=120, show_default=True, help="Seconds to wait.")
@_errors
def unstandby(node: str | None, wait: int) -> None:
    """Let NODE (default: this node) run services again (nothing fails back)."""
    _standby("unstandby", node, wait)


def _standby(verb: str, node: str | None, wait: int) -> None:
    from sip_ha import history, standby, tools

    runner = tools.runner(wait + 30)
    argv = [tools.PCS, "node", verb, *([node] if node else []), f"--wait={wait}"]
    _progress(f"{verb} {node or 'this node'}: {' '.join(argv)}")
    try:
        tools.run(runner, argv, f"{verb} {node or 'this node'}", "See 'pcs status'.",
                  timeout=wait + 20)
    except KeyboardInterrupt:
        raise standby.interrupted(tools.runner(30), verb, node) from None
    history.record(f"{verb} {node or 'local node'}")
    _progress(f"{verb} {node or 'this node'}: done")
    click.echo(f"{verb}: {node or 'this node'} done")


# -- configuration ----------------------------------------------------------


@cli.command("copy-config")
@_params_option
@_errors
def copy_config(params_path: str) -> None:
    """Copy /etc/sip-ha (parameter file, agent configuration) to every node.

    Files that differ on a node are replaced and the node's copy kept as
    NAME.sip-ha-TIMESTAMP-RANDOM~ beside it.  A parameter file holding
    secrets arrives with mode 0600."""
    import os

    from cib_templates.params import inline_secrets
    from sip_ha import copy_config as copier
    from sip_ha import tools

    params = _load(params_path)
    paths = copier.files()
    own = os.path.abspath(params_path)
    if own not in paths:
        paths.append(own)
    private = frozenset([own] if inline_secrets(params) else [])
    copied, failed = copier.copy_to(tools.runner(600), params.nodes, paths, private=private)
    for result in copied:
        same = len(paths) - len(result.new) - len(result.replaced)
        click.echo(f"{result.node}: {len(result.new)} new, {len(result.replaced)} replaced, "
                   f"{same} already the same")
        for path in result.replaced:
            click.echo(f"  {path} replaced; the node's old copy is {path}{result.backup_suffix}")
    if failed:
        from sip_ha.errors import SipHaError

        raise SipHaError("could not copy to " + "; ".join(failed) + ". Check that root "
                         "can ssh to every node without a password (ssh-copy-id).")


@cli.group()
def cib() -> None:
    """Render, compare and install the SIP-HA Pacemaker configuration."""


def _warn(warnings: list[str], params: ClusterParams | None = None) -> None:
    """crm_verify's WARNINGS, and with PARAMS what the parameter file allows
    but should not be."""
    for warning in warnings:
        click.echo(f"crm_verify warning: {warning}", err=True)
    if params is not None:
        from cib_templates.params import warnings as unwise

        for warning in unwise(params):
            click.echo(f"warning: {warning}", err=True)


@cib.command("example")
def cib_example() -> None:
    """Print the documented example parameter file."""
    import os

    import cib_templates

    folder = os.path.dirname(os.path.abspath(cib_templates.__file__))
    with open(os.path.join(folder, "example.toml"), encoding="utf-8") as handle:
        click.echo(handle.read(), nl=False)


@cib.command("render")
@_params_option
@click.option("--schema", default="auto", show_default=True,
              help="validate-with version, e.g. pacemaker-3.9; auto: the newest installed.")
@click.option("--schema-dir", default="/usr/share/pacemaker", show_default=True, metavar="DIR",
              help="Where Pacemaker's RelaxNG schemas are.")
@click.option("--pcs", "as_pcs", is_flag=True, help="Print the equivalent pcs commands.")
@click.option("--no-verify", is_flag=True, help="Skip crm_verify (schema check still runs).")
@_errors
def cib_render(params_path: str, schema: str, schema_dir: str, as_pcs: bool,
               no_verify: bool) -> None:
    """Render the CIB from the parameter file, validated, to stdout."""
    from cib_templates import pcs_commands, render, validate
    from sip_ha import tools

    if schema == "auto":
        schema = validate.newest_schema(schema_dir)
    loaded = _load(params_path, agents=True)
    root = render.render(loaded, schema).getroot()
    problems = validate.relaxng_problems(root, schema_dir)
    if problems:
        raise validate.ValidationError(f"not valid against {schema}", problems)
    _warn(validate.check(root, tools.runner(90), schema_dir) if not no_verify else [], loaded)
    click.echo(pcs_commands.script(root, timings=loaded.timings) if as_pcs
               else render.to_text(root), nl=False)


def _installable(runner: Runner, params: ClusterParams) -> tuple[ClusterParams, NodeDevice | None]:
    """PARAMS as diff and apply may install them now, saying so when that
    differs from the file (sip_ha.qdevice.until_in_place), and this node's
    quorum device if that read it."""
    from sip_ha import qdevice

    params, held, here = qdevice.until_in_place(runner, params)
    if held:
        click.echo(f"note: {held}", err=True)
    return params, here


def _beside_the_cib(runner: Runner, params: ClusterParams, live: Any,
                    here: NodeDevice | None) -> tuple[TimingPending, DevicePending]:
    """What diff and apply do besides the CIB: Corosync's timing and the
    quorum device of LIVE's online nodes against PARAMS (HERE: this node's
    device, already read)."""
    from sip_ha import corosync, qdevice

    local = corosync.local_name(runner) if corosync.online(live) else None
    return (corosync.pending(runner, params.timings, live, local),
            qdevice.pending(runner, params, live, local, here))


@cib.command("diff")
@_params_option
@output.option("cib-diff.json")
@_errors
def cib_diff(params_path: str, output_as: str) -> None:
    """Show what 'cib apply' would change in the running cluster."""
    import dataclasses

    from cib_templates.params import warnings as unwise
    from sip_ha import cib as cib_lib
    from sip_ha import tools

    runner, params = tools.runner(120), _load(params_path, agents=True)
    params, here = _installable(runner, params)
    planned = cib_lib.plan(runner, params)
    changes = cib_lib.diff(planned.live, planned.new)
    foreign = cib_lib.foreign(planned.live, planned.new)
    timing, device = _beside_the_cib(runner, params, planned.live, here)
    if output_as == output.JSON:
        output.emit({"changed": bool(changes or timing.command or device.changed),
                     "changes": [{"section": section, "id": ident, "change": change}
                                 for section, ident, change
                                 in cib_lib.changes(planned.live, planned.new)],
                     "diff": changes, "foreign": foreign, "warnings": planned.warnings,
                     "corosync": {"command": timing.command,
                                  "nodes": [dataclasses.asdict(n) for n in timing.found]},
                     "quorum_device": {
                         "host": params.quorum_device, "command": device.command,
                         "steps": device.steps, "foreign": device.foreign,
                         "nodes": [{**dataclasses.asdict(n), "configured": n.configured}
                                   for n in device.found],
                         "warnings": unwise(params)}})
        return
    click.echo(changes or ("" if timing.command or device.changed else
                           "the cluster already runs this configuration\n"), nl=False)
    for line in timing.describe() + device.describe():
        click.echo(line)
    for line in timing.unread() + device.unread():
        click.echo(f"warning: {line}", err=True)
    for item in foreign:
        click.echo(f"not in the parameter file (apply needs --prune): {item}", err=True)
    _warn(planned.warnings, params)


@cib.command("apply")
@_params_option
@click.option("--prune", is_flag=True,
              help="Delete resources and constraints the parameter file does not describe.")
@_errors
def cib_apply(params_path: str, prune: bool) -> None:
    """Install the rendered configuration into the running cluster.

    Progress lines go to stderr.  The configuration is replaced in one
    step: after Ctrl-C it is either installed or not, and the command says
    which."""
    import shlex

    from sip_ha import cib as cib_lib
    from sip_ha import corosync, history, qdevice, tools

    runner, params = tools.runner(360), _load(params_path, agents=True)
    params, here = _installable(runner, params)
    planned = cib_lib.apply(runner, params, prune, progress=_progress)
    _warn(planned.warnings, params)
    changes = cib_lib.diff(planned.live, planned.new)
    if changes:
        history.record(f"configuration applied from {params_path}")
        click.echo(changes, nl=False)
        click.echo("applied")
    timing, device = _beside_the_cib(runner, params, planned.live, here)
    for line in timing.unread() + device.unread():
        click.echo(f"warning: {line}", err=True)
    if timing.command:
        for line in timing.describe()[:-1]:
            click.echo(line)
        _progress("setting Corosync's timing on every node: " + shlex.join(timing.command))
        corosync.apply(runner, params.timings)
        history.record(f"Corosync token {params.timings.corosync_token} ms, consensus "
                       f"{params.timings.corosync_consensus} ms set from {params_path}")
        click.echo(f"Corosync: token {params.timings.corosync_token} ms, consensus "
                   f"{params.timings.corosync_consensus} ms set on every node")
    if device.command:
        for line in device.describe()[:-1]:
            click.echo(line)
        _progress("changing the quorum device on every node: " + shlex.join(device.command))
        qdevice.apply(runner, device.command)
        history.record(f"quorum device {params.quorum_device} set from {params_path}")
        click.echo(f"quorum device: {params.quorum_device}, timeout "
                   f"{params.timings.qdevice_timeout} ms, sync_timeout "
                   f"{params.timings.qdevice_sync_timeout} ms, heuristic set on every node")
    elif device.changed:  # only the operator can: say what, and that it is not done
        for line in device.describe():
            click.echo(line)
        sys.exit(NEEDS_ATTENTION)
    if not (changes or timing.command or device.changed):
        click.echo("the cluster already runs this configuration")


@cli.command()
@_params_option
@click.option("--since", default="-7d", show_default=True,
              help="journalctl --since value, e.g. '2026-01-01' or '-2h'.")
@output.option("logs.json")
@_errors
def logs(params_path: str, since: str, output_as: str) -> None:
    """Failover history (promote, demote, fencing, operator actions) of all nodes."""
    from sip_ha import history, tools

    entries, missing = history.entries(tools.runner(300), _load(params_path), since)
    if output_as == output.JSON:
        output.emit({"since": since, "missing": missing,
                     "entries": [{"time": stamp, "node": node, "message": message}
                                 for stamp, node, message in entries]})
        return
    for stamp, node, message in entries:
        click.echo(f"{stamp} {node} {message}")
    for node in missing:
        click.echo(f"warning: no history from {node}", err=True)


@cli.command("test-alerts")
@_params_option
@_errors
def test_alerts(params_path: str) -> None:
    """Send a test notification to every recipient of [alerts], from this node.

    Run as root here: Pacemaker runs the agent as hacluster, so this does not
    check file permissions the agent may need (none by default)."""
    from sip_ha import alert_test

    results = alert_test.send_tests(_load(params_path))
    for recipient, outcome in results:
        click.echo(f"{recipient}: {outcome}")
    if any(outcome != "sent" for _, outcome in results):
        sys.exit(1)


@cli.command("install-agents")
@click.option("--uninstall", is_flag=True, help="Remove the agents this command installed.")
@click.option("--ocf-root", default="/usr/lib/ocf", show_default=True, envvar="OCF_ROOT",
              metavar="DIR",
              help="Root of the OCF tree Pacemaker uses.")
@click.option("--alert-dir", default=installer.ALERT_DIR, show_default=True, metavar="DIR",
              help="Where the alert agent sip-ha-alert goes.")
@click.option("--tmpfiles-dir", metavar="DIR",
              help="Where the tmpfiles.d entry that makes the alert agent's folder in /run "
                   f"goes [default: {installer.TMPFILES_DIR} with the default --alert-dir, "
                   "else none]; \"\" for none.")
@click.option("--helper-dir", metavar="DIR",
              help="Where the quorum device's heuristic holds-address goes [default: "
                   f"{installer.HELPER_DIR} with the default --alert-dir, else none]; \"\" "
                   "for none.")
def install_agents(uninstall: bool, ocf_root: str, alert_dir: str,
                   tmpfiles_dir: str | None, helper_dir: str | None) -> None:
    """Install the ocf:sipha:* agents, the sip-ha-alert alert agent for
    Pacemaker and the quorum device's heuristic (or remove them)."""
    system = alert_dir == installer.ALERT_DIR  # a test's or trial's private tree: not /etc, /usr
    if tmpfiles_dir is None:
        tmpfiles_dir = installer.TMPFILES_DIR if system else ""
    if helper_dir is None:
        helper_dir = installer.HELPER_DIR if system else ""
    try:
        paths = (installer.uninstall(ocf_root, alert_dir, tmpfiles_dir, helper_dir)
                 if uninstall
                 else installer.install(ocf_root, alert_dir=alert_dir,
                                        tmpfiles_dir=tmpfiles_dir, helper_dir=helper_dir))
    except (installer.InstallError, OSError) as err:
        raise click.ClickException(str(err)) from None
    verb = "removed" if uninstall else "installed"
    for path in paths:
        click.echo(f"{verb} {path}")
    if not paths:
        click.echo(f"nothing to remove in {installer.provider_dir(ocf_root)}")
    if tmpfiles_dir and not uninstall:
        from sip_ha import tools

        warning = installer.make_state_folder(tools.runner(60), tmpfiles_dir)
        if warning:
            click.echo(f"warning: {warning}", err=True)


def main() -> None:
    cli(prog_name="sip-ha")
