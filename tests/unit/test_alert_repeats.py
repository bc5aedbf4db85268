"""Repeated resource alerts held back (sip_ha.alert.repeats): what the agent
sends per recipient, with the state in a folder of the test's
(repeats.STATE_DIR), and that whatever is wrong with that state, the alert
goes out as before.  The recipient is a unix datagram socket of the test's:
what it receives is what an operator would read."""

from __future__ import annotations

import calendar
import errno
import fcntl
import json
import os
import signal
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sip_ha.alert import agent, repeats, snmp
from sip_ha.alert.event import Event

T0 = calendar.timegm((2026, 12, 1, 0, 41, 7))
FAILED = {"CRM_alert_kind": "resource", "CRM_alert_node": "node1",
          "CRM_alert_rsc": "pbx-asterisk", "CRM_alert_task": "monitor",
          "CRM_alert_interval": "3000", "CRM_alert_rc": "7", "CRM_alert_target_rc": "8",
          "CRM_alert_status": "0", "CRM_alert_desc": "not running"}
LOST = {"CRM_alert_kind": "node", "CRM_alert_node": "node2", "CRM_alert_desc": "lost"}
FENCED = {"CRM_alert_kind": "fencing", "CRM_alert_node": "node2", "CRM_alert_rc": "0",
          "CRM_alert_desc": "Operation reboot of node2 by node1: OK"}


def key_of(event: dict[str, str]) -> str | None:
    alike = repeats.key(Event.from_env(event))
    return alike.text if alike else None


def alike_of(event: dict[str, str]) -> repeats.Alike:
    alike = repeats.key(Event.from_env(event))
    assert alike is not None
    return alike


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o750)
    monkeypatch.setattr(repeats, "STATE_DIR", str(folder))
    return folder


class Receiver:
    """A syslog:unix: recipient: each alert the agent sends is one datagram."""

    def __init__(self, path: Path) -> None:
        self.recipient = f"syslog:unix:{path}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)

    def alert(self, event: dict[str, str], now: float, **settings: str) -> None:
        env = {**event, "CRM_alert_recipient": self.recipient,
               **{f"sipha_{k}": v for k, v in settings.items()}}
        assert agent.run(env, now=now) == 0

    def lines(self) -> list[str]:
        """The messages received since the last call, without their syslog header."""
        got = []
        while True:
            try:
                got.append(self.sock.recv(65536).decode().split(": ", 1)[1])
            except BlockingIOError:
                return got


@pytest.fixture
def receiver(tmp_path: Path, state: Path) -> Iterator[Receiver]:
    r = Receiver(tmp_path / "log")
    yield r
    r.sock.close()


SENTENCE = ("pbx-asterisk monitor (every 3s) FAILED on node1: not running (rc 7 not running, "
            "expected 8 running (promoted))")


def test_first_sent_repeats_held_then_sent_with_the_count(receiver: Receiver):
    receiver.alert(FAILED, T0)
    assert receiver.lines() == [SENTENCE]
    receiver.alert(FAILED, T0 + 5)
    receiver.alert(FAILED, T0 + 10)
    receiver.alert(FAILED, T0 + 599)
    assert receiver.lines() == []
    receiver.alert(FAILED, T0 + 600)
    assert receiver.lines() == [
        f"{SENTENCE}; 3 more like this since 00:41:12 UTC were held back"]
    # The count starts again from the one just sent.
    receiver.alert(FAILED, T0 + 605)
    receiver.alert(FAILED, T0 + 1200)
    assert receiver.lines() == [
        f"{SENTENCE}; 1 more like this since 00:51:12 UTC was held back"]
    receiver.alert(FAILED, T0 + 1800)
    assert receiver.lines() == [SENTENCE]  # nothing held since the last one


def test_the_interval_is_the_setting(receiver: Receiver):
    receiver.alert(FAILED, T0, repeat_interval="2s")
    receiver.alert(FAILED, T0 + 1, repeat_interval="2s")
    receiver.alert(FAILED, T0 + 2, repeat_interval="2s")
    assert receiver.lines() == [
        SENTENCE, f"{SENTENCE}; 1 more like this since 00:41:08 UTC was held back"]


def test_held_since_another_day_says_the_date(receiver: Receiver):
    receiver.alert(FAILED, T0 - 3600, repeat_interval="2h")
    receiver.alert(FAILED, T0 - 3000, repeat_interval="2h")
    receiver.alert(FAILED, T0 + 3600, repeat_interval="2h")
    assert receiver.lines()[1].endswith(
        "; 1 more like this since 2026-11-30 23:51:07 UTC was held back")


def test_different_alerts_are_held_apart(receiver: Receiver, tmp_path: Path):
    other_node = {**FAILED, "CRM_alert_node": "node2"}
    other_rsc = {**FAILED, "CRM_alert_rsc": "proxy-kamailio"}
    other_task = {**FAILED, "CRM_alert_task": "asyncmon", "CRM_alert_interval": "0"}
    other_result = {**FAILED, "CRM_alert_rc": "1", "CRM_alert_desc": "generic error"}
    timed_out = {**FAILED, "CRM_alert_status": "3"}
    deep = {**FAILED, "CRM_alert_interval": "31000"}  # the deep monitor, every 31 s
    events = [FAILED, other_node, other_rsc, other_task, other_result, timed_out, deep]
    for event in events:
        receiver.alert(event, T0)
    assert len(receiver.lines()) == len(events)
    for event in events:
        receiver.alert(event, T0 + 1)
    assert receiver.lines() == []
    # Another recipient has its own count.
    second = Receiver(tmp_path / "log2")
    try:
        second.alert(FAILED, T0 + 2)
        assert second.lines() == [SENTENCE]
    finally:
        second.sock.close()


@pytest.mark.parametrize("event", [LOST, FENCED, {**LOST, "CRM_alert_desc": "member"},
                                   {"CRM_alert_kind": "test", "CRM_alert_node": "node1"}])
def test_node_fencing_and_test_alerts_are_never_held(receiver: Receiver, event, state: Path):
    for second in range(3):
        receiver.alert(event, T0 + second)
    assert len(receiver.lines()) == 3
    assert list(state.iterdir()) == []


PROMOTED = {"CRM_alert_kind": "resource", "CRM_alert_node": "node1",
            "CRM_alert_rsc": "pbx-asterisk", "CRM_alert_task": "promote",
            "CRM_alert_interval": "0", "CRM_alert_rc": "0", "CRM_alert_target_rc": "0",
            "CRM_alert_status": "0", "CRM_alert_desc": "ok"}
ADDRESS_UP = {**PROMOTED, "CRM_alert_rsc": "pbx-ip", "CRM_alert_task": "start"}


@pytest.mark.parametrize("event, settings", [(PROMOTED, {}),
                                             (ADDRESS_UP, {"key_resources": "pbx-ip"})])
def test_where_the_service_runs_is_never_held(receiver: Receiver, event, settings,
                                              state: Path):
    """A planned move and the move back within minutes are both told."""
    for minute in range(3):
        receiver.alert(event, T0 + 60 * minute, min_severity="info", **settings)
    lines = receiver.lines()
    assert len(lines) == 3 and "held back" not in " ".join(lines), lines
    assert list(state.iterdir()) == []


def test_attribute_alerts_are_never_held(receiver: Receiver):
    failing = {"CRM_alert_kind": "attribute", "CRM_alert_node": "node2",
               "CRM_alert_attribute_name": "sipha-pbx-filesync-node1-sync",
               "CRM_alert_attribute_value": "failing"}
    receiver.alert(failing, T0)
    receiver.alert(failing, T0 + 1)
    assert len(receiver.lines()) == 2


def test_zero_sends_every_alert(receiver: Receiver, state: Path):
    for second in range(3):
        receiver.alert(FAILED, T0 + second, repeat_interval="0")
    assert receiver.lines() == [SENTENCE] * 3
    assert list(state.iterdir()) == []


def test_a_missing_folder_sends_every_alert(receiver: Receiver, state: Path):
    state.rmdir()
    for second in range(3):
        receiver.alert(FAILED, T0 + second)
    assert receiver.lines() == [SENTENCE] * 3
    assert not state.exists()


def test_a_folder_it_cannot_write_sends_every_alert(receiver: Receiver,
                                                   monkeypatch: pytest.MonkeyPatch):
    real_open = os.open

    def refused(path: str, flags: int, *args: object, **kwargs: object) -> int:
        if flags & os.O_CREAT:  # as hacluster finds a folder that is not its own
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(repeats.os, "open", refused)
    receiver.alert(FAILED, T0)
    receiver.alert(FAILED, T0 + 1)
    assert receiver.lines() == [SENTENCE] * 2


def test_a_folder_others_may_write_is_not_used(receiver: Receiver, state: Path):
    state.chmod(0o777)
    receiver.alert(FAILED, T0)
    receiver.alert(FAILED, T0 + 1)
    assert receiver.lines() == [SENTENCE] * 2
    assert list(state.iterdir()) == []


def test_a_corrupt_file_sends_and_is_replaced(receiver: Receiver, capsys):
    path = Path(repeats.state_path(receiver.recipient))
    for garbage in (b"\x00{not json", b"[]", b'{"x": [1, 2]}', b'{"x": [1e999, 0, 0, 0]}',
                    b'{"x": [1, -1, 0, 1]}'):
        path.write_bytes(garbage)
        receiver.alert(FAILED, T0)
        assert receiver.lines() == [SENTENCE]
        assert list(json.loads(path.read_text())) == [key_of(FAILED)]
        path.unlink()
    assert capsys.readouterr() == ("", "")


def test_a_symlink_is_not_followed(receiver: Receiver, tmp_path: Path):
    target = tmp_path / "elsewhere"
    target.write_text("precious\n")
    path = Path(repeats.state_path(receiver.recipient))
    path.symlink_to(target)
    receiver.alert(FAILED, T0)
    receiver.alert(FAILED, T0 + 1)
    assert receiver.lines() == [SENTENCE] * 2
    assert target.read_text() == "precious\n"
    assert path.is_symlink()


def test_a_symlinked_folder_is_not_followed(receiver: Receiver, state: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch):
    link = tmp_path / "link"
    link.symlink_to(state)
    monkeypatch.setattr(repeats, "STATE_DIR", str(link))
    receiver.alert(FAILED, T0)
    receiver.alert(FAILED, T0 + 1)
    assert receiver.lines() == [SENTENCE] * 2
    assert list(state.iterdir()) == []


def test_the_file_is_named_by_a_hash_and_private(receiver: Receiver, state: Path):
    receiver.alert(FAILED, T0)
    [path] = state.iterdir()
    assert path.name.endswith(".json") and "log" not in path.name
    assert len(path.stem) == 32 and int(path.stem, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_entries_older_than_a_day_are_dropped(receiver: Receiver):
    other = {**FAILED, "CRM_alert_node": "node2"}
    receiver.alert(other, T0)
    receiver.alert(FAILED, T0 + 86400)
    path = Path(repeats.state_path(receiver.recipient))
    assert list(json.loads(path.read_text())) == [key_of(FAILED)]


def test_an_alert_not_delivered_does_not_hold_back_the_next(state: Path, tmp_path: Path):
    path = tmp_path / "log"
    env = {**FAILED, "CRM_alert_recipient": f"syslog:unix:{path}"}
    assert agent.run(env, now=T0) == 1  # nobody listening yet
    receiver = Receiver(path)
    try:
        receiver.alert(FAILED, T0 + 1)  # sent, and counts the one lost
        assert receiver.lines() == [
            f"{SENTENCE}; 1 more like this since 00:41:07 UTC was held back"]
        receiver.alert(FAILED, T0 + 2)
        receiver.sock.close()
        assert agent.run(env, now=T0 + 700) == 1  # the one with the count is lost
        path.unlink()
        receiver = Receiver(path)
        receiver.alert(FAILED, T0 + 701)
        assert receiver.lines() == [
            f"{SENTENCE}; 2 more like this since 00:41:09 UTC were held back"]
    finally:
        receiver.sock.close()


def test_runs_at_once_send_one(state: Path):
    """Pacemaker runs the agent for each event at once: the flock makes one
    of them the sender and counts the others."""
    start = threading.Barrier(8)
    verdicts = []
    alike = alike_of(FAILED)

    def run() -> None:
        start.wait()
        verdict = repeats.admit("ops@example.org", alike, 600, T0)
        if verdict.send:
            repeats.confirm("ops@example.org", alike, verdict, 600)
        verdicts.append(verdict)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(v.send for v in verdicts) == [False] * 7 + [True]
    later = repeats.admit("ops@example.org", alike, 600, T0 + 600)
    assert later.send and later.held == (repeats.Held(7, T0),)


def test_a_bad_interval_is_one_line_and_every_alert_goes_out(receiver: Receiver, capsys):
    for event in (FAILED, FAILED, LOST):
        receiver.alert(event, T0, repeat_interval="soon")
    assert len(receiver.lines()) == 3
    assert capsys.readouterr().err == 3 * (
        "sip-ha-alert: sipha_repeat_interval='soon': expected a duration such as 10m "
        "(0: send every alert); every alert is sent\n")


def test_mail_says_what_was_held_back():
    event = Event.from_env({**FAILED, "CRM_alert_recipient": "ops@example.org"})
    settings = agent.Settings(cluster="pbx", repeat_interval="10m")
    note = repeats.Held(2, T0).note(T0 + 600)
    assert agent.subject(event, settings, note) == (
        f"[sip-ha pbx] ERR: {SENTENCE}; 2 more like this since 00:41:07 UTC were held back")
    text = agent.body(event, settings, "node1", note)
    assert text.startswith(f"{SENTENCE}; 2 more like this since 00:41:07 UTC were held back\n")
    assert ("Held back:   2 more like this since 00:41:07 UTC were held back. Within 10m "
            "([alerts] repeat_interval) of one sent, the same failure again (same node, "
            "resource, operation and result) is counted instead of sent, and so is the same "
            "success while that resource keeps failing.") in text
    assert "Held back" not in agent.body(event, settings, "node1")


def test_a_trap_says_it_in_its_description(state: Path, monkeypatch: pytest.MonkeyPatch):
    traps = []
    monkeypatch.setattr(snmp, "send_trap", lambda target, community, oid, varbinds, timeout:
                        traps.append(dict(varbinds)[snmp.PCMK_DESCRIPTION_OID]))
    env = {**FAILED, "CRM_alert_recipient": "snmp://nms.example.org"}
    for second in (0, 1, 600):
        assert agent.run(env, now=T0 + second) == 0
    assert traps == ["not running",
                     "not running; 1 more like this since 00:41:08 UTC was held back"]


def test_a_long_description_is_cut_before_the_note():
    note = repeats.Held(12, T0).note(T0)
    text = snmp.description("x" * 300, note)
    assert text.endswith(f"; {note}") and len(text.encode()) == 256
    assert snmp.description("not running", "") == "not running"


def test_state_paths_never_hold_the_recipient():
    path = repeats.state_path("syslog:unix:/../../etc/passwd")
    assert os.path.dirname(path) == repeats.STATE_DIR and "passwd" not in path


def test_the_parameter_file_sets_the_interval():
    import tomllib

    from cib_templates import params, render

    raw = tomllib.loads((Path(params.__file__).parent / "example.toml").read_text())
    raw["alerts"]["repeat_interval"] = "2min"
    cib = render.render(params.parse(raw))
    [value] = cib.xpath("//alert/instance_attributes/nvpair[@name='sipha_repeat_interval']/@value")
    assert value == "2min"
    assert agent.Settings.from_env({"sipha_repeat_interval": value}).repeat_seconds == 120
    del raw["alerts"]["repeat_interval"]
    assert params.parse(raw).alerts.repeat_interval == "10m"
    raw["alerts"]["repeat_interval"] = "often"
    with pytest.raises(params.ParamError, match=r"repeat_interval: 'often' is not a duration "
                                                r"such as 10m \(0: send every alert\)"):
        params.parse(raw)


def test_a_run_killed_while_sending_does_not_count_as_sent(receiver: Receiver,
                                                           monkeypatch: pytest.MonkeyPatch):
    """Pacemaker kills (SIGKILL) an agent at its alert timeout: the alert it
    was sending is lost, so after PENDING the next one like it goes out and
    counts those held back meanwhile."""
    pid = os.fork()
    if pid == 0:  # the killed run
        monkeypatch.setattr(agent, "deliver", lambda *args: os.kill(os.getpid(),
                                                                    signal.SIGKILL))
        receiver.alert(FAILED, T0)
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == signal.SIGKILL
    receiver.alert(FAILED, T0 + 5)  # it may still be sending: held
    assert receiver.lines() == []
    receiver.alert(FAILED, T0 + 61)  # PENDING (60 s) later
    assert receiver.lines() == [
        f"{SENTENCE}; 1 more like this since 00:41:12 UTC was held back"]
    receiver.alert(FAILED, T0 + 62)  # this one was confirmed
    assert receiver.lines() == []


def test_held_failures_are_told_by_the_next_alert_about_the_resource(receiver: Receiver):
    """A crash held back, then only the (always sent) promote elsewhere: the
    promote says what was held back about its resource, and resets it."""
    receiver.alert(FAILED, T0)
    crashed = {**FAILED, "CRM_alert_rc": "1", "CRM_alert_desc": "generic error"}
    receiver.alert(crashed, T0 + 1)
    receiver.alert(FAILED, T0 + 5)
    receiver.alert(crashed, T0 + 6)
    receiver.alert(crashed, T0 + 7)
    other = {**FAILED, "CRM_alert_rsc": "proxy-kamailio"}
    receiver.alert(other, T0 + 8)
    receiver.alert(other, T0 + 9)
    assert len(receiver.lines()) == 3
    moved = {**PROMOTED, "CRM_alert_node": "node2"}
    receiver.alert(moved, T0 + 60, min_severity="info")
    [line] = receiver.lines()
    assert line.endswith("; meanwhile 3 failures of pbx-asterisk since 00:41:12 UTC were "
                         "held back"), line
    receiver.alert(FAILED, T0 + 600)
    receiver.alert(crashed, T0 + 601)
    assert [line.split("; ")[1:] for line in receiver.lines()] == [[], []]


def test_a_service_bouncing_between_failing_nodes_is_held(receiver: Receiver):
    """A server failing on both nodes moves every few seconds: once each
    promote and demote has been told, its repeats are held back too, while
    the resource keeps failing; the next one sent after says how many."""
    def bounce(now: float, failing: str, to: str) -> None:
        receiver.alert({**FAILED, "CRM_alert_node": failing}, now)
        receiver.alert({**PROMOTED, "CRM_alert_node": failing, "CRM_alert_task": "demote"},
                       now + 1, min_severity="info")
        receiver.alert({**PROMOTED, "CRM_alert_node": to}, now + 2, min_severity="info")

    for round_ in range(10):
        bounce(T0 + 6 * round_, *(("node1", "node2") if round_ % 2 == 0
                                  else ("node2", "node1")))
        if round_ == 1:
            assert len(receiver.lines()) == 6  # each told once
    assert receiver.lines() == []
    receiver.alert({**PROMOTED, "CRM_alert_node": "node2"}, T0 + 700, min_severity="info")
    [line] = receiver.lines()
    assert line.endswith("; 4 more like this since 00:41:21 UTC were held back; meanwhile "
                         "20 other alerts about pbx-asterisk (8 failed) since 00:41:19 UTC "
                         "were held back"), line


def test_a_send_that_fails_counts_what_was_held_while_it_was_tried(state: Path):
    alike = alike_of(FAILED)
    first = repeats.admit("ops@example.org", alike, 600, T0)
    assert first.send
    assert not repeats.admit("ops@example.org", alike, 600, T0 + 1).send  # while sending
    repeats.release("ops@example.org", alike, first, T0 + 2, 600)
    again = repeats.admit("ops@example.org", alike, 600, T0 + 3)
    assert again.send and again.held == (repeats.Held(2, T0 + 1),)


def test_a_lock_not_free_in_time_sends(receiver: Receiver, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(repeats, "LOCK_WAIT", 0.05)
    receiver.alert(FAILED, T0)
    fd = os.open(repeats.state_path(receiver.recipient), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a run stuck holding it would
        receiver.alert(FAILED, T0 + 1)
        receiver.alert(FAILED, T0 + 2)
    finally:
        os.close(fd)
    assert receiver.lines() == [SENTENCE] * 3
    receiver.alert(FAILED, T0 + 3)
    assert receiver.lines() == []
