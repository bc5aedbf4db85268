"""The Asterisk control-socket client and the AMI client against scripted
servers speaking their protocols (the real ones are in tests/integration)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import threading
import time
from pathlib import Path

import pytest

from ocf_agents import asterisk
from ocf_agents.clients.asterisk_ami import Ami, AmiError
from ocf_agents.clients.asterisk_cli import (
    AsteriskCli,
    AsteriskDown,
    AsteriskError,
    noload_modules,
    parse_database,
    read_directories,
)
from ocf_agents.framework import promotion
from ocf_agents.framework.ocf import Context, OCFCode
from ocf_agents.shared import astdb_carry
from sipha_runtime.log import Logger
from sipha_runtime.run import Completed
from tests.support.fake_asterisk import FakeConsole
from tests.support.fake_runner import FakeRunner, done

REGISTRATIONS = """
 <Registration/ServerURI..............................>  <Auth....................>  <Status.......>
==========================================================================================

 trunk-a/sip:198.51.100.201:5060     trunk-a-auth     Registered        (exp. 50s)
 trunk-b/sip:198.51.100.202:5060                         n/a                         Rejected

Objects found: 2
"""


def test_commands_and_parsing(tmp_path: Path):
    console = FakeConsole(tmp_path, {
        "core show uptime seconds": b"System uptime: 1234\nLast reload: 5\n",
        "core show channels count": b"\xa0  -- verbose line\n3 active channels\n1 active call\n",
        "module show like res_pjsip_outbound_registration":
            b"Module  Description\nres_pjsip_outbound_registration.so  PJSIP  1 Running core\n",
        "pjsip show registrations": REGISTRATIONS.encode(),
        "database show registrar": b"/registrar/contact/100;@abc    : {\"uri\":\"sip:100@x\"}\n"
                                   b"1 results found.\n",
    })
    try:
        cli = AsteriskCli(console.path, 2)
        assert cli.uptime() == 1234
        assert cli.banner == "pbx1/4242/22.0.0"
        assert cli.active_calls() == 1
        assert cli.module_loaded("res_pjsip_outbound_registration.so")
        assert cli.registrations() == {"trunk-a": "Registered", "trunk-b": "Rejected"}
        assert cli.database("registrar") == {"contact/100;@abc": '{"uri":"sip:100@x"}'}
        with pytest.raises(AsteriskError, match="does not know"):
            cli.command("pjsip show nothing")
    finally:
        console.close()


def test_no_socket_is_down_and_silence_is_a_hang(tmp_path: Path):
    with pytest.raises(AsteriskDown):
        AsteriskCli(str(tmp_path / "missing.ctl"), 1).uptime()
    console = FakeConsole(tmp_path, {}, hang=True)
    try:
        started = time.monotonic()
        with pytest.raises(AsteriskError, match=r"did not answer .* within 0\.3s"):
            AsteriskCli(console.path, 0.3).uptime()
        assert time.monotonic() - started < 2
    finally:
        console.close()


def test_configuration_files(tmp_path: Path):
    conf = tmp_path / "asterisk.conf"
    conf.write_text("[directories](!)\nastrundir => /run/pbx ; comment\nastetcdir = /etc/pbx\n"
                    "[options]\nastctl = pbx.ctl\n")
    folders = read_directories(str(conf))
    assert (folders["astrundir"], folders["astetcdir"], folders["astctl"]) == (
        "/run/pbx", "/etc/pbx", "pbx.ctl")
    assert folders["astdbdir"] == "/var/lib/asterisk"
    modules = tmp_path / "modules.conf"
    modules.write_text("[modules]\nautoload=yes\nnoload => res_pjsip_outbound_registration.so\n"
                       ";noload => app_queue.so\nnoload=chan_sip.so\n")
    assert noload_modules(str(modules)) == {"res_pjsip_outbound_registration.so",
                                            "chan_sip.so"}
    assert noload_modules(str(tmp_path / "none.conf")) == set()
    assert parse_database("/DND/101    : YES\n/DNDX/1 : no\n1 results found.\n", "DND") == {
        "101": "YES"}


class FakeManager:
    """Speaks AMI: banner, Challenge, Login (MD5 only), Command (Output: lines),
    DBPut, DBDel, QueueAdd, Logoff."""

    def __init__(self, secret: str = "s3cret") -> None:
        self.secret = secret
        self.challenge = ""
        self.received: list[dict[str, str]] = []
        self.db: dict[tuple[str, str], str] = {}
        self.commands: list[str] = []
        self.queue_adds: list[dict[str, str]] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    self._session(conn)
                except OSError:
                    continue  # the client hung up first

    def _session(self, conn: socket.socket) -> None:
        conn.sendall(b"Asterisk Call Manager/9.0.0\r\n")
        buffer = b""
        while chunk := conn.recv(65536):
            buffer += chunk
            while b"\r\n\r\n" in buffer:
                raw, buffer = buffer.split(b"\r\n\r\n", 1)
                fields = dict(line.split(": ", 1) for line in raw.decode().split("\r\n"))
                self.received.append(fields)
                conn.sendall(self._answer(fields).encode())

    def _answer(self, fields: dict[str, str]) -> str:
        action, action_id = fields["Action"], fields["ActionID"]
        head = f"Response: Success\r\nActionID: {action_id}\r\n"
        if action == "Challenge":
            self.challenge = str(time.monotonic_ns())
            return head + f"Challenge: {self.challenge}\r\n\r\n"
        if action == "Login":
            key = hashlib.md5((self.challenge + self.secret).encode()).hexdigest()
            if not self.challenge or fields.get("AuthType") != "MD5" or fields.get("Key") != key:
                return f"Response: Error\r\nActionID: {action_id}\r\n" \
                       "Message: Authentication failed\r\n\r\n"
            return "Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n" + head + "\r\n"
        if action == "Command":
            command = fields["Command"]
            self.commands.append(command)
            family = command.removeprefix("database show ")
            lines = [f"Output: /{f}/{key} : {value}"
                     for (f, key), value in self.db.items() if f == family]
            return head + "\r\n".join([*lines, "Output: done"]) + "\r\n\r\n"
        if action == "QueueAdd":
            self.queue_adds.append({k: v for k, v in fields.items() if k != "ActionID"})
        if action == "DBPut":
            self.db[fields["Family"], fields["Key"]] = fields["Val"]
        if action == "DBDel":
            self.db.pop((fields["Family"], fields["Key"]), None)
        return head + "\r\n"

    def close(self) -> None:
        # shutdown() wakes the thread blocked in accept(); close() alone would not.
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def test_ami_session():
    manager = FakeManager()
    try:
        with Ami("127.0.0.1", manager.port, "sipha", "s3cret", 2) as ami:
            ami.db_put("DND", "101", "YES")
            assert ami.command("database show DND") == "/DND/101 : YES\ndone"
            assert ami.command("database show CF") == "done"
            ami.db_del("DND", "101")
        assert manager.db == {}
        with pytest.raises(AmiError, match="refused"):
            Ami("127.0.0.1", manager.port, "sipha", "wrong", 2)
        # A challenge login: the secret is never sent, not even as a field.
        logins = [fields for fields in manager.received if fields["Action"] == "Login"]
        assert [fields["AuthType"] for fields in logins] == ["MD5", "MD5"]
        assert not any("Secret" in fields or "s3cret" in str(fields)
                       for fields in manager.received)
        with pytest.raises(AmiError, match="line breaks"), \
                Ami("127.0.0.1", manager.port, "sipha", "s3cret", 2) as ami:
            ami.db_put("DND", "101", "YES\r\nAction: Originate")
    finally:
        manager.close()
    with pytest.raises(AmiError, match="cannot reach"):
        Ami("127.0.0.1", manager.port, "sipha", "s3cret", 1)


def _ctx(tmp_path: Path, runner: object = None, **meta: str) -> Context:
    from ocf_agents.asterisk import AGENT

    env = {"HA_RSCTMP": str(tmp_path), "OCF_RESOURCE_INSTANCE": "pbx:1", "PATH": "/nowhere",
           **{f"OCF_RESKEY_CRM_meta_{k}": v for k, v in meta.items()}}
    return Context(AGENT, "monitor", env, Logger("asterisk", "pbx:1", env), 10,
                   runner=runner)  # type: ignore[arg-type]


LOCATE = ["/usr/sbin/crm_resource", "--locate", "--resource", "pbx", "--output-as", "xml"]


def _located(*nodes: str) -> str:
    return ('<pacemaker-result api-version="2.42" request="crm_resource --locate">\n'
            '  <nodes resource="pbx">\n' + "".join(f"    {node}\n" for node in nodes)
            + '  </nodes>\n  <status code="0" message="OK"/>\n</pacemaker-result>\n')


@pytest.mark.parametrize(("answer", "node"), [
    (done(stdout=_located('<node state="promoted">node2</node>', "<node>node1</node>")),
     "node2"),
    (done(stdout=_located("<node>node1</node>", "<node>node2</node>")), None),  # none promoted
])
def test_the_active_node_is_where_the_cluster_shows_the_promoted_instance(
        tmp_path: Path, answer: object, node: str | None):
    runner = FakeRunner([(LOCATE, answer)])
    assert promotion.promoted_node(_ctx(tmp_path, runner)) == node
    assert runner.finished()


def test_a_cluster_that_cannot_say_where_the_active_runs_is_a_failed_pull(tmp_path: Path):
    """Counted like an unreachable manager (three in a row: degraded), never
    taken for "nowhere promoted", which leaves the snapshot alone."""
    runner = FakeRunner([(LOCATE, done(returncode=102, stderr="Could not connect to the CIB"))])
    with pytest.raises(AmiError, match="cannot ask the cluster where the active server runs: "
                                       "crm_resource --locate: Could not connect to the CIB"):
        astdb_carry.pull(_ctx(tmp_path, runner), ("DND",), 5038, "sipha", "s3cret", 2)


def _import(ctx: Context, local: dict[tuple[str, str], str],
            snapshot: dict[str, object]) -> tuple[str, FakeManager]:
    """What promote does with SNAPSHOT on a node whose astdb holds LOCAL."""
    manager = FakeManager()
    manager.db = dict(local)
    Path(astdb_carry.snapshot_file(ctx)).write_text(json.dumps(snapshot))
    try:
        return astdb_carry.import_snapshot(ctx, "127.0.0.1", manager.port, "sipha", "s3cret",
                                           2, max_age=60), manager
    finally:
        manager.close()


def test_import_makes_families_equal_and_readds_queue_members(tmp_path: Path):
    ctx = _ctx(tmp_path)
    summary, manager = _import(ctx, {("DND", "stale"): "1", ("DND", "same"): "x",
                                     ("CF", "200"): "300"}, {
        "node": "node1", "time": time.time(),
        "families": {"DND": {"same": "x", "new": "YES"},
                     "Queue/PersistentMembers": {
                         "support": "PJSIP/101;2;0;Agent101;PJSIP/101;;0|PJSIP/102;0;1;;;;0"
                                    "|PJSIP/103;1;1;Mary O'Neil \"Desk 3\" penalty 9;"
                                    "Custom:desk3;lunch;0"},
                     "registrar": {"contact/100;@a": json.dumps({"endpoint": "100"}),
                                   "contact/x;@b": json.dumps({"endpoint": "bad name; rm"})}}})
    assert "3 written, 1 removed, 3 queue member(s) added" in summary
    assert manager.db[("DND", "new")] == "YES"
    assert ("DND", "stale") not in manager.db
    assert manager.db[("CF", "200")] == "300"  # a family the snapshot does not carry
    # Each field whole (no CLI command to split or extend), paused ones paused.
    assert manager.queue_adds == [
        {"Action": "QueueAdd", "Queue": "support", "Interface": "PJSIP/101", "Penalty": "2",
         "Paused": "false", "MemberName": "Agent101", "StateInterface": "PJSIP/101"},
        {"Action": "QueueAdd", "Queue": "support", "Interface": "PJSIP/102", "Penalty": "0",
         "Paused": "true", "MemberName": "PJSIP/102", "StateInterface": "PJSIP/102"},
        {"Action": "QueueAdd", "Queue": "support", "Interface": "PJSIP/103", "Penalty": "1",
         "Paused": "true", "MemberName": 'Mary O\'Neil "Desk 3" penalty 9',
         "StateInterface": "Custom:desk3", "Reason": "lunch"}]
    assert not any(command.startswith("queue") for command in manager.commands)
    assert astdb_carry.contact_endpoints(ctx) == ["100"]


class Promoted:
    """A runner for which the cluster shows the promoted instance on NODE."""

    def __init__(self, node: str = "127.0.0.1") -> None:
        self.node = node

    def run(self, argv: list[str], timeout: float | None = None,
            env: object = None) -> Completed:
        assert argv[1:] == LOCATE[1:], argv
        answer = _located(f'<node state="promoted">{self.node}</node>')
        return Completed(argv, 0, answer, "", 0.01)


def _pull_from(manager: FakeManager, ctx: Context) -> None:
    """What a standby's monitor does, with the fake manager as the active node."""
    astdb_carry.pull(ctx, ("DND",), manager.port, "sipha", "s3cret", 2)


def test_the_snapshot_is_root_only_from_its_first_byte(tmp_path: Path):
    manager = FakeManager()
    manager.db = {("DND", "101"): "YES"}
    ctx = _ctx(tmp_path, Promoted(), on_node="node2")
    leftover = Path(f"{astdb_carry.snapshot_file(ctx)}.new")
    leftover.write_text("{}")
    leftover.chmod(0o644)
    old_umask = os.umask(0)
    try:
        _pull_from(manager, ctx)
    finally:
        os.umask(old_umask)
        manager.close()
    snapshot = Path(astdb_carry.snapshot_file(ctx))
    assert stat.S_IMODE(snapshot.stat().st_mode) == 0o600
    assert json.loads(snapshot.read_text())["families"] == {"DND": {"101": "YES"}}
    assert not leftover.exists()


def test_a_stale_snapshot_only_adds_missing_keys(tmp_path: Path):
    """Days old: what changed since (a DND set here) must survive the promote."""
    summary, manager = _import(_ctx(tmp_path), {("DND", "102"): "YES", ("DND", "same"): "newer"}, {
        "node": "node1", "time": time.time() - 3 * 86400,
        "families": {"DND": {"same": "older", "101": "YES"},
                     "Queue/PersistentMembers": {"support": "PJSIP/101;0;0;Agent101;;;0"}}})
    assert "older than astdb_max_age 60s: only missing keys" in summary
    assert "1 written, 0 removed, 1 queue member(s) added" in summary
    assert manager.db == {("DND", "102"): "YES", ("DND", "same"): "newer",
                          ("DND", "101"): "YES"}


def test_repeated_pull_failures_make_the_standby_degraded(tmp_path: Path):
    from ocf_agents.asterisk import PULL_FAILURES, AsteriskConfig, _pull_astdb

    manager = FakeManager()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    ctx = _ctx(tmp_path, Promoted(), on_node="node2")

    def config(port: int) -> AsteriskConfig:
        return AsteriskConfig(sip_uris=("sip:127.0.0.1",), astdb_families=("DND",),
                              ami_port=port, ami_user="sipha", ami_secret="s3cret")

    try:
        down = config(closed.getsockname()[1])
        assert [_pull_astdb(down, ctx) for _ in range(PULL_FAILURES - 1)] == ["", ""]
        reason = _pull_astdb(down, ctx)
        assert reason.startswith("astdb not refreshed from the active server 3 or more times "
                                 "in a row: cannot reach the manager on 127.0.0.1:")
        assert _pull_astdb(down, ctx) == reason  # the same words: published once
        assert _pull_astdb(config(manager.port), ctx) == ""  # one answer: healthy again
        assert _pull_astdb(down, ctx) == ""
    finally:
        closed.close()
        manager.close()


@pytest.fixture
def installed(tmp_path: Path) -> dict[str, str]:
    """An Asterisk as validate sees it, with astdb_families and a root-only secret file."""
    (tmp_path / "asterisk.conf").write_text(
        f"[directories]\nastrundir => {tmp_path}\nastetcdir => {tmp_path}\n")
    (tmp_path / "modules.conf").write_text("noload => res_pjsip_outbound_registration.so\n")
    binary = tmp_path / "asterisk"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    secret = tmp_path / "ami.secret"
    secret.write_text("s3cret\nsecond line\n")
    secret.chmod(0o600)
    return {"HA_RSCTMP": str(tmp_path / "rsc"), "OCF_RESOURCE_INSTANCE": "pbx",
            "OCF_RESKEY_binary": str(binary), "OCF_RESKEY_config": str(tmp_path / "asterisk.conf"),
            "OCF_RESKEY_user": "root", "OCF_RESKEY_group": "root",
            "OCF_RESKEY_astdb_families": "DND", "OCF_RESKEY_ami_user": "sipha",
            "OCF_RESKEY_ami_secret_file": str(secret)}


@pytest.mark.parametrize(("change", "mode", "code", "reason"), [
    ({}, 0o600, OCFCode.SUCCESS, ""),
    ({}, 0o640, OCFCode.ERR_PERM, "ami.secret is accessible by group or others (chmod 600 it)"),
    ({"OCF_RESKEY_ami_secret_file": "/nonexistent/ami.secret"}, 0o600, OCFCode.ERR_INSTALLED,
     "ami_secret_file /nonexistent/ami.secret not found on this node"),
    ({"OCF_RESKEY_ami_secret_file": "ami.secret"}, 0o600, OCFCode.ERR_CONFIGURED,
     "ami_secret_file 'ami.secret' must be an absolute path"),
    ({"OCF_RESKEY_ami_secret": "s3cret"}, 0o600, OCFCode.ERR_CONFIGURED,
     "set ami_secret_file or the deprecated ami_secret, not both"),
    ({"OCF_RESKEY_ami_secret_file": ""}, 0o600, OCFCode.ERR_CONFIGURED,
     "astdb_families needs ami_user and ami_secret_file"),
])
def test_the_ami_secret_file_is_checked_like_a_password_file(
        installed: dict[str, str], change: dict[str, str], mode: int, code: OCFCode,
        reason: str, capsys: pytest.CaptureFixture[str]):
    Path(installed["OCF_RESKEY_ami_secret_file"]).chmod(mode)
    assert asterisk.AGENT.dispatch("validate-all", {**installed, **change}) == code
    assert reason in capsys.readouterr().err


def test_a_clone_still_configured_with_notify_is_not_failed(installed: dict[str, str]):
    """A CIB from before the clone lost notify=true: a failed notification
    would block the move (crm_simulate shows the demote never runs)."""
    env = {**installed, "OCF_RESKEY_CRM_meta_notify_type": "pre",
           "OCF_RESKEY_CRM_meta_notify_operation": "demote"}
    assert asterisk.AGENT.dispatch("notify", env) == OCFCode.SUCCESS
    assert 'action name="notify"' not in asterisk.AGENT.metadata()  # not offered to pcs


def test_the_deprecated_ami_secret_still_works_with_a_warning(
        installed: dict[str, str], capsys: pytest.CaptureFixture[str]):
    env = {**installed, "OCF_RESKEY_ami_secret_file": "", "OCF_RESKEY_ami_secret": "s3cret"}
    assert asterisk.AGENT.dispatch("validate-all", env) == OCFCode.SUCCESS
    assert "WARNING: ami_secret is deprecated" in capsys.readouterr().err


def test_the_manager_login_uses_the_first_line_of_the_secret_file(
        installed: dict[str, str], tmp_path: Path):
    manager = FakeManager(secret="s3cret")
    manager.db = {("DND", "101"): "YES"}
    env = {**installed, "OCF_RESKEY_ami_port": str(manager.port),
           "OCF_RESKEY_CRM_meta_on_node": "node2"}
    cfg = asterisk.AsteriskConfig.from_env(env)
    ctx = Context(asterisk.AGENT, "monitor", env, Logger("asterisk", "pbx", {}), 10,
                  runner=Promoted())  # type: ignore[arg-type]
    os.makedirs(ctx.state_dir)
    try:
        assert asterisk._pull_astdb(cfg, ctx) == ""
    finally:
        manager.close()
    assert json.loads(Path(astdb_carry.snapshot_file(ctx)).read_text())["families"] == {
        "DND": {"101": "YES"}}
    Path(env["OCF_RESKEY_ami_secret_file"]).unlink()  # now every pull fails, and counts
    assert [asterisk._pull_astdb(cfg, ctx) for _ in range(3)][2].endswith(
        "3 or more times in a row: ami_secret_file " + env["OCF_RESKEY_ami_secret_file"]
        + ": No such file or directory")
