"""sip-ha cib render/diff/apply, logs and copy-config: exact commands, what
is kept of a live CIB, what is refused."""

from __future__ import annotations

import shlex
import subprocess
import time
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from cib_templates import params
from sip_ha import cib, copy_config, history, tools
from sip_ha.cli import cli
from sip_ha.errors import Refused
from sipha_runtime.run import Runner
from tests.support.fake_runner import ANY, FakeRunner, done

EXAMPLE = str(Path(params.__file__).parent / "example.toml")
GOLDEN = Path(__file__).parent / "golden"
QUERY = [tools.CIBADMIN, "--query"]
VERIFY = [tools.CRM_VERIFY, "--xml-file", ANY, "-V"]
REPLACE = [tools.CIBADMIN, "--replace", "--scope", "configuration", "--xml-file", ANY]

# A cluster as 'pcs cluster setup' leaves it, plus an older hand-made resource
# with an operator's ban on it.
LIVE = """<cib validate-with="pacemaker-3.9" epoch="7" num_updates="3" admin_epoch="0"
 crm_feature_set="3.16.2" have-quorum="1" dc-uuid="1">
 <configuration>
  <crm_config>
   <cluster_property_set id="cib-bootstrap-options">
    <nvpair id="cib-bootstrap-options-dc-version" name="dc-version" value="2.1.5"/>
    <nvpair id="cib-bootstrap-options-cluster-infrastructure" name="cluster-infrastructure"
            value="corosync"/>
    <nvpair id="cib-bootstrap-options-cluster-name" name="cluster-name" value="pbx"/>
   </cluster_property_set>
  </crm_config>
  <nodes><node id="101" uname="node1"/><node id="102" uname="node2"/></nodes>
  <resources>
   <primitive id="old-ip" class="ocf" provider="heartbeat" type="IPaddr2">
    <instance_attributes id="old-ip-params">
     <nvpair id="old-ip-params-ip" name="ip" value="198.51.100.99"/>
    </instance_attributes>
   </primitive>
  </resources>
  <constraints>
   <rsc_location id="cli-ban-old-ip-on-node1" rsc="old-ip" node="node1" score="-INFINITY"/>
  </constraints>
  <rsc_defaults>
   <meta_attributes id="build-resource-defaults">
    <nvpair id="build-resource-stickiness" name="resource-stickiness" value="1"/>
   </meta_attributes>
  </rsc_defaults>
 </configuration>
 <status/>
</cib>"""


def real(argv):
    """Run the real tool (crm_verify on this host)."""
    return Runner(time.monotonic() + 60).run(argv)


class Pushed:
    """Reads the configuration cibadmin --replace is given (a temporary file)."""

    def __init__(self) -> None:
        self.config: etree._Element | None = None

    def __call__(self, argv):
        self.config = etree.parse(argv[-1]).getroot()
        return done()


@pytest.mark.pacemaker_tools
def test_apply_refuses_to_drop_what_the_parameter_file_does_not_describe():
    fake = FakeRunner([(QUERY, done(LIVE)), (VERIFY, real)])
    with pytest.raises(Refused, match="the cluster has resource old-ip that the parameter "
                                      "file does not describe"):
        cib.apply(fake, params.load(EXAMPLE))
    assert fake.finished()


@pytest.mark.pacemaker_tools
def test_apply_with_prune_replaces_what_sip_ha_owns_and_keeps_the_rest():
    pushed = Pushed()
    fake = FakeRunner([(QUERY, done(LIVE)), (VERIFY, real), (REPLACE, pushed)])
    planned = cib.apply(fake, params.load(EXAMPLE), prune=True)
    changes = cib.diff(planned.live, planned.new)
    assert fake.finished()
    assert planned.warnings == []
    config = pushed.config
    assert config.tag == "configuration"
    assert [s.get("id") for s in config.iterfind("crm_config/cluster_property_set")] == [
        "cib-bootstrap-options", "sipha-options"]
    assert [n.get("id") for n in config.iterfind("nodes/node")] == ["101", "102"]
    assert [r.get("id") for r in config.find("resources")][:2] == ["pbx-asterisk-clone",
                                                                    "pbx-ip"]
    assert config.find("resources/primitive[@id='old-ip']") is None
    assert config.find("constraints/rsc_location[@id='cli-ban-old-ip-on-node1']") is None
    assert [m.get("id") for m in config.find("rsc_defaults")] == ["sipha-rsc-defaults"]
    diff_lines = [line.strip() for line in changes.splitlines()]
    assert any(line.startswith("-") and '<primitive id="old-ip"' in line
               for line in diff_lines)
    assert any(line.startswith("+") and '<clone id="pbx-asterisk-clone">' in line
               for line in diff_lines)


@pytest.mark.pacemaker_tools
def test_apply_keeps_an_operators_move_and_does_nothing_when_up_to_date():
    p = params.load(EXAMPLE)
    live = etree.fromstring(LIVE.encode())
    live = cib.merged(live, cib.render(p, "pacemaker-3.9").getroot())
    etree.SubElement(live.find("configuration/constraints"), "rsc_location",
                     id="cli-prefer-pbx-asterisk-clone", rsc="pbx-asterisk-clone",
                     role="Promoted", node="node2", score="INFINITY")
    fake = FakeRunner([(QUERY, done(etree.tostring(live).decode())), (VERIFY, real)])
    planned = cib.apply(fake, p)
    assert cib.diff(planned.live, planned.new) == ""
    assert fake.finished()          # no cibadmin --replace


# What Pacemaker 3.0's crm_verify prints (exit 78 both times) for an option
# pcs set under its old name, and for a real error.
DEPRECATED = ("warning: Support for legacy name 'stonith-enabled' for cluster option "
              "'fencing-enabled' is deprecated and will be removed in a future release\n"
              "Configuration may need attention\n")
DUPLICATE = ("error: Operation pbx-asterisk-monitor-unpromoted is duplicate of "
             "pbx-asterisk-monitor-promoted\nConfiguration invalid\n")


@pytest.mark.pacemaker_tools
def test_crm_verify_warnings_do_not_block_but_errors_do(monkeypatch: pytest.MonkeyPatch):
    fake = FakeRunner([(QUERY, done(LIVE)), (VERIFY, done(returncode=78, stderr=DEPRECATED)),
                       (QUERY, done(LIVE)), (VERIFY, done(returncode=78, stderr=DUPLICATE))])
    monkeypatch.setattr(tools, "runner", lambda seconds: fake)
    result = CliRunner().invoke(cli, ["cib", "diff", "--params", EXAMPLE])
    assert result.exit_code == 0, result.output
    assert ("crm_verify warning: warning: Support for legacy name 'stonith-enabled'"
            in result.stderr)
    assert "may need attention" not in result.stderr
    result = CliRunner().invoke(cli, ["cib", "diff", "--params", EXAMPLE])
    assert result.exit_code == 1
    assert result.stderr == ("sip-ha: crm_verify rejects the rendered configuration: error: "
                             "Operation pbx-asterisk-monitor-unpromoted is duplicate of "
                             "pbx-asterisk-monitor-promoted; Configuration invalid\n")
    assert fake.finished()


@pytest.mark.pacemaker_tools
def test_diff_command(monkeypatch: pytest.MonkeyPatch):
    fake = FakeRunner([(QUERY, done(LIVE)), (VERIFY, real)])
    monkeypatch.setattr(tools, "runner", lambda seconds: fake)
    result = CliRunner().invoke(cli, ["cib", "diff", "--params", EXAMPLE])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("--- live configuration\n+++ SIP-HA configuration\n")
    assert "not in the parameter file (apply needs --prune): resource old-ip" in result.output


@pytest.mark.pacemaker_tools
def test_apply_command_refusal_exit_code(monkeypatch: pytest.MonkeyPatch):
    fake = FakeRunner([(QUERY, done(LIVE)), (VERIFY, real)])
    monkeypatch.setattr(tools, "runner", lambda seconds: fake)
    result = CliRunner().invoke(cli, ["cib", "apply", "--params", EXAMPLE])
    assert result.exit_code == 3
    assert "pass --prune to delete them" in result.output


@pytest.mark.pacemaker_tools
def test_render_command_matches_golden_files():
    args = ["cib", "render", "--params", EXAMPLE, "--schema", "pacemaker-3.9"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.output == (GOLDEN / "cib-example.xml").read_text()
    result = CliRunner().invoke(cli, [*args, "--pcs"])
    assert result.output == (GOLDEN / "cib-example.pcs").read_text()


@pytest.mark.pacemaker_tools
def test_render_command_errors(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[cluster]\nnodes = ['node1']\n")
    result = CliRunner().invoke(cli, ["cib", "render", "--params", str(bad)])
    assert result.exit_code == 2
    assert "[cluster] nodes: list at least two nodes" in result.output
    result = CliRunner().invoke(cli, ["cib", "render", "--params", EXAMPLE,
                                      "--schema-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no pacemaker-X.Y.rng in" in result.output


EXAMPLE_TEXT = Path(EXAMPLE).read_text()


@pytest.mark.parametrize("content", [
    b"\xff\xfe[cluster]\n",
    b"a = " + b"[" * 3000 + b"]" * 3000 + b"\n",
    EXAMPLE_TEXT.replace('sip_uris = "sip:127.0.0.1"', 'sip_uris = "sip:\\u0000"').encode(),
    EXAMPLE_TEXT.replace('sip_uris = "sip:127.0.0.1"', 'sip_uris = "\\u0001"').encode(),
    EXAMPLE_TEXT.replace('"node2"', '"-node2"').encode(),
    EXAMPLE_TEXT.replace('ip = ["198.51.100.100/24"]', 'ip = ["`reboot`"]').encode(),
    EXAMPLE_TEXT.replace("stickiness = 200", "stickiness = 10000000000000000000").encode(),
    EXAMPLE_TEXT.replace("migration_threshold = 1", "migration_threshold = -5").encode(),
], ids=["not-utf8", "deep", "nul", "control", "dash-node", "shell-ip", "score", "threshold"])
@pytest.mark.pacemaker_tools
def test_bad_parameter_files_are_one_line_and_exit_2(tmp_path: Path, content: bytes):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(content)
    bad.chmod(0o600)
    result = CliRunner().invoke(cli, ["cib", "render", "--no-verify", "--params", str(bad)])
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"sip-ha: {bad}")
    assert result.stderr.count("\n") == 1, result.stderr


def test_example_command_prints_the_documented_file():
    result = CliRunner().invoke(cli, ["cib", "example"])
    assert result.output == Path(EXAMPLE).read_text()


def test_logs_merge_all_nodes_in_time_order():
    argv = history.journal_argv("-1d")
    node1 = ("2026-11-25T10:00:05.000000+0000 node1 pacemaker-controld[9]: notice: Result of "
             "demote operation for pbx-asterisk on node1: ok\n"
             "2026-11-25T10:00:01.000000+0000 node1 pacemaker-controld[9]: notice: Result of "
             "stop operation for other-thing on node1: ok\n")
    node2 = ("2026-11-25T10:00:06.000000+0000 node2 pacemaker-controld[7]: notice: Result of "
             "promote operation for pbx-asterisk on node2: ok\n"
             "2026-11-25T09:59:00.000000+0000 node2 sip-ha[5]: SIP-HA: failover pbx: x\n")
    fake = FakeRunner([(argv, done(node1)),
                       (tools.on_node("node2", argv), done(node2))])
    lines, missing = history.collect(fake, params.load(EXAMPLE), "-1d", local="node1")
    assert missing == []
    assert [line.split(" ", 2)[:2] for line in lines] == [
        ["2026-11-25T09:59:00.000000+0000", "node2"],
        ["2026-11-25T10:00:05.000000+0000", "node1"],
        ["2026-11-25T10:00:06.000000+0000", "node2"]]
    assert lines[2].endswith("Result of promote operation for pbx-asterisk on node2: ok")


def test_logs_report_unreachable_nodes():
    argv = history.journal_argv("-7d")
    fake = FakeRunner([(argv, done(returncode=1)),
                       (tools.on_node("node2", argv),
                        done(returncode=255, stderr="ssh: connect to host node2: refused\n"))])
    assert history.collect(fake, params.load(EXAMPLE), local="node1") == (
        [], ["node2 (ssh: connect to host node2: refused)"])


def test_remote_commands_are_quoted_for_the_remote_shell():
    argv = history.journal_argv("-1h")
    remote = tools.on_node("node2", argv)
    assert remote[:-1] == [tools.SSH, *tools.SSH_OPTIONS, "root@node2"]
    assert shlex.split(remote[-1]) == argv


STRICT = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "StrictHostKeyChecking=yes"]


def test_copy_config_and_logs_check_host_keys_as_the_sync_does():
    """The same options from the same place: only a known host key, and no
    prompt (an unknown or changed key is a failure, never a question)."""
    from sync_helper.config import Peer, SshSettings
    from sync_helper.rsync_argv import ssh_command

    assert tools.on_node("node2", ["true"]) == [tools.SSH, *STRICT, "root@node2", "true"]
    argv = copy_config.rsync_argv(["/etc/sip-ha/cluster.toml"], ".b~", "root@node2:/")
    assert argv[argv.index("-e") + 1] == shlex.join([tools.SSH, *STRICT])
    sync = ssh_command(SshSettings(connect_timeout=5), Peer("node2", "node2"))
    assert sync == [tools.SSH, *STRICT, "-p", "22"]


def test_no_ssh_config_loosens_the_host_key_check_of_copy_config_or_logs(tmp_path: Path):
    """Real ssh, asked what it would do (-G: no connection, no name lookup):
    a configuration saying StrictHostKeyChecking no does not win."""
    loose = tmp_path / "ssh_config"
    loose.write_text("Host *\n    StrictHostKeyChecking no\n    BatchMode no\n")
    logs = tools.on_node("192.0.2.10", ["journalctl"])
    rsync = copy_config.rsync_argv(["/etc/sip-ha/cluster.toml"], ".b~", "root@192.0.2.10:/")
    for ssh in (logs[:-1], [*shlex.split(rsync[rsync.index("-e") + 1]), "root@192.0.2.10"]):
        said = subprocess.run([ssh[0], "-G", "-F", str(loose), *ssh[1:]], capture_output=True,
                              text=True, check=True, timeout=10).stdout.splitlines()
        assert {"stricthostkeychecking true", "batchmode yes"} <= set(said)


def test_copy_config(tmp_path: Path):
    (tmp_path / "agents").mkdir()
    for name in ("cluster.toml", "agents/asterisk.conf", "cluster.toml.sip-ha-20260101T000000~"):
        (tmp_path / name).write_text("x")
    paths = copy_config.files(str(tmp_path))
    # Backups of earlier copies are not copied on.
    assert paths == [str(tmp_path / "agents/asterisk.conf"), str(tmp_path / "cluster.toml")]
    suffix = ".sip-ha-20261125T101500~"
    itemized = (f"<f+++++++++ {str(tmp_path)[1:]}/agents/asterisk.conf\n"
                f"<fcst...... {str(tmp_path)[1:]}/cluster.toml\n")
    fake = FakeRunner([
        (copy_config.rsync_argv(paths, suffix, "root@node2:/"), done(itemized)),
        (copy_config.rsync_argv(paths, suffix, "root@node3:/"),
         done(returncode=255, stderr="Permission denied (publickey).\n"))])
    copied, failed = copy_config.copy_to(fake, ("node1", "node2", "node3"), paths,
                                         local="node1", suffix=suffix)
    assert copied == [copy_config.Copied("node2", (paths[0],), (paths[1],), suffix)]
    assert failed == ["node3: Permission denied (publickey)."]
    assert fake.finished()
    argv = copy_config.rsync_argv(paths, suffix, "root@node2:/")
    assert {"--checksum", "--backup", f"--suffix={suffix}", "--relative"} <= set(argv)
    assert argv[-1] == "root@node2:/"


def test_copy_config_keeps_what_it_replaces_with_real_rsync(tmp_path: Path):
    """rsync itself (local destination instead of ssh): a differing file is
    replaced and the old one kept, the same file is left alone."""
    source, dest = tmp_path / "src", tmp_path / "dest"
    for folder in (source, dest / str(source)[1:]):
        folder.mkdir(parents=True)
    (source / "cluster.toml").write_text("new\n")
    (source / "same.conf").write_text("same\n")
    (dest / str(source)[1:] / "cluster.toml").write_text("old\n")
    (dest / str(source)[1:] / "same.conf").write_text("same\n")
    paths = copy_config.files(str(source))
    argv = copy_config.rsync_argv(paths, ".sip-ha-x~", str(dest))
    result = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert copy_config._changes(result.stdout) == ((), (str(source / "cluster.toml"),))
    kept = dest / str(source)[1:]
    assert (kept / "cluster.toml").read_text() == "new\n"
    assert (kept / "cluster.toml.sip-ha-x~").read_text() == "old\n"
    assert not (kept / "same.conf.sip-ha-x~").exists()


def test_copy_config_runs_in_the_same_second_keep_every_backup(tmp_path: Path):
    """Each run names its backups apart: a second run within the same second
    must not overwrite the first run's backup (real rsync, local destination)."""
    source, dest = tmp_path / "src", tmp_path / "dest"
    kept = dest / str(source)[1:]
    for folder in (source, kept):
        folder.mkdir(parents=True)
    (kept / "cluster.toml").write_text("first\n")
    now = time.time()
    suffixes = []
    for text in ("second\n", "third\n"):
        (source / "cluster.toml").write_text(text)
        suffixes.append(copy_config.backup_suffix(now))
        argv = copy_config.rsync_argv(copy_config.files(str(source)), suffixes[-1], str(dest))
        subprocess.run(argv, capture_output=True, text=True, check=True)
    assert suffixes[0] != suffixes[1]
    assert all(copy_config._is_backup(f"cluster.toml{suffix}") for suffix in suffixes)
    assert [(kept / f"cluster.toml{suffix}").read_text() for suffix in suffixes] == [
        "first\n", "second\n"]
    assert (kept / "cluster.toml").read_text() == "third\n"


def test_copy_config_sends_files_holding_secrets_apart():
    paths = ["/etc/sip-ha/agents/asterisk.conf", "/etc/sip-ha/cluster.toml"]
    private = frozenset({paths[1]})
    suffix = ".sip-ha-x~"
    itemized = ("<f+++++++++ etc/sip-ha/agents/asterisk.conf\n",
                "<fcst...... etc/sip-ha/cluster.toml\n")
    fake = FakeRunner([
        (copy_config.rsync_argv(paths[:1], suffix, "root@node2:/"), done(itemized[0])),
        (copy_config.rsync_argv(paths[1:], suffix, "root@node2:/", private=True),
         done(itemized[1])),
        (copy_config.rsync_argv(paths[:1], suffix, "root@node3:/"), done()),
        (copy_config.rsync_argv(paths[1:], suffix, "root@node3:/", private=True),
         done(returncode=23, stderr="rsync: chmod failed\n"))])
    copied, failed = copy_config.copy_to(fake, ("node1", "node2", "node3"), paths,
                                         local="node1", suffix=suffix, private=private)
    assert copied == [copy_config.Copied("node2", (paths[0],), (paths[1],), suffix)]
    assert failed == ["node3: rsync: chmod failed"]
    assert fake.finished()


def test_private_files_arrive_root_only_with_real_rsync(tmp_path: Path):
    """Also over an older 0644 copy; the folders above keep their modes (the
    chmod is for files: --relative also sends /etc and the rest above)."""
    source, dest = tmp_path / "src", tmp_path / "dest"
    kept = dest / str(source)[1:]
    for folder in (source, kept):
        folder.mkdir(parents=True)
    (source / "cluster.toml").write_text("password = 'x'\n")
    (kept / "cluster.toml").write_text("old\n")
    for path in (source / "cluster.toml", kept / "cluster.toml"):
        path.chmod(0o644)
    source.chmod(0o755)
    argv = copy_config.rsync_argv([str(source / "cluster.toml")], ".b~", str(dest), True)
    subprocess.run(argv, capture_output=True, text=True, check=True)
    assert (kept / "cluster.toml").read_text() == "password = 'x'\n"
    assert (kept / "cluster.toml").stat().st_mode & 0o777 == 0o600
    for folder in (source, source.parent, Path("/", source.parts[1])):
        assert (dest / str(folder)[1:]).stat().st_mode == folder.stat().st_mode


def test_copy_config_command_sends_a_parameter_file_with_secrets_apart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with_secret = tmp_path / "cluster.toml"
    with_secret.write_text(Path(EXAMPLE).read_text().replace(
        'lanplus = true\n', 'lanplus = true\npasswd = "x"\n', 1))
    with_secret.chmod(0o600)
    files = ["/etc/sip-ha/sync.toml"]
    monkeypatch.setattr(copy_config, "files", lambda: list(files))
    monkeypatch.setattr(copy_config, "backup_suffix", lambda: ".b~")
    monkeypatch.setattr(copy_config.socket, "gethostname", lambda: "admin-laptop")
    steps = []
    for node in ("node1", "node2"):
        steps += [(copy_config.rsync_argv(files, ".b~", f"root@{node}:/"), done()),
                  (copy_config.rsync_argv([str(with_secret)], ".b~", f"root@{node}:/",
                                          private=True), done())]
    fake = FakeRunner(steps)
    monkeypatch.setattr(tools, "runner", lambda seconds: fake)
    result = CliRunner().invoke(cli, ["copy-config", "--params", str(with_secret)])
    assert result.exit_code == 0, result.output
    assert fake.finished()
    with_secret.chmod(0o644)
    result = CliRunner().invoke(cli, ["copy-config", "--params", str(with_secret)])
    assert result.exit_code == 2
    assert result.stderr == (f"sip-ha: {with_secret} holds secrets ([[fencing]] fence-node1 "
                             "options passwd) and its mode 0644 lets group or others at "
                             f"them: chmod 600 {with_secret} (or point at them: "
                             "password_script, a *_file option, cibsecret; see README, "
                             "Security)\n")


@pytest.mark.pacemaker_tools
def test_the_example_as_cib_example_writes_it_loads(tmp_path: Path):
    """sip-ha cib example > FILE under umask 022: the example holds no secret."""
    path = tmp_path / "cluster.toml"
    path.write_text(CliRunner().invoke(cli, ["cib", "example"]).output)
    path.chmod(0o644)
    result = CliRunner().invoke(cli, ["cib", "render", "--no-verify", "--params", str(path)])
    assert result.exit_code == 0, result.output


def test_apply_replaces_the_sipha_alert_and_keeps_an_operators_own():
    live = etree.fromstring(LIVE.encode())
    alerts = etree.SubElement(live.find("configuration"), "alerts")
    etree.SubElement(alerts, "alert", id="ops-pager", path="/usr/local/bin/pager")
    stale = etree.SubElement(alerts, "alert", id="sipha-alert", path="/old/path")
    etree.SubElement(stale, "recipient", id="sipha-alert-to-1", value="old@example.org")
    rendered = cib.render(params.load(EXAMPLE), "pacemaker-3.9").getroot()
    merged = cib.merged(live, rendered)
    ids = [a.get("id") for a in merged.iterfind("configuration/alerts/alert")]
    assert ids == ["ops-pager", "sipha-alert"]
    ours = merged.find("configuration/alerts/alert[@id='sipha-alert']")
    assert ours.get("path") == "/usr/share/pacemaker/alerts/sip-ha-alert"
    assert [r.get("value") for r in ours.iterfind("recipient")] == [
        "voip-admins@example.org", "syslog:udp://198.51.100.30:514", "snmp://198.51.100.30"]
    # A parameter file without [alerts] removes ours, and only ours.
    without = params.parse({k: v for k, v in tomllib.loads(Path(EXAMPLE).read_text()).items()
                            if k != "alerts"})
    merged = cib.merged(merged, cib.render(without, "pacemaker-3.9").getroot())
    assert [a.get("id") for a in merged.iterfind("configuration/alerts/alert")] == [
        "ops-pager"]


@pytest.mark.parametrize(("option", "value", "said"), [
    ("sip_uris", "sip:127.0.0.1:99999", "port '99999' is not 1-65535"),
    ("sip_timeout", "soon", "is not a duration"),
])
@pytest.mark.parametrize("command", ["render", "diff", "apply"])
def test_an_option_the_agent_would_refuse_is_refused_before_the_cib(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str, value: str, said: str,
        command: str):
    """Installed, every action of the agent would exit 6 on every node and
    Pacemaker would stop the service everywhere: render, diff and apply
    refuse it first, with the agent's own line, and change nothing."""
    text = EXAMPLE_TEXT.replace('sip_uris = "sip:127.0.0.1"', f'{option} = "{value}"')
    assert text != EXAMPLE_TEXT
    bad = tmp_path / "cluster.toml"
    bad.write_text(text)
    fake = FakeRunner([])  # nothing may run: no cibadmin, no crm_verify
    monkeypatch.setattr(tools, "runner", lambda seconds: fake)
    result = CliRunner().invoke(cli, ["cib", command, "--params", str(bad),
                                      *(["--no-verify"] if command == "render" else [])])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("sip-ha: [[service]] pbx options: parameter "
                                    f"{option}"), result.stderr
    assert said in result.stderr and "ocf:sipha:asterisk would refuse it" in result.stderr
