"""The SIP-HA parameter file: the documented example loads, mistakes are
refused with a sentence that names the key and the fix."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from cib_templates import params

EXAMPLE = Path(params.__file__).parent / "example.toml"
THREE = Path(__file__).parent / "data" / "three-nodes.toml"


def data(path: Path = EXAMPLE) -> dict:
    return tomllib.loads(path.read_text())


def test_example_loads():
    p = params.load(str(EXAMPLE))
    assert p.nodes == ("node1", "node2")
    assert p.stickiness > p.preferred_score
    (pbx,) = p.services
    assert (pbx.name, pbx.server, pbx.preferred_node, pbx.promotable) == (
        "pbx", "asterisk", "node1", True)
    assert pbx.gateways == ("198.51.100.1",)      # inherited from [cluster]
    assert [e.agent for e in pbx.extras] == ["systemd:apache2", "systemd:tftpd-hpa"]
    assert [f.targets for f in p.fencing] == [("node1",), ("node2",)]
    assert p.fencing[0].options["lanplus"] == "true"
    assert p.timings.monitor_promoted == "2s"


def test_three_nodes_two_services():
    p = params.load(str(THREE))
    pbx, proxy = p.services
    assert pbx.nodes == ("node1", "node2") and proxy.nodes == ("node2", "node3")
    assert proxy.gateways == ("198.51.100.1",)      # its own list wins
    assert pbx.options["sip_uris"] == "sip:127.0.0.1 sip:127.0.0.1;transport=tcp"
    assert pbx.extras[1].options == {"configfile": "/etc/apache2/provisioning.conf"}
    assert p.timings.monitor_promoted == "3s" and p.timings.monitor_unpromoted == "5s"


def mutated(change, path: Path = EXAMPLE) -> dict:
    raw = data(path)
    change(raw)
    return raw


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(filesync={}), "unknown key(s) filesync"),
    (lambda d: d["cluster"].update(nodse=[]), "unknown key(s) nodse"),
    (lambda d: d["cluster"].update(nodes=["node1"]), "at least two nodes"),
    (lambda d: d["cluster"].update(preferred_score=200), "would fail back on their own"),
    (lambda d: d["service"][0].update(preferred_node="node9"), "is not one of its nodes"),
    (lambda d: d["service"][0].update(server="freeswitch"), "not one of asterisk, sipserver"),
    (lambda d: d["service"][0].update(ip=[]), "give the service address"),
    (lambda d: d["service"][0].update(nodes=["node1", "node7"]), "node7 is not in [cluster]"),
    (lambda d: d["service"][0].update(nodes=["node1"]), "nowhere to fail over to"),
    (lambda d: d["service"][0].update(name="1pbx"), "must start with a letter"),
    (lambda d: d["service"][0]["extra"][0].update(agent="apache2"), "is not an agent such"),
    (lambda d: d["service"][0]["extra"][1].update(id="pbx"), "'pbx' is used twice"),
    (lambda d: d.pop("fencing"), "at least one [[fencing]] device"),
    (lambda d: d["fencing"][0].update(agent="ipmi"), "is not a fence agent"),
    (lambda d: d["fencing"][0].update(targets=["node3"]), "node3 is not in [cluster]"),
    (lambda d: d["timings"].update(monitor_promoted="fast"), "is not a duration"),
    (lambda d: d["timings"].update(migration_threshold="1"), "write a whole number"),
    (lambda d: d["timings"].update(monitor_unpromoted="2s"), "must differ"),
    (lambda d: d["service"][0]["options"].update(bad={"a": 1}), "must be a string"),
    (lambda d: d.pop("service"), "at least one [[service]]"),
    # Names, addresses and scores a CIB, ssh or a shell must never see.
    (lambda d: d["cluster"].update(nodes=["node1\n", "node2"]),
     "cluster.nodes: 'node1\\n' holds a control character"),
    (lambda d: d["cluster"].update(nodes=["node1", "-node2"]), "'-node2' is not a node name"),
    (lambda d: d["fencing"][0].update(targets=["node1 node2"]),
     "'node1 node2' is not a node name"),
    (lambda d: d["service"][0]["options"].update({"a\nb": "x"}),
     "service.options: the key 'a\\nb' holds a control character"),
    (lambda d: d["service"][0]["options"].update({"sip uris": "x"}),
     "'sip uris' is not a parameter name"),
    (lambda d: d["service"][0]["options"].update(sip_uris="sip:127.0.0.1\x00"),
     "service.options.sip_uris: 'sip:127.0.0.1\\x00' holds a control character"),
    (lambda d: d["fencing"][1]["options"].update(ip="\u0001"), "holds a control character"),
    (lambda d: d["service"][0]["extra"][0].update(id="pbx-web\n"), "control character"),
    (lambda d: d["service"][0]["options"].update(sip_uris=["a", ["b"]]),
     "options.sip_uris: a list may hold only strings and numbers"),
    (lambda d: d["service"][0].update(ip=["$(reboot)"]),
     "ip: '$(reboot)' is not an IPv4 or IPv6 address"),
    (lambda d: d["service"][0].update(ip=["198.51.100.100/255.255.255.0"]),
     "is not an IPv4 or IPv6 address"),
    (lambda d: d["service"][0].update(ip=["198.51.100.100/33"]), "is not an IPv4 or IPv6"),
    (lambda d: d["service"][0].update(trunk_networks=["198.51.100.0/24; reboot"]),
     "trunk_networks: '198.51.100.0/24; reboot' is not"),
    (lambda d: d["service"][0].update(gateways=["gw.example.org"]),
     "gateways: 'gw.example.org' is not an IPv4 or IPv6 address"),
    (lambda d: d["cluster"].update(gateways=["198.51.100.1/24"]), "is not an IPv4 or IPv6"),
    (lambda d: d["service"][0].update(nic="eth0; reboot"), "'eth0; reboot' is not an interface"),
    (lambda d: d["cluster"].update(stickiness=10**27),
     "stickiness: 1000000000000000000000000000 is not between 0 and 1000000"),
    (lambda d: d["cluster"].update(stickiness=499_000, preferred_score=1_000),
     "the gateway bonus, twice their sum, must stay below Pacemaker's INFINITY"),
    (lambda d: d["cluster"].update(stickiness=1e27), "stickiness: write a whole number"),
    (lambda d: d["timings"].update(migration_threshold=-5),
     "migration_threshold: -5 is not between 0 and 1000000"),
    (lambda d: d["timings"].update(monitor_deep="\uff13\uff11s"), "is not a duration"),
])
def test_mistakes_are_refused_with_a_sentence(change, message):
    with pytest.raises(params.ParamError) as err:
        params.parse(mutated(change), "cluster.toml")
    assert message in str(err.value)
    assert str(err.value).startswith("cluster.toml")


def test_sound_addresses_and_scores_pass():
    raw = data()
    raw["cluster"].update(stickiness=249_999, preferred_score=1)
    raw["service"][0].update(ip=["198.51.100.100", "2001:db8::100/64"],
                             trunk_networks=["DEFAULT", "2001:db8:6::/64"],
                             gateways=["2001:db8::1"], nic="eth0.100")
    raw["timings"]["migration_threshold"] = 1_000_000
    pbx = params.parse(raw).services[0]
    assert (pbx.ip, pbx.trunk_networks) == (("198.51.100.100", "2001:db8::100/64"),
                                            ("DEFAULT", "2001:db8:6::/64"))


@pytest.mark.parametrize(("content", "message"), [
    (b"[cluster]\nnodes = [\"n\xe9ud1\"]\n", "line 2: not UTF-8 text; save the file as UTF-8"),
    (b"\xff\xfe[\x00c\x00", "line 1: not UTF-8 text"),
    (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "arrays or tables nested too deeply"),
    (b"a = " + b"{b = " * 5000 + b"1" + b"}" * 5000 + b"\n", "nested too deeply"),
])
def test_unreadable_files_are_one_sentence(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "cluster.toml"
    path.write_bytes(content)
    with pytest.raises(params.ParamError) as err:
        params.load(str(path))
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)


def test_missing_and_broken_files(tmp_path: Path):
    with pytest.raises(params.ParamError, match="does not exist; copy the documented example"):
        params.load(str(tmp_path / "nope.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text("[cluster\n")
    with pytest.raises(params.ParamError, match="is not valid TOML"):
        params.load(str(broken))


def test_alerts_become_the_agents_settings():
    alerts = params.load(str(EXAMPLE)).alerts
    assert alerts.recipients[0] == "voip-admins@example.org"
    assert alerts.path == "/usr/share/pacemaker/alerts/sip-ha-alert"
    assert alerts.options["sipha_cluster"] == "pbx-cluster"
    assert alerts.options["sipha_min_severity"] == "notice"
    assert alerts.reminder_interval == "1h"
    assert "sipha_reminder_interval" not in alerts.options   # the filesync agent's
    assert params.load(str(THREE)).alerts is None


@pytest.mark.parametrize("change, message", [
    ({"recipients": []}, "recipients: list where notifications go"),
    ({"recipients": ["ops@example.org", "ops@example.org"]}, "listed twice"),
    ({"recipients": ["pager-42"]}, "recipient 'pager-42': expected an e-mail address"),
    ({"recipients": ["syslog:udp//x"]}, "recipient 'syslog:udp//x'"),
    ({"min_severity": "loud"}, "min_severity: 'loud' is not one of emerg"),
    ({"smtp_tls": "ssl"}, "smtp_tls: 'ssl' is not one of none, starttls"),
    ({"syslog_facility": "pbx"}, "syslog_facility: 'pbx' is not one of kern, user"),
    ({"smtp_server": "mx:port"}, "SMTP server 'mx:port'"),
    ({"path": "sip-ha-alert"}, "path: 'sip-ha-alert' must be absolute"),
    ({"timeout": "soon"}, "timeout: 'soon' is not a duration"),
    ({"reminder_interval": "daily"}, "reminder_interval: 'daily' is not a duration"),
    ({"pager": "yes"}, "unknown key(s) pager"),
    ({"smtp_auth_file": "/etc/sip-ha/smtp.auth"},
     "[alerts] smtp_auth_file needs smtp_tls = starttls or smtps: SMTP AUTH over an "
     "unencrypted connection would send the password in clear"),
    ({"smtp_auth_file": "smtp.auth", "smtp_tls": "smtps"},
     "smtp_auth_file: 'smtp.auth' must be the absolute path of a file on every node"),
    ({"snmp_user_file": "/etc/sip-ha/snmp\n.user"}, "snmp_user_file: '/etc/sip-ha/snmp\\n"),
    ({"snmp_user_file": "/etc/sip-ha/snmpv3.user"},
     "snmp_community is SNMPv2c's: with snmp_user_file the traps are SNMPv3"),
])
def test_alert_mistakes_are_named(change, message):
    raw = data()
    raw["alerts"].update(change)
    with pytest.raises(params.ParamError, match=re.escape(message)):
        params.parse(raw)


def test_alert_credentials_are_files_whose_paths_alone_reach_the_cib():
    from cib_templates.render import alerts_element

    raw = data()
    del raw["alerts"]["snmp_community"]
    raw["alerts"].update({"smtp_tls": "smtps", "smtp_server": "mx.example.org",
                          "smtp_auth_file": "/etc/sip-ha/smtp.auth",
                          "snmp_user_file": "/etc/sip-ha/snmpv3.user"})
    parsed = params.parse(raw)
    assert parsed.alerts is not None
    assert params.inline_secrets(parsed) == []
    nvpairs = {pair.get("name"): pair.get("value")
               for pair in alerts_element(parsed.alerts, "").iter("nvpair")}
    assert nvpairs["sipha_smtp_auth_file"] == "/etc/sip-ha/smtp.auth"
    assert nvpairs["sipha_snmp_user_file"] == "/etc/sip-ha/snmpv3.user"
    assert nvpairs["sipha_smtp_tls"] == "smtps" and "sipha_snmp_community" not in nvpairs


def test_database_needs_the_servers_config():
    assert params.load(str(EXAMPLE)).services[0].database == {"config": "/etc/mysql/my.cnf"}
    raw = data()
    raw["service"][0]["database"] = {"db_user": "sipha"}
    with pytest.raises(params.ParamError, match=r"database: give config, the my.cnf"):
        params.parse(raw)


# --------------------------------------------------------------------------
# Secrets in the parameter file


def with_options(path: Path, mode: int, **options: str) -> Path:
    """The example with OPTIONS added to its first fence device, at MODE."""
    lines = "".join(f"{name} = {value!r}\n" for name, value in options.items())
    path.write_text(EXAMPLE.read_text().replace("lanplus = true\n",
                                                "lanplus = true\n" + lines, 1))
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620], ids=oct)
def test_a_secret_others_can_read_is_refused_with_the_fix(tmp_path: Path, mode: int):
    path = with_options(tmp_path / "cluster.toml", mode, password="hunter2-secret")
    with pytest.raises(params.ParamError) as err:
        params.load(str(path))
    message = str(err.value)
    assert message.startswith(f"{path} holds secrets ([[fencing]] fence-node1 options "
                               f"password) and its mode {mode:04o} lets group or others")
    assert f"chmod 600 {path}" in message
    assert "hunter2" not in message
    path.chmod(0o600)
    assert params.load(str(path)).fencing[0].options["password"] == "hunter2-secret"


def test_every_secret_option_counts_and_pointers_do_not(tmp_path: Path):
    text = EXAMPLE.read_text().replace('sip_uris = "sip:127.0.0.1"',
                                       'sip_uris = "sip:127.0.0.1"\nami_secret = "x"')
    path = tmp_path / "cluster.toml"
    path.write_text(text)
    path.chmod(0o644)
    with pytest.raises(params.ParamError, match=r"\[\[service\]\] pbx options ami_secret\)"):
        params.load(str(path))
    # The example itself points at its secrets: readable as `cib example > FILE` leaves it.
    assert params.load(str(EXAMPLE)).fencing[0].options["password_script"]
    pointers = with_options(tmp_path / "pointers.toml", 0o644, passwd_script="/usr/bin/pw",
                            identity_file="/root/.ssh/id_ed25519", password="lrm://",
                            snmp_priv_passwd="")
    assert params.load(str(pointers)).fencing[0].options["password"] == "lrm://"


@pytest.mark.parametrize(("name", "secret"), [
    ("password", True), ("passwd", True), ("ami_secret", True), ("snmp_priv_passwd", True),
    ("hexadecimal_kg", True), ("api_key", True), ("secret_key", True), ("token", True),
    ("PASSWORD", True), ("pass", True), ("login-pass", True), ("passphrase", True),
    ("password_script", False), ("passwd_script", False), ("password_file", False),
    ("identity_file", False), ("sipha_key_resources", False), ("ipport", False),
    ("passive", False), ("bypass", False), ("ssl_secure", False), ("username", False),
])
def test_secret_names(name: str, secret: bool):
    assert params.secret_name(name) is secret
