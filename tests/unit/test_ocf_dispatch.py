"""One call, one OCF code: dispatch, exit reasons, usage errors, logging."""

from __future__ import annotations

import io

import pytest

from ocf_agents.framework.ocf import (
    Agent,
    Config,
    Context,
    GenericError,
    NotInstalledError,
    OCFCode,
    Operation,
    param,
)
from sipha_runtime.log import Logger


class Params(Config):
    level: int = param(1, shortdesc="Level")


calls: list[tuple[str, int, bool]] = []


def monitor(cfg: Params, ctx: Context) -> OCFCode:
    calls.append((ctx.action, cfg.level, ctx.is_probe))
    if cfg.level == 99:
        raise GenericError("level 99 is on fire")
    if cfg.level == 98:
        raise RuntimeError("boom")
    return OCFCode.SUCCESS


def validate(cfg: Params, ctx: Context) -> None:
    if cfg.level == 5:
        raise NotInstalledError("level 5 needs a tool that is missing")


AGENT = Agent("demo", version="1.0", shortdesc="Demo", longdesc="Demo agent.",
              config=Params, handlers={"monitor": monitor, "start": monitor, "stop": monitor},
              operations=(Operation("start", timeout=10), Operation("monitor", timeout=5,
                                                                    interval=10)),
              validate=validate)


def run(argv: list[str], capsys: pytest.CaptureFixture[str], **values: str) -> tuple[int, str]:
    env = {f"OCF_RESKEY_{k}": v for k, v in values.items()}
    env["OCF_RESOURCE_INSTANCE"] = "demo-1"
    code = AGENT.run(argv, env)
    return code, capsys.readouterr().err


def test_monitor_gets_typed_values(capsys):
    calls.clear()
    assert run(["monitor"], capsys, level="7")[0] == OCFCode.SUCCESS
    assert calls == [("monitor", 7, True)]


def test_failure_prints_one_exit_reason(capsys):
    code, err = run(["monitor"], capsys, level="99")
    assert code == OCFCode.ERR_GENERIC
    assert "ocf-exit-reason:level 99 is on fire" in err.splitlines()


def test_unexpected_exception_is_generic_error(capsys):
    code, err = run(["monitor"], capsys, level="98")
    assert code == OCFCode.ERR_GENERIC
    assert "ocf-exit-reason:internal error in monitor: boom" in err


def test_unknown_action_is_unimplemented(capsys):
    code, err = run(["migrate_to"], capsys)
    assert code == OCFCode.ERR_UNIMPLEMENTED
    assert "not implemented" in err


def test_bad_value_is_not_configured(capsys):
    code, err = run(["monitor"], capsys, level="high")
    assert code == OCFCode.ERR_CONFIGURED
    assert "ocf-exit-reason:parameter level='high' is not a whole number" in err


def test_stop_tolerates_bad_values(capsys):
    calls.clear()
    code, _ = run(["stop"], capsys, level="high")
    assert code == OCFCode.SUCCESS
    assert calls == [("stop", 1, False)]


def test_start_runs_validation_first(capsys):
    calls.clear()
    code, err = run(["start"], capsys, level="5")
    assert code == OCFCode.ERR_INSTALLED
    assert calls == []
    assert "missing" in err


def test_validate_all(capsys):
    assert run(["validate-all"], capsys, level="1")[0] == OCFCode.SUCCESS
    assert run(["validate-all"], capsys, level="5")[0] == OCFCode.ERR_INSTALLED


def test_usage_error_from_options_is_args(capsys):
    assert run(["--no-such-option", "monitor"], capsys)[0] == OCFCode.ERR_ARGS
    assert run(["monitor", "extra"], capsys)[0] == OCFCode.ERR_ARGS


def test_options_on_the_command_line(capsys):
    calls.clear()
    assert run(["--level", "4", "monitor"], capsys)[0] == OCFCode.SUCCESS
    assert calls == [("monitor", 4, True)]
    assert run(["--level", "x", "monitor"], capsys)[0] == OCFCode.ERR_CONFIGURED


def test_help_and_usage(capsys):
    assert AGENT.run(["--help"], {}) == OCFCode.SUCCESS
    assert "--level" in capsys.readouterr().out
    assert AGENT.run(["usage"], {}) == OCFCode.SUCCESS
    assert "monitor" in capsys.readouterr().out


def test_probe_detection():
    ctx = Context(AGENT, "monitor", {"OCF_RESKEY_CRM_meta_interval": "0"},
                  Logger("demo", "x", {}), 5)
    assert ctx.is_probe
    ctx = Context(AGENT, "monitor", {"OCF_RESKEY_CRM_meta_interval": "10000"},
                  Logger("demo", "x", {}), 5)
    assert not ctx.is_probe


def test_state_files_ignore_the_clone_number():
    """Pacemaker says "pbx", crm_resource --force-* says "pbx:1": one node's
    instance must find the same state either way."""
    def state(instance: str) -> str:
        env = {"OCF_RESOURCE_INSTANCE": instance, "HA_RSCTMP": "/run/x"}
        return Context(AGENT, "monitor", env, Logger("demo", instance, {}), 5).state_file("pid")

    assert state("pbx") == state("pbx:0") == state("pbx:1") == "/run/x/sipha-demo-pbx.pid"
    assert state("a/b") == "/run/x/sipha-demo-a_b.pid"


def test_one_resource_identity_names_node_attributes_too():
    ctx = Context(AGENT, "monitor", {"OCF_RESOURCE_INSTANCE": "pbx:1"},
                  Logger("demo", "pbx:1", {}), 5)
    assert (ctx.instance, ctx.resource, ctx.attrs.resource) == ("pbx:1", "pbx", "pbx")


def test_deadline_leaves_a_margin():
    ctx = Context(AGENT, "monitor", {}, Logger("demo", "x", {}), 20)
    assert 15 < ctx.remaining() < 20


def test_logger_tags_like_ocf_log(tmp_path):
    stream = io.StringIO()
    Logger("demo", "rsc:0", {}, stream).info("hello")
    assert "demo(rsc:0)[" in stream.getvalue()
    assert "INFO: hello" in stream.getvalue()
    logfile = tmp_path / "ha.log"
    other = io.StringIO()
    Logger("demo", "rsc", {"HA_LOGFILE": str(logfile)}, other).warning("careful")
    assert "WARNING: careful" in logfile.read_text()
    assert other.getvalue() == ""
    quiet = io.StringIO()
    Logger("demo", "rsc", {}, quiet).debug("hidden")
    assert quiet.getvalue() == ""


def test_log_lines_stay_one_line_and_survive_bytes_that_are_not_utf8(tmp_path):
    """A command's output kept with surrogateescape (a file name with 0xff)
    or a value with a newline must neither fail the write nor forge a line."""
    logfile = tmp_path / "ha.log"
    name = b"voicemail-\xff.wav".decode("utf-8", "surrogateescape")
    Logger("demo", "rsc", {"HA_LOGFILE": str(logfile)}).warning(f"kept {name}\nforged: x")
    (line,) = logfile.read_text().splitlines()
    assert line.endswith("WARNING: kept voicemail-\\udcff.wav\\nforged: x")
