"""ocf:sipha:sipserver - keep a SIP server running and answering SIP.

Kamailio by default; OpenSIPS and FreeSWITCH by profile; any other SIP
daemon by start command and pid file.  The monitor asks what a phone would
ask: does the server answer SIP OPTIONS on every configured transport, each
within its own deadline?  A server that is alive but hung fails there, in
seconds, long before Pacemaker's operation timeout.
"""

from __future__ import annotations

import os
import time

from ocf_agents.framework import daemon, metrics
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

PROFILES = {
    # profile: (binary, config file, pid file, control command)
    "kamailio": ("/usr/sbin/kamailio", "/etc/kamailio/kamailio.cfg",
                 "/run/kamailio/{instance}.pid", "/usr/sbin/kamcmd core.uptime"),
    "opensips": ("/usr/sbin/opensips", "/etc/opensips/opensips.cfg",
                 "/run/opensips/{instance}.pid", "/usr/bin/opensips-cli -x mi uptime"),
    "freeswitch": ("/usr/bin/freeswitch", "", "/run/freeswitch/freeswitch.pid",
                   "/usr/bin/fs_cli -x status"),
    "custom": ("", "", "", ""),
}


class SipServerConfig(SipCheckConfig):
    profile: str = param(
        "kamailio", shortdesc="Which SIP server",
        longdesc="Sets defaults for binary, config, pidfile and control_command, "
                 "and how the server is started.",
        choices=tuple(PROFILES))
    binary: str = param(
        "", shortdesc="Server binary",
        longdesc="Absolute path of the server program; empty: the profile's "
                 "(/usr/sbin/kamailio, /usr/sbin/opensips, /usr/bin/freeswitch).")
    config: str = param(
        "", shortdesc="Configuration file",
        longdesc="Kamailio/OpenSIPS configuration file (-f), FreeSWITCH "
                 "configuration folder (-conf); empty: the profile's default.")
    pidfile: str = param(
        "", unique=True, shortdesc="Pid file",
        longdesc="Where the server writes its main process id; empty: "
                 "/run/<profile>/<resource>.pid (FreeSWITCH: /run/freeswitch/freeswitch.pid).")
    user: str = param("", shortdesc="Run as user",
                      longdesc="User the server runs as (-u); empty: as started.")
    group: str = param("", shortdesc="Run as group", longdesc="Group the server runs as (-g).")
    start_options: str = param(
        "", shortdesc="Extra start options",
        longdesc="Further command-line options, split like a shell would "
                 "(quotes allowed, no variables or redirections).")
    start_command: str = param(
        "", shortdesc="Start command (custom profile)",
        longdesc="Full command that starts the server and returns once it "
                 "has written its pid file; required with profile=custom.")
    control_command: str = param(
        "", shortdesc="Control-channel check",
        longdesc="Command that must succeed within control_timeout when the "
                 "server's management interface answers (monitor depth 10 and "
                 "start), e.g. '/usr/sbin/kamcmd -s unix:/run/kamailio/kamailio_ctl "
                 "core.uptime'; empty: the profile's; 'none': no such check.")
    control_timeout: Duration = param(
        Duration(2), shortdesc="Control-channel deadline",
        longdesc="How long the control command may take before the server counts as hung.")


def _default_pidfile(template: str, ctx: Context) -> str:
    """The profile's pid file, named after the resource (no clone number).
    A server that crm_resource --force-start started under an older agent
    wrote it with the number turned into "-N"; that file is used while it
    is there."""
    path = template.format(instance=ctx.resource.replace("/", "_"))
    older = template.format(instance=ctx.instance.replace(":", "-").replace("/", "_"))
    return older if older != path and os.path.exists(older) else path


class Plan:
    """The concrete program, files and commands for one call."""

    def __init__(self, cfg: SipServerConfig, ctx: Context) -> None:
        binary, config, pidfile, control = PROFILES[cfg.profile]
        self.cfg = cfg
        self.profile = cfg.profile
        self.config = cfg.config or config
        self.pidfile = cfg.pidfile or _default_pidfile(pidfile, ctx)
        self._control = control
        if cfg.profile == "custom" and not (cfg.start_command.strip() and cfg.pidfile):
            raise NotConfiguredError("profile=custom needs start_command and pidfile")
        self.binary = cfg.binary or binary or (_split(cfg.start_command, "start_command")[:1]
                                               or [""])[0]

    @property
    def control(self) -> list[str]:
        if self.cfg.control_command.strip().lower() == "none":
            return []
        return _split(self.cfg.control_command or self._control, "control_command")

    @property
    def start(self) -> list[str]:
        options = _split(self.cfg.start_options, "start_options")
        if self.profile == "custom":
            return _split(self.cfg.start_command, "start_command") + options
        return [self.binary, *self._profile_options(self.cfg), *options]

    def _profile_options(self, cfg: SipServerConfig) -> list[str]:
        run_as = (["-u", cfg.user] if cfg.user else []) + (["-g", cfg.group] if cfg.group else [])
        if self.profile == "freeswitch":
            conf = ["-conf", self.config] if self.config else []
            return ["-nc", "-nonat", "-run", os.path.dirname(self.pidfile), *conf, *run_as]
        return ["-f", self.config, "-P", self.pidfile, *run_as]


def _split(text: str, name: str) -> list[str]:
    import shlex  # pulls in re: not needed by a plain monitor

    try:
        return shlex.split(text)
    except ValueError as err:
        raise NotConfiguredError(f"parameter {name} cannot be split: {err}") from None


def validate(cfg: SipServerConfig, ctx: Context) -> None:
    plan = Plan(cfg, ctx)
    plan.start  # noqa: B018 - splitting the command lines validates them
    _require_program(plan.binary, "server binary")
    if plan.control:
        _require_program(plan.control[0], "control command")
    if plan.config and plan.profile in ("kamailio", "opensips") and not os.path.isfile(plan.config):
        raise NotInstalledError(f"configuration file {plan.config} not found on this node")
    if plan.config and plan.profile == "freeswitch" and not os.path.isdir(plan.config):
        raise NotInstalledError(f"configuration folder {plan.config} not found on this node")
    daemon.require_account(cfg.user, cfg.group)
    if ctx.action == "validate-all" and plan.profile == "kamailio":
        result = ctx.run.run([plan.binary, "-c", "-f", plan.config], timeout=ctx.remaining())
        if not result.ok:
            reason = next((line for line in result.stderr.splitlines() if "ERROR" in line),
                          result.summary())
            raise ArgsError(f"{plan.config} does not pass 'kamailio -c': {reason.strip()[:160]}")


def _require_program(path: str, what: str) -> None:
    if not os.path.isabs(path):
        raise NotConfiguredError(f"{what} {path!r} must be an absolute path")
    if not os.path.isfile(path):
        raise NotInstalledError(f"{what} {path} is not installed on this node")
    if not os.access(path, os.X_OK):
        raise NotInstalledError(f"{what} {path} is not executable")


# --------------------------------------------------------------------------
# Health


def check_health(cfg: SipServerConfig, ctx: Context, plan: Plan, pid: int, depth: int) -> None:
    """Raise GenericError with the reason if the running server is unhealthy."""
    if processes.is_stopped(pid):
        raise GenericError(f"{os.path.basename(plan.binary)} (pid {pid}) is stopped (SIGSTOP?)")
    metrics.publish_rtt(ctx, check_sip(cfg, ctx))
    if depth >= 10 and plan.control:
        result = ctx.run.run(plan.control, timeout=min(cfg.control_timeout, ctx.remaining()))
        if not result.ok:
            raise GenericError(f"control channel: {result.summary()}")


def monitor(cfg: SipServerConfig, ctx: Context) -> OCFCode:
    plan = Plan(cfg, ctx)
    pid = daemon.live_pid(ctx, plan.pidfile, plan.binary,
                          died=f"{os.path.basename(plan.binary) or 'server'} died "
                               f"without being stopped (pid file {plan.pidfile})")
    if pid is None:
        return OCFCode.NOT_RUNNING
    check_health(cfg, ctx, plan, pid, ctx.check_level)
    from ocf_agents.framework import crash_watch

    crash_watch.ensure(ctx, pid, os.path.basename(plan.binary))
    return OCFCode.SUCCESS


def start(cfg: SipServerConfig, ctx: Context) -> OCFCode:
    plan = Plan(cfg, ctx)
    pid = processes.live_pid(plan.pidfile, plan.binary)
    if pid is None:
        daemon.stop_leftovers(ctx, plan.binary)
        daemon.prepare_dir(os.path.dirname(plan.pidfile), cfg.user, cfg.group)
        if os.path.exists(plan.pidfile):
            os.unlink(plan.pidfile)
        ctx.log.info(f"starting: {' '.join(plan.start)}")
        daemon.record_group(ctx, None)
        result = daemon.launch(ctx, plan.start)
        if not result.ok:
            daemon.forget(ctx)
            program = os.path.basename(plan.start[0])
            raise GenericError(f"{program} failed to start: {result.summary()}")
    last = "no pid file written"
    while ctx.remaining() > 0:
        pid = processes.live_pid(plan.pidfile, plan.binary)
        if pid is not None:
            daemon.record_group(ctx, processes.group_of(pid))
            try:
                check_health(cfg, ctx, plan, pid, depth=10)
            except (OCFError, CommandError) as err:
                last = err.reason
            else:
                ctx.log.info(f"running as pid {pid} and answering SIP")
                from ocf_agents.framework import crash_watch

                crash_watch.arm(ctx, pid, os.path.basename(plan.binary))
                return OCFCode.SUCCESS
        time.sleep(0.2)
    raise GenericError(f"started but not healthy before the start timeout: {last}")


def stop(cfg: SipServerConfig, ctx: Context) -> OCFCode:
    from ocf_agents.framework import crash_watch

    crash_watch.disarm(ctx)     # first: what follows is no crash
    plan = Plan(cfg, ctx)
    pid = processes.live_pid(plan.pidfile, plan.binary)
    graceful = daemon.graceful_deadline(ctx)
    if pid is not None:
        ctx.log.info(f"stopping pid {pid}")
        if not daemon.terminate(pid, plan.binary, graceful):
            daemon.kill(ctx, pid, plan.binary)
    daemon.stop_leftovers(ctx, plan.binary, graceful)
    metrics.publish(ctx, {metrics.rtt_attribute(ctx): None})
    daemon.forget(ctx, plan.pidfile)
    return OCFCode.SUCCESS


AGENT = Agent(
    "sipserver",
    version="1.0",
    shortdesc="SIP server (Kamailio, OpenSIPS, FreeSWITCH) with SIP-aware monitoring",
    longdesc=(
        "Starts, stops and monitors a SIP server. The monitor checks that the "
        "process is alive and not stopped, and that every URI in sip_uris answers "
        "SIP OPTIONS within sip_timeout with an accepted status; at OCF_CHECK_LEVEL "
        "10 and above it also requires the control channel (kamcmd, opensips-cli, "
        "fs_cli or control_command) to answer within control_timeout. A server that "
        "is alive but hung is reported failed within those deadlines, not only "
        "when the operation times out. A server that dies without a stop is "
        "reported as failed (1), one stopped cleanly as not running (7)."),
    config=SipServerConfig,
    handlers={"start": start, "stop": stop, "monitor": monitor},
    operations=(
        Operation("start", timeout=60),
        Operation("stop", timeout=30),
        Operation("monitor", timeout=20, interval=10),
        Operation("monitor", timeout=20, interval=30, depth=10),
    ),
    validate=validate,
)


if __name__ == "__main__":
    AGENT.main()
