"""ocf:sipha:asterisk - Asterisk as a promotable clone.

Asterisk runs on every node (hot standby); the promoted instance is the
SIP-ACTIVE server.  What only the active server may do is switched by the
role: the modules in ``active_modules`` (by default the PJSIP outbound
registration module, so that trunk registrations follow the active role)
are loaded on promote and unloaded on demote - unloading sends the
un-REGISTER, so two servers never register the same trunk, and because
modules.conf keeps them from loading at boot, a standby never registers
even for a moment.

The monitor checks the process, the control socket (with its own short
deadline: a hung Asterisk fails in seconds), and SIP OPTIONS on every
configured URI; at depth 10 on the promoted node also the active modules
and the trunk registrations (a trunk that is not registered is "degraded",
not failed: calls between phones still work).  The promotion score follows
health: a node whose checks fail gets none.
"""

from __future__ import annotations

import os
import time

from ocf_agents.clients import asterisk_config
from ocf_agents.clients.asterisk_cli import (
    AsteriskCli,
    AsteriskDown,
    AsteriskError,
    noload_modules,
    read_directories,
)
from ocf_agents.framework import daemon, metrics, promotion
from ocf_agents.framework.ocf import (
    Agent,
    ArgsError,
    Context,
    Duration,
    GenericError,
    NotConfiguredError,
    NotInstalledError,
    OCFCode,
    OCFError,
    Operation,
    param,
)
from ocf_agents.shared.sip_check import SipCheckConfig, check_sip
from sipha_runtime import processes
from sipha_runtime.run import CommandError

HEALTHY_SCORE = 100
# A standby that refused configuration the active has: promoted only when no
# healthy node is left.
DEGRADED_SCORE = 10
# Failed astdb pulls in a row that make a standby report degraded.
PULL_FAILURES = 3


class AsteriskConfig(SipCheckConfig):
    binary: str = param("/usr/sbin/asterisk", shortdesc="Asterisk binary")
    config: str = param("/etc/asterisk/asterisk.conf", shortdesc="asterisk.conf",
                        longdesc="Main configuration file (-C); its [directories] "
                                 "section says where the pid file and control socket are.")
    user: str = param("asterisk", shortdesc="Run as user", longdesc="User Asterisk runs as (-U).")
    group: str = param("asterisk", shortdesc="Run as group",
                       longdesc="Group Asterisk runs as (-G).")
    start_options: str = param(
        "", shortdesc="Extra start options",
        longdesc="Further command-line options for Asterisk, split like a shell would.")
    control_timeout: Duration = param(
        Duration(3), shortdesc="Control-socket deadline",
        longdesc="How long Asterisk may take to answer on its control socket before "
                 "it counts as hung.")
    active_modules: tuple[str, ...] = param(
        ("res_pjsip_outbound_registration.so",), shortdesc="Modules of the active server",
        longdesc="Modules loaded only while promoted (space-separated). The default "
                 "makes outbound trunk registrations follow the active role. Each must "
                 "be listed as 'noload => MODULE' in modules.conf so that a standby "
                 "never loads it at boot.")
    registrations: tuple[str, ...] = param(
        (), shortdesc="Registrations to watch",
        longdesc="Outbound registrations that must be Registered on the promoted node "
                 "(checked at OCF_CHECK_LEVEL 10); empty: every registration Asterisk "
                 "shows. One that is not registered makes the monitor report degraded.")
    astdb_families: tuple[str, ...] = param(
        (), shortdesc="astdb families carried to the standbys",
        longdesc="Space-separated astdb families that follow the active server, e.g. "
                 "'registrar Queue/PersistentMembers DND CF CFB CFU': each standby reads "
                 "them from the manager interface of the node the cluster shows promoted "
                 "every monitor and writes them into its own astdb on promote, so phones "
                 "stay reachable and agents stay logged in after a failover. Needs "
                 "ami_user/ami_secret_file.")
    astdb_max_age: Duration = param(
        Duration(60), shortdesc="Age of an astdb snapshot that promote trusts",
        longdesc="On promote, a snapshot of the active server's astdb_families at most "
                 "this old makes the local families equal to it; an older one (the active "
                 "server did not answer the last monitors) only adds the keys missing here "
                 "and never changes or removes one, so what changed on this node since "
                 "(a DND set here) survives.")
    resync_notify: str = param(
        "", shortdesc="Ask phones to re-register after promote",
        longdesc="Name of a pjsip_notify.conf entry (e.g. one sending 'Event: check-sync' "
                 "or 'Event: check-sync;reboot=false'); after a promote every contact "
                 "carried over in the registrar family is sent it, so phones refresh their "
                 "registration and NAT binding with the new active server. Empty: off.")
    ami_host: str = param("localhost", shortdesc="This node's manager address",
                          longdesc="Where this node's own manager interface listens (the "
                                   "astdb is written through it on promote); the active "
                                   "server's is reached by its node name.")
    ami_port: int = param(5038, shortdesc="Manager (AMI) port",
                          longdesc="Port of the Asterisk manager interface on every node.")
    ami_user: str = param("", shortdesc="Manager (AMI) user",
                          longdesc="Manager user allowed the Command, DBPut and QueueAdd "
                                   "actions (write = system,command,agent); needed for "
                                   "astdb_families.")
    ami_secret_file: str = param(
        "", shortdesc="File holding ami_user's secret",
        longdesc="Absolute path of a file owned by root with mode 600 whose first line is "
                 "ami_user's secret (the same on every node). The secret never goes into "
                 "the CIB or the logs, and it is not sent to the manager: the login answers "
                 "a challenge.")
    ami_secret: str = param(
        "", shortdesc="Manager (AMI) secret (deprecated)",
        longdesc="Deprecated, use ami_secret_file: a value here is in the CIB (unless kept "
                 "with cibsecret), where every reader of the CIB sees it. Still used when "
                 "ami_secret_file is empty, with a warning.")
    service_ip: tuple[str, ...] = param(
        (), shortdesc="Service addresses",
        longdesc="The addresses phones reach the PBX at (service-ip's, without prefix; "
                 "space-separated). After a promote, as soon as one is up on this node, "
                 "every endpoint with contacts is qualified (a standby's failed qualifies "
                 "left them unavailable) and resync_notify is sent. Empty: right after "
                 "the promote.")
    drain_timeout: Duration = param(
        Duration(0), shortdesc="Call draining",
        longdesc="On demote and stop, wait up to this long for active calls to end "
                 "(planned moves during office hours); 0: do not wait. Keep it below "
                 "the demote and stop timeouts.")


class Paths:
    def __init__(self, cfg: AsteriskConfig) -> None:
        try:
            folders = read_directories(cfg.config)
        except FileNotFoundError:
            raise NotInstalledError(f"{cfg.config} not found on this node") from None
        except OSError as err:
            raise NotInstalledError(f"cannot read {cfg.config}: {err.strerror}") from None
        self.rundir = folders["astrundir"]
        self.pidfile = os.path.join(self.rundir, "asterisk.pid")
        self.control_socket = os.path.join(self.rundir, folders["astctl"])
        self.etc = folders["astetcdir"]
        self.modules_conf = os.path.join(self.etc, "modules.conf")


def cli_of(cfg: AsteriskConfig, paths: Paths | None = None) -> AsteriskCli:
    """Pass ``paths`` where the action has them: asterisk.conf is read once per call."""
    return AsteriskCli((paths or Paths(cfg)).control_socket, cfg.control_timeout)


# --------------------------------------------------------------------------
# Validation


def validate(cfg: AsteriskConfig, ctx: Context) -> None:
    if cfg.ami_secret_file and cfg.ami_secret:
        raise NotConfiguredError("set ami_secret_file or the deprecated ami_secret, not both")
    if cfg.astdb_families and not (cfg.ami_user and (cfg.ami_secret_file or cfg.ami_secret)):
        raise NotConfiguredError("astdb_families needs ami_user and ami_secret_file")
    if cfg.ami_secret_file and not os.path.isabs(cfg.ami_secret_file):
        raise NotConfiguredError(f"ami_secret_file {cfg.ami_secret_file!r} must be an "
                                 "absolute path")
    if not os.path.isabs(cfg.binary):
        raise NotConfiguredError(f"binary {cfg.binary!r} must be an absolute path")
    if not os.access(cfg.binary, os.X_OK):
        raise NotInstalledError(f"{cfg.binary} is not installed on this node")
    paths = Paths(cfg)
    daemon.require_account(cfg.user, cfg.group)
    if cfg.ami_secret_file:
        daemon.require_secret_file("ami_secret_file", cfg.ami_secret_file)
    elif cfg.ami_secret:
        ctx.log.warning("ami_secret is deprecated: its value is in the CIB; put it in a "
                        "root-only file named by ami_secret_file")
    if cfg.active_modules:
        missing = set(cfg.active_modules) - noload_modules(paths.modules_conf)
        if missing:
            lines = ", ".join(f"'noload => {name}'" for name in sorted(missing))
            raise ArgsError(f"{paths.modules_conf} must contain {lines} so that a standby "
                            "never loads what only the active server may run")
    for address in cfg.service_ip:
        import ipaddress

        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise NotConfiguredError(f"service_ip {address!r} is not an IP address "
                                     "(no prefix length)") from None
    if cfg.start_options:
        import shlex

        try:
            shlex.split(cfg.start_options)
        except ValueError as err:
            raise NotConfiguredError(f"start_options cannot be split: {err}") from None


def manager_secret(cfg: AsteriskConfig) -> str:
    """ami_user's secret; AmiError when ami_secret_file cannot be read."""
    if not cfg.ami_secret_file:
        return cfg.ami_secret
    from ocf_agents.clients.asterisk_ami import AmiError

    try:
        with open(cfg.ami_secret_file, encoding="utf-8") as handle:
            return handle.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as err:
        raise AmiError(f"ami_secret_file {cfg.ami_secret_file}: "
                       f"{getattr(err, 'strerror', None) or err}") from None


# --------------------------------------------------------------------------
# Health and promotion score


def check_health(cfg: AsteriskConfig, ctx: Context, pid: int, paths: Paths) -> None:
    """Raise GenericError unless Asterisk answers on its socket and on SIP."""
    if processes.is_stopped(pid):
        raise GenericError(f"asterisk (pid {pid}) is stopped (SIGSTOP?)")
    cli = cli_of(cfg, paths)

    def control() -> None:
        try:
            cli.uptime()
        except AsteriskError as err:
            raise GenericError(str(err)) from None
        # The banner is "host/pid/version": the socket must be this Asterisk's.
        answered_by = cli.banner.split("/")[1:2]
        if answered_by and answered_by[0].isdigit() and int(answered_by[0]) != pid:
            raise GenericError(f"the control socket is answered by pid {answered_by[0]}, "
                               f"not by asterisk pid {pid} (a second Asterisk?)")

    # The control socket while the SIP probes are under way; its failure first.
    answers = check_sip(cfg, ctx, during=control)
    metrics.publish_rtt(ctx, answers)
    _say_if_check_unknown(ctx, any(answer.status == 401 for answer in answers))


# Asterisk answers 401 to an OPTIONS from no endpoint of its own, and logs
# each one; the endpoint the README gives makes the check known.
CHECK_UNKNOWN = ("Asterisk does not know the SIP check (it answered 401) and logs 'No "
                 "matching endpoint found' for every check: add the endpoint and identify "
                 "'sipha-check' (match_header = X-SIP-HA-Check: monitor) to pjsip.conf, see "
                 "the README's 'The local SIP check'")


def _say_if_check_unknown(ctx: Context, unknown: bool) -> None:
    """Warn once (until Asterisk knows the check) rather than every monitor."""
    said = ctx.state_file("sip-check-unknown")
    if unknown and not os.path.exists(said):
        ctx.log.warning(CHECK_UNKNOWN)
        with open(said, "w", encoding="utf-8"):
            pass
    elif not unknown and os.path.exists(said):
        os.unlink(said)


def active_role_problems(cfg: AsteriskConfig, ctx: Context) -> list[str]:
    """What the promoted node should be doing but is not (degraded, not failed)."""
    cli = cli_of(cfg)
    problems = [f"{module} is not loaded" for module in cfg.active_modules
                if not cli.module_loaded(module)]
    if "res_pjsip_outbound_registration.so" in cfg.active_modules and not problems:
        states = cli.registrations()
        for name in cfg.registrations or tuple(states):
            state = states.get(name, "missing")
            if state != "Registered":
                problems.append(f"trunk registration {name} is {state}")
    return problems


def _check_standby_modules(cfg: AsteriskConfig, ctx: Context) -> None:
    """A standby running an active-only module would register trunks twice."""
    try:
        cli = cli_of(cfg)
        loaded = [module for module in cfg.active_modules if cli.module_loaded(module)]
    except AsteriskError as err:
        raise GenericError(str(err)) from None
    if loaded:
        promotion.set_score(ctx, None)
        raise GenericError(f"{', '.join(loaded)} loaded on a standby (loaded by hand?)")


def config_attribute(ctx: Context) -> str:
    """Node attribute, set only while Asterisk refuses some of its configuration:
    what it refused."""
    return f"sipha-{ctx.resource}-config"


def degraded_attribute(ctx: Context) -> str:
    """Node attribute, set only while this node serves but needs attention
    (a stale astdb snapshot on a standby, trunks not registered on the
    active): why."""
    return f"sipha-{ctx.resource}-degraded"


def report_degraded(ctx: Context, problems: list[str]) -> None:
    """Publish PROBLEMS (empty ones ignored); log them when they change."""
    text = "; ".join(p for p in problems if p) or None
    name = degraded_attribute(ctx)
    before = promotion.publish(ctx, {name: text}, write=promotion.dampened(ctx))
    if text and before.get(name) != text:
        ctx.log.warning(f"degraded: {text}")
    elif before.get(name) and not text:
        ctx.log.info("no longer degraded")


def configuration_problem(cfg: AsteriskConfig, ctx: Context, paths: Paths,
                          settle: float) -> str:
    """Load configuration files changed on disk (see asterisk_config); what
    Asterisk refused of them, published and logged when it changes."""
    try:
        loaded, done = asterisk_config.freshen(cli_of(cfg, paths), paths.etc,
                                               ctx.state_file("config"), settle)
    except AsteriskError as err:
        raise GenericError(f"configuration not reloaded: {err}") from None
    if done:
        ctx.log.info(done)
    name = config_attribute(ctx)
    before = promotion.publish(ctx, {name: loaded.problem or None})
    if loaded.problem and before.get(name) != loaded.problem:
        ctx.log.warning(f"Asterisk refused its new configuration: {loaded.problem}")
    return loaded.problem


def _record_loaded(ctx: Context, mark: int) -> None:
    asterisk_config.Loaded(mark).save(ctx.state_file("config"))


# --------------------------------------------------------------------------
# Actions


def monitor(cfg: AsteriskConfig, ctx: Context) -> OCFCode:
    paths = Paths(cfg)
    promoted = promotion.is_promoted(ctx)
    failed = OCFCode.FAILED_PROMOTED if promoted else OCFCode.ERR_GENERIC
    pid = daemon.live_pid(ctx, paths.pidfile, cfg.binary, failed=failed,
                          died="asterisk died without being stopped",
                          withdraw=lambda: promotion.set_score(ctx, None))
    if pid is None:
        return OCFCode.NOT_RUNNING
    try:
        check_health(cfg, ctx, pid, paths)
    except (OCFError, CommandError) as err:
        promotion.set_score(ctx, None)
        raise GenericError(err.reason, failed) from None
    from ocf_agents.framework import crash_watch

    crash_watch.ensure(ctx, pid, "asterisk")
    # Trouble that is no failure is published, never returned as 190/191:
    # Pacemaker records a degraded result as a failed operation, and then
    # waits action timeout + cluster-delay (90 s) for the cancellation of
    # that monitor before it promotes or demotes this node (README).
    if not promoted:
        if ctx.check_level >= 10:
            _check_standby_modules(cfg, ctx)
        problem = configuration_problem(cfg, ctx, paths, asterisk_config.SETTLE)
        promotion.set_score(ctx, DEGRADED_SCORE if problem else HEALTHY_SCORE)
        report_degraded(ctx, [_pull_astdb(cfg, ctx)])
        return OCFCode.SUCCESS
    promotion.set_score(ctx, HEALTHY_SCORE)
    if ctx.check_level >= 10:
        try:
            report_degraded(ctx, active_role_problems(cfg, ctx))
        except AsteriskError as err:
            raise GenericError(str(err), failed) from None
    return OCFCode.RUNNING_PROMOTED


def start(cfg: AsteriskConfig, ctx: Context) -> OCFCode:
    paths = Paths(cfg)
    cli = cli_of(cfg)
    pid = processes.live_pid(paths.pidfile, cfg.binary)
    # What a booting Asterisk reads; files changed from here on are newer.
    mark = asterisk_config.newest(paths.etc)
    if pid is None:
        daemon.stop_leftovers(ctx, cfg.binary)
        daemon.prepare_dir(paths.rundir, cfg.user, cfg.group)
        import shlex

        argv = [cfg.binary, "-C", cfg.config, "-U", cfg.user, "-G", cfg.group,
                *shlex.split(cfg.start_options)]
        ctx.log.info(f"starting: {' '.join(argv)}")
        daemon.record_group(ctx, None)
        result = daemon.launch(ctx, argv)
        if not result.ok:
            daemon.forget(ctx)
            raise GenericError(f"asterisk failed to start: {result.summary()}")
    last = "no pid file written"
    while ctx.remaining() > 0:
        pid = processes.live_pid(paths.pidfile, cfg.binary)
        if pid is not None:
            daemon.record_group(ctx, processes.group_of(pid))
            try:
                cli.wait_fully_booted(max(0.5, min(ctx.remaining(), 30)))
                _become_standby(cfg, ctx)
                check_health(cfg, ctx, pid, paths)
            except (AsteriskError, OCFError, CommandError) as err:
                last = str(err) if isinstance(err, AsteriskError) else err.reason
            else:
                _record_loaded(ctx, mark)
                promotion.set_score(ctx, HEALTHY_SCORE)
                ctx.log.info(f"running as pid {pid}, fully booted, answering SIP")
                from ocf_agents.framework import crash_watch

                crash_watch.arm(ctx, pid, "asterisk")
                return OCFCode.SUCCESS
        time.sleep(0.2)
    raise GenericError(f"started but not healthy before the start timeout: {last}")


def _become_standby(cfg: AsteriskConfig, ctx: Context) -> None:
    cli = cli_of(cfg)
    for module in cfg.active_modules:
        if cli.module_loaded(module):
            ctx.log.info(f"unloading {module}: only the promoted node runs it")
            cli.unload_module(module)
    daemon.remove(promotion.promoted_marker(ctx))


def _pull_astdb(cfg: AsteriskConfig, ctx: Context) -> str:
    """Refresh the snapshot; why the standby is degraded, "" while it is not."""
    if not cfg.astdb_families:
        return ""
    from ocf_agents.shared import astdb_carry

    try:
        astdb_carry.pull(ctx, cfg.astdb_families, cfg.ami_port, cfg.ami_user, manager_secret(cfg),
                         timeout=min(cfg.control_timeout, max(0.5, ctx.remaining() - 1)))
    except astdb_carry.AmiError as err:
        # Never failed: the standby still serves, it only has an older snapshot.
        failures = astdb_carry.count_pulls(ctx, failed=True)
        if failures >= PULL_FAILURES:
            return (f"astdb not refreshed from the active server {PULL_FAILURES} or more "
                    f"times in a row: {err}")
        ctx.log.warning(f"astdb not refreshed from the active server: {err}")
        return ""
    astdb_carry.count_pulls(ctx, failed=False)
    return ""


def _import_astdb(cfg: AsteriskConfig, ctx: Context) -> None:
    if not cfg.astdb_families:
        return
    from ocf_agents.shared import astdb_carry

    try:
        ctx.log.info(astdb_carry.import_snapshot(
            ctx, cfg.ami_host, cfg.ami_port, cfg.ami_user, manager_secret(cfg),
            timeout=max(1.0, ctx.remaining() / 2), max_age=cfg.astdb_max_age))
    except astdb_carry.AmiError as err:
        ctx.log.error(f"astdb snapshot not imported (promoting anyway): {err}")


def _refresh_phones(cfg: AsteriskConfig, ctx: Context) -> None:
    """Leave a child that refreshes the phones once the address is up."""
    from ocf_agents.clients import asterisk_phones

    notify_endpoints: list[str] = []
    if cfg.resync_notify and cfg.astdb_families:
        from ocf_agents.shared import astdb_carry

        notify_endpoints = astdb_carry.contact_endpoints(ctx)
    cli = cli_of(cfg)

    def work() -> None:
        done, message = asterisk_phones.refresh_when_up(
            cli, cfg.service_ip, cfg.resync_notify, notify_endpoints)
        (ctx.log.info if done else ctx.log.warning)(message)

    processes.in_background(work)


def drain(cfg: AsteriskConfig, ctx: Context) -> None:
    """Wait (bounded) for active calls to end before a planned demote or stop."""
    if cfg.drain_timeout <= 0:
        return
    cli = cli_of(cfg)
    deadline = min(time.monotonic() + cfg.drain_timeout, ctx.deadline - 2 * cfg.control_timeout)
    try:
        calls = cli.active_calls()
        if calls:
            ctx.log.info(f"draining: waiting up to {cfg.drain_timeout:g}s for {calls} call(s)")
        while calls and time.monotonic() < deadline:
            time.sleep(0.5)
            calls = cli.active_calls()
    except AsteriskError as err:
        ctx.log.warning(f"not draining: {err}")
        return
    if calls:
        ctx.log.warning(f"drain timeout: {calls} call(s) still active")
    else:
        ctx.log.info("no active calls")


def stop(cfg: AsteriskConfig, ctx: Context) -> OCFCode:
    from ocf_agents.framework import crash_watch

    crash_watch.disarm(ctx)     # first: the drain and the stop are no crash
    paths = Paths(cfg)
    pid = processes.live_pid(paths.pidfile, cfg.binary)
    graceful = daemon.graceful_deadline(ctx)
    if pid is not None:
        hung = processes.is_stopped(pid)
        if not hung:
            drain(cfg, ctx)
            ctx.log.info(f"stopping pid {pid} (core stop now)")
            try:
                cli_of(cfg).stop_now(min(cfg.control_timeout, ctx.remaining()))
            except AsteriskError as err:
                ctx.log.warning(f"core stop now failed: {err}")
                hung = True
        # A hung Asterisk will not act on "core stop now": signal it at once.
        if (hung or not processes.wait_gone(pid, min(graceful, time.monotonic() + 10))) \
                and not daemon.terminate(pid, cfg.binary, graceful):
            daemon.kill(ctx, pid, cfg.binary)
    daemon.stop_leftovers(ctx, cfg.binary, graceful)
    promotion.set_score(ctx, None)
    promotion.publish(ctx, {config_attribute(ctx): None, degraded_attribute(ctx): None,
                            metrics.rtt_attribute(ctx): None})
    from ocf_agents.shared import astdb_carry

    daemon.forget(ctx, promotion.promoted_marker(ctx), ctx.state_file("config"),
                  *astdb_carry.state_files(ctx))
    return OCFCode.SUCCESS


def promote(cfg: AsteriskConfig, ctx: Context) -> OCFCode:
    paths = Paths(cfg)
    pid = processes.live_pid(paths.pidfile, cfg.binary)
    if pid is None:
        raise GenericError("cannot promote: asterisk is not running")
    cli = cli_of(cfg)
    was_promoted = promotion.is_promoted(ctx)
    if not was_promoted:
        # The new active serves the newest configuration on disk, even if it
        # arrived since the last monitor; what Asterisk refuses is reported.
        problem = configuration_problem(cfg, ctx, paths, settle=0)
        if problem:
            ctx.log.error(f"promoting with the configuration Asterisk kept: {problem}")
        _import_astdb(cfg, ctx)
    try:
        for module in cfg.active_modules:
            if not cli.module_loaded(module):
                cli.load_module(module)
                ctx.log.info(f"loaded {module}")
    except AsteriskError as err:
        raise GenericError(f"promote: {err}") from None
    with open(promotion.promoted_marker(ctx), "w", encoding="ascii") as handle:
        handle.write(f"{time.time():.0f}\n")
    if not was_promoted:
        _refresh_phones(cfg, ctx)
        if cfg.astdb_families:
            from ocf_agents.shared import astdb_carry

            # Imported once; a later promote must not apply it over newer data.
            daemon.remove(astdb_carry.snapshot_file(ctx))
    return OCFCode.SUCCESS


def demote(cfg: AsteriskConfig, ctx: Context) -> OCFCode:
    paths = Paths(cfg)
    pid = processes.live_pid(paths.pidfile, cfg.binary)
    if pid is None:
        # Crashed or stopped: nothing is registered from here any more.
        daemon.remove(promotion.promoted_marker(ctx))
        return OCFCode.NOT_RUNNING
    if processes.is_stopped(pid):
        raise GenericError(f"cannot demote: asterisk (pid {pid}) is stopped (SIGSTOP?)")
    drain(cfg, ctx)
    try:
        _become_standby(cfg, ctx)
    except AsteriskError as err:
        raise GenericError(f"demote: {err}") from None
    return OCFCode.SUCCESS


def reload(cfg: AsteriskConfig, ctx: Context) -> OCFCode:
    """Re-read changed configuration (after a file sync) without a restart."""
    try:
        cli_of(cfg).reload()
    except AsteriskDown:
        return OCFCode.NOT_RUNNING
    except AsteriskError as err:
        raise GenericError(f"reload: {err}") from None
    return OCFCode.SUCCESS


def notify(_cfg: AsteriskConfig, _ctx: Context) -> OCFCode:
    """Nothing to do; kept for a clone still configured with notify=true (a
    CIB rendered before the clone lost it): Pacemaker blocks a transition on
    a failed notification and schedules the same one again, so an
    unimplemented notify would stop every move of the role."""
    return OCFCode.SUCCESS


AGENT = Agent(
    "asterisk",
    version="1.0",
    shortdesc="Asterisk PBX as a promotable clone (SIP-ACTIVE on the promoted node)",
    longdesc=__doc__.split("\n\n", 1)[1].strip().replace("\n", " "),
    config=AsteriskConfig,
    handlers={"start": start, "stop": stop, "monitor": monitor, "promote": promote,
              "demote": demote, "reload": reload, "notify": notify},
    operations=(
        Operation("start", timeout=60),
        Operation("stop", timeout=60),
        Operation("promote", timeout=30),
        Operation("demote", timeout=60),
        Operation("monitor", timeout=20, interval=10, role="Unpromoted"),
        Operation("monitor", timeout=20, interval=9, role="Promoted"),
        Operation("monitor", timeout=30, interval=31, depth=10, role="Promoted"),
        Operation("reload", timeout=30),
    ),
    validate=validate,
)


if __name__ == "__main__":
    AGENT.main()
