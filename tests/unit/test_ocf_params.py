"""Parameter declarations: one table gives values, validation and errors."""

from __future__ import annotations

import pytest

from ocf_agents.framework.ocf import Config, Duration, NotConfiguredError, OCFCode, param


class Sample(Config):
    name: str = param("asterisk", shortdesc="Name")
    count: int = param(3, shortdesc="Count")
    enabled: bool = param(False, shortdesc="On or off")
    wait: Duration = param(Duration(2), shortdesc="Wait")
    uris: tuple[str, ...] = param(("sip:a",), shortdesc="URIs")
    mode: str = param("fast", shortdesc="Mode", choices=("fast", "safe"))
    target: str = param(shortdesc="Required target")


def env(**values: str) -> dict[str, str]:
    return {f"OCF_RESKEY_{k}": v for k, v in values.items()}


def test_defaults_and_types():
    cfg = Sample.from_env(env(target="x"))
    assert (cfg.name, cfg.count, cfg.enabled, cfg.wait, cfg.uris, cfg.mode) == (
        "asterisk", 3, False, 2.0, ("sip:a",), "fast")
    assert cfg.target == "x"


def test_values_are_converted():
    cfg = Sample.from_env(env(target="t", count="12", enabled="yes", wait="500ms",
                              uris="sip:a sip:b  sips:c", mode="safe"))
    assert cfg.count == 12
    assert cfg.enabled is True
    assert cfg.wait == pytest.approx(0.5)
    assert cfg.uris == ("sip:a", "sip:b", "sips:c")
    assert cfg.mode == "safe"


def test_empty_value_means_default():
    assert Sample.from_env(env(target="t", count="")).count == 3


@pytest.mark.parametrize(("text", "seconds"), [
    ("2", 2.0), ("2s", 2.0), ("1.5s", 1.5), ("250ms", 0.25), ("1min", 60.0), ("2m", 120.0),
    (" 3 sec ", 3.0), ("1h", 3600.0)])
def test_durations(text: str, seconds: float):
    assert Duration.parse(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "-1", "1x", "nan", "inf"])
def test_bad_durations(text: str):
    with pytest.raises(ValueError):
        Duration.parse(text)


@pytest.mark.parametrize(("values", "words"), [
    ({"count": "many"}, "count='many' is not a whole number"),
    ({"enabled": "maybe"}, "enabled='maybe' is not yes or no"),
    ({"wait": "later"}, "wait='later' is not a duration"),
    ({"mode": "turbo"}, "mode='turbo' is not one of fast, safe"),
])
def test_bad_values_are_not_configured(values: dict[str, str], words: str):
    with pytest.raises(NotConfiguredError) as caught:
        Sample.from_env(env(target="t", **values))
    assert caught.value.exit_code == OCFCode.ERR_CONFIGURED
    assert words in caught.value.reason


def test_missing_required_parameter():
    with pytest.raises(NotConfiguredError, match="target is required"):
        Sample.from_env({})


def test_lenient_reading_falls_back_to_defaults():
    cfg = Sample.from_env(env(target="t", count="many"), lenient=True)
    assert cfg.count == 3


def test_config_is_frozen():
    cfg = Sample.from_env(env(target="t"))
    with pytest.raises(AttributeError):
        cfg.count = 4  # type: ignore[misc]


def test_unsupported_annotation_is_refused():
    with pytest.raises(TypeError, match="unsupported type"):
        class Broken(Config):
            ratio: float = param(1.0, shortdesc="Ratio")


def _even(value: int) -> None:
    if value % 2:
        raise ValueError(f"{value} is odd")


class Checked(Config):
    pairs: int = param(2, shortdesc="Pairs", check=_even)


def test_a_check_turns_its_value_error_into_not_configured():
    assert Checked.from_env(env(pairs="4")).pairs == 4
    with pytest.raises(NotConfiguredError) as caught:
        Checked.from_env(env(pairs="3"))
    assert caught.value.reason == "parameter pairs: 3 is odd"
    assert Checked.from_env(env(pairs="3"), lenient=True).pairs == 2
