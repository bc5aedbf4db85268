"""The test clusters' fence daemon (vagrant/fence/sipha-fenced.py): its
request handling with a fake power backend, no containers, no sockets."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "vagrant" / "fence" / "sipha-fenced.py"
SECRET = "3f1c9a0be7d24c58a1f0c3d2e9b87a61"


def _load():
    spec = importlib.util.spec_from_file_location("sipha_fenced", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fenced = _load()


class FakeBackend:
    """Machines PREFIX-node1..3, all on; records every power action."""

    def __init__(self) -> None:
        self.state = {f"t-node{n}": "on" for n in (1, 2, 3)}
        self.actions: list[tuple[str, str]] = []

    def machines(self) -> list[str]:
        return sorted(self.state)

    def status(self, name: str) -> str:
        if name not in self.state:
            raise LookupError(f"no container {name}")
        return self.state[name]

    def off(self, name: str) -> None:
        self.status(name)
        self.actions.append(("off", name))
        self.state[name] = "off"

    def on(self, name: str) -> None:
        self.status(name)
        self.actions.append(("on", name))
        self.state[name] = "on"


@pytest.fixture
def fencer(tmp_path: Path):
    made = fenced.Fencer(FakeBackend(), "t", SECRET, str(tmp_path / "fenced.log"))
    yield made
    for timer in list(made.pending.values()):
        timer.cancel()


def log(tmp_path: Path) -> str:
    return (tmp_path / "fenced.log").read_text()


def test_the_right_secret_fences(fencer):
    assert fencer.handle(f"{SECRET} list x\n", "198.51.100.11") == "OK node1,node2,node3"
    assert fencer.handle(f"{SECRET} off node2\n", "198.51.100.11") == "OK off"
    assert fencer.backend.actions == [("off", "t-node2")]
    assert fencer.handle(f"{SECRET} status node2", "198.51.100.11") == "OK off"
    assert fencer.handle(f"{SECRET} off node9", "198.51.100.11") == "ERR no container t-node9"


@pytest.mark.parametrize("secret", ["sipha-fence", "", SECRET[:-1], SECRET + "0", "é" * 4])
def test_any_other_secret_is_denied_and_logged(fencer, tmp_path: Path, secret: str):
    line = f"{secret} off node2" if secret else "off node2 x"
    assert fencer.handle(line, "198.51.100.66") == "ERR authentication failed"
    assert fencer.backend.actions == []
    assert "DENIED" in log(tmp_path) and "from 198.51.100.66 (bad password)" in log(tmp_path)


def test_secrets_are_compared_in_constant_time(fencer, monkeypatch: pytest.MonkeyPatch):
    compared = []

    def compare(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(fenced.hmac, "compare_digest", compare)
    assert fencer.handle("guess off node1", "198.51.100.66") == "ERR authentication failed"
    assert compared == [(b"guess", SECRET.encode())]


def test_an_empty_secret_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="empty secret"):
        fenced.Fencer(FakeBackend(), "t", "", str(tmp_path / "fenced.log"))


def test_the_secret_file_must_be_private_and_not_empty(tmp_path: Path):
    path = tmp_path / "fence.secret"
    path.write_text(f"{SECRET}\n")
    path.chmod(0o600)
    assert fenced.read_secret(str(path)) == SECRET
    path.chmod(0o640)
    with pytest.raises(ValueError, match="open to group or others: chmod 600"):
        fenced.read_secret(str(path))
    path.write_text("\n")
    path.chmod(0o600)
    with pytest.raises(ValueError, match="holds no secret"):
        fenced.read_secret(str(path))


def test_onlater_powers_on_once_and_one_timer_per_plug(fencer, tmp_path: Path):
    fencer.backend.state["t-node2"] = "off"
    assert fencer.handle(f"{SECRET} onlater node2 300", "198.51.100.11") == "OK scheduled"
    first = fencer.pending["node2"]
    # A new onlater replaces the pending one; it does not add a second timer.
    assert fencer.handle(f"{SECRET} onlater node2 0.05", "198.51.100.11") == "OK scheduled"
    assert first.finished.is_set()                 # cancelled
    assert len(fencer.pending) <= 1 and fencer.pending.get("node2") is not first
    deadline = time.monotonic() + 5
    while "ON node2 from 198.51.100.11 -> on" not in log(tmp_path):
        assert time.monotonic() < deadline, log(tmp_path)
        time.sleep(0.01)
    assert fencer.pending == {}
    assert fencer.backend.actions == [("on", "t-node2")]
    assert "ONLATER node2 from 198.51.100.11 in 300.0 s" in log(tmp_path)


def test_pending_onlater_timers_are_capped(fencer, tmp_path: Path):
    for n in range(fenced.MAX_PENDING):
        assert fencer.handle(f"{SECRET} onlater plug{n} 300", "198.51.100.11") == "OK scheduled"
    assert fencer.handle(f"{SECRET} onlater plugX 300", "198.51.100.11") == (
        "ERR too many pending onlater")
    assert len(fencer.pending) == fenced.MAX_PENDING
    assert f"REFUSED onlater plugX from 198.51.100.11 ({fenced.MAX_PENDING} pending)" in (
        log(tmp_path))
    # A plug already pending may still be rescheduled.
    assert fencer.handle(f"{SECRET} onlater plug0 1", "198.51.100.11") == "OK scheduled"


@pytest.mark.parametrize(("seconds", "reply"), [
    ("nan", "ERR onlater needs SECONDS"), ("soon", "ERR onlater needs SECONDS"),
    ("inf", "ERR onlater needs SECONDS"), ("-5", "in 0.0 s"), ("1e9", "in 300.0 s"),
])
def test_onlater_delays_are_bounded(fencer, tmp_path: Path, seconds: str, reply: str):
    answer = fencer.handle(f"{SECRET} onlater node1 {seconds}", "198.51.100.11")
    if reply.startswith("ERR"):
        assert answer == reply
        assert fencer.pending == {}
    else:
        assert answer == "OK scheduled"
        assert f"ONLATER node1 from 198.51.100.11 {reply}" in log(tmp_path)
