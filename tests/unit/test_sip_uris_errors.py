"""A sip_uris (or sip_accept) value the SIP check cannot use is a
configuration error where the parameters are read: validate-all, monitor
and start of both SIP agents exit 6 with the same one line, naming the
parameter and the bad value, never "internal error ... ValueError"."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocf_agents import asterisk, sipserver
from ocf_agents.framework.ocf import Agent, OCFCode

AGENTS = {"sipserver": sipserver.AGENT, "asterisk": asterisk.AGENT}

BAD = [
    ("sip_uris", "http://127.0.0.1", "'http://127.0.0.1' is not a sip: or sips: URI"),
    ("sip_uris", "sip:127.0.0.1 sip:127.0.0.1;transport=carrier-pigeon",
     "'sip:127.0.0.1;transport=carrier-pigeon': transport 'carrier-pigeon' is not "
     "udp, tcp or tls"),
    ("sip_uris", "sip:127.0.0.1:99999", "'sip:127.0.0.1:99999': port '99999' is not 1-65535"),
    ("sip_uris", "sip:[2001:db8::1", "'sip:[2001:db8::1': expected [IPv6 address]"),
    ("sip_uris", "sips:", "'sips:' has no host"),
    ("sip_uris", "sip:h\u00e9te", "'sip:h\u00e9te': 'h\u00e9te' is not a host name or address"),
    ("sip_accept", "2xx 7xx", "'7xx' is not a status code or class like 2xx"),
]


def reasons(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("ocf-exit-reason:")]


@pytest.mark.parametrize("agent", sorted(AGENTS))
@pytest.mark.parametrize(("name", "value", "words"), BAD)
def test_every_action_says_the_same_line_with_exit_code_6(
        agent: str, name: str, value: str, words: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]):
    env = {"OCF_RESOURCE_INSTANCE": "sip", "HA_RSCTMP": str(tmp_path),
           f"OCF_RESKEY_{name}": value}
    seen = set()
    for action in ("validate-all", "monitor", "start"):
        assert AGENTS[agent].dispatch(action, env) == OCFCode.ERR_CONFIGURED, action
        err = capsys.readouterr().err
        assert "internal error" not in err
        lines = reasons(err)
        assert len(lines) == 1, err
        seen.add(lines[0])
    line = seen.pop()
    assert not seen, "the actions disagree"
    assert line.startswith(f"ocf-exit-reason:parameter {name}: ")
    assert words in line


@pytest.mark.parametrize("agent", sorted(AGENTS))
def test_the_interactive_surface_says_it_too(agent: str, capsys: pytest.CaptureFixture[str]):
    agent_: Agent = AGENTS[agent]
    code = agent_.run(["--sip-uris", "sip:127.0.0.1:0", "validate-all"], {})
    assert code == OCFCode.ERR_CONFIGURED
    assert reasons(capsys.readouterr().err) == [
        "ocf-exit-reason:parameter sip_uris: 'sip:127.0.0.1:0': port '0' is not 1-65535"]


@pytest.mark.parametrize("agent", sorted(AGENTS))
def test_good_uris_pass_the_parameter_check(agent: str):
    cfg = AGENTS[agent].config.from_env({
        "OCF_RESKEY_sip_uris": "sip:127.0.0.1 sip:[::1]:5070;transport=tcp sips:pbx.example",
        "OCF_RESKEY_sip_accept": "200 4xx"})
    assert cfg.sip_uris == ("sip:127.0.0.1", "sip:[::1]:5070;transport=tcp",  # type: ignore[attr-defined]
                            "sips:pbx.example")


@pytest.mark.parametrize("agent", sorted(AGENTS))
def test_spaces_alone_turn_the_check_off_and_empty_is_the_default(agent: str):
    config = AGENTS[agent].config
    assert config.from_env({"OCF_RESKEY_sip_uris": "  "}).sip_uris == ()  # type: ignore[attr-defined]
    assert config.from_env({"OCF_RESKEY_sip_uris": ""}).sip_uris == (  # type: ignore[attr-defined]
        "sip:127.0.0.1",)
