"""What a PBX needs beside Asterisk, set up on the sid test nodes as an
administrator would: CDRs written by Asterisk through ODBC into MariaDB
(master/master under ocf:sipha:mysql-mm), a PHP web page with a login
session standing in for the FreePBX GUI or a wallboard, and the file sync of
Asterisk's configuration and of PHP's session folder."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from ocf_agents import asterisk as asterisk_agent
from ocf_agents.clients.asterisk_cli import parse_database
from ocf_agents.framework.ocf import Context
from ocf_agents.shared import astdb_carry
from sipha_runtime.log import Logger
from tests.support.asterisk import (
    AMI_SECRET,
    AsteriskSetup,
    Certificates,
    PhoneService,
    make_certificates,
)
from tests.support.baresip import Account, Phone
from tests.support.client_host import ClientHost
from tests.support.sipha_cluster import NET, SERVICE_IP, TRUNK_IP
from tests.support.sipp_load import SippLoad

DB_CNF = "/etc/mysql/sipha-cdr.cnf"
CLIENT_CNF = "/etc/mysql/mariadb.conf.d/99-sipha-client.cnf"
SESSIONS = "/var/lib/php/sessions"   # Debian's PHP default, as FreePBX uses it
SYNC_TOML = "/etc/sip-ha/sync.toml"
# MariaDB's data folder made as its package does (a node's shell command).
INIT_DATADIR = ("mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db "
                ">/dev/null")
# The README's folders (configuration, voicemail, custom sounds) under the
# test Asterisk's ROOT, and PHP's sessions.
SYNCED = ("etc", "spool/voicemail", "lib/sounds/custom")
AMI_SECRET_FILE = "/etc/sip-ha/secrets/ami"
# The standby's copy of the active's astdb families (ocf_agents.shared.astdb_carry:
# Context.state_file of the service's asterisk resource)
ROOT = "/srv/pbx"  # the Asterisk tree on every node
# Where the standby's agent keeps it (the example's Asterisk resource)
ASTDB_SNAPSHOT = astdb_carry.snapshot_file(
    Context(asterisk_agent.AGENT, "monitor", {"OCF_RESOURCE_INSTANCE": "pbx-asterisk:1"},
            Logger("asterisk", "pbx-asterisk", {}), 10))
# Real phones on the phone host, each on an address of its own there (the
# host's stand-in listens on its main address), and SIPp beside them.
PHONES = {"100": ("udp", NET + ".210"), "101": ("tcp", NET + ".211"),
          "102": ("tls", NET + ".213")}
# Each phone calls the next one (and so is called by the one before).
CALLS = tuple(zip(PHONES, [*list(PHONES)[1:], next(iter(PHONES))], strict=True))
# The README's settings for phones that survive a failover: the contact is
# where the phone listens (Asterisk), a registration renewed every 30 s
# (baresip: its refresh finds a dead TCP or TLS connection).
ENDPOINT = {"rewrite_contact": "no"}
ACCOUNT = {"regint": 300, "params": ("rwait=10",)}
SIPP_IP = NET + ".212"
ANSWER = "700"      # answered by the PBX, hung up after 2 s (SIPp's calls)
CLIENT_PORT = 5070  # the host's stand-in holds 5060 on every address there
WEB_PAGE = "/var/www/html/login.php"

ODBC_INI = """[asteriskcdrdb]
Driver = MariaDB Unicode
Server = localhost
Socket = /run/mysqld/mysqld.sock
Database = asteriskcdrdb
"""

# Asterisk logs in as its own system user over the socket (unix_socket):
# no password anywhere.
RES_ODBC = """[asteriskcdrdb]
enabled => yes
dsn => asteriskcdrdb
username => asterisk
pre-connect => yes
"""

CDR_ODBC = """[cdr]
connection = asteriskcdrdb
table = cdr
alias start => calldate
"""

CDR_TABLE = """CREATE DATABASE asteriskcdrdb;
CREATE TABLE asteriskcdrdb.cdr (
  id INT AUTO_INCREMENT PRIMARY KEY, calldate DATETIME, clid VARCHAR(80),
  src VARCHAR(80), dst VARCHAR(80), dcontext VARCHAR(80), channel VARCHAR(80),
  dstchannel VARCHAR(80), lastapp VARCHAR(80), lastdata VARCHAR(80),
  duration INT, billsec INT, disposition VARCHAR(45), uniqueid VARCHAR(150));
CREATE USER 'asterisk'@'localhost' IDENTIFIED VIA unix_socket;
GRANT INSERT, SELECT ON asteriskcdrdb.* TO 'asterisk'@'localhost';
"""

LOGIN_PHP = """<?php
session_start();
if (isset($_GET['login'])) {
    $_SESSION['user'] = $_GET['login'];
}
header('Content-Type: text/plain');
echo isset($_SESSION['user']) ? 'logged in as ' . $_SESSION['user'] : 'not logged in';
echo ' (' . gethostname() . ")\\n";
"""


def db_cnf(number: int) -> str:
    """Master/master as an administrator sets it up: ids and offsets apart."""
    return f"""[mysqld]
user = mysql
datadir = /var/lib/mysql
socket = /run/mysqld/mysqld.sock
pid-file = /run/mysqld/mysqld.pid
bind-address = 0.0.0.0
skip-name-resolve
server_id = {number}
log_bin = mysql-bin
log_slave_updates = 1
auto_increment_increment = 2
auto_increment_offset = {number}
# A master that vanished without a word (power cut) is noticed in seconds,
# not after the default minute.
slave_net_timeout = 5
"""


def synced_folders(root: str) -> list[str]:
    return [f"{root}/{folder}" for folder in SYNCED]


def sync_toml(folders: list[str], nodes: list[str]) -> str:
    quoted = ", ".join(f'"{f}"' for f in folders)
    peers = "".join(f'[[peers]]\nname = "{n}"\n' for n in nodes)
    return (f"folders = [{quoted}]\ndebounce = 0.3\n[ssh]\n"
            f'identity_file = "/root/.ssh/id_ed25519"\n{peers}')


def asterisk_options() -> str:
    """What the README recommends for phones that survive a failover: their
    registrations carried to the standbys through the manager interface."""
    return ('astdb_families = ["registrar"]\nami_user = "sipha"\n'
            f'ami_secret_file = "{AMI_SECRET_FILE}"\n')


def certificates(cluster) -> tuple[Certificates, Certificates]:
    """The service's TLS certificate (with the test CA that signed it) and
    the TLS phone's own, made once per cluster."""
    if not hasattr(cluster, "tls"):
        folder = Path(cluster.state_dir, "tls")
        tls_phone = next(address for transport, address in PHONES.values()
                         if transport == "tls")
        cluster.tls = (make_certificates(folder / "service", SERVICE_IP),
                       make_certificates(folder / "phone", tls_phone))
    return cluster.tls


def phone_files(cluster, root: str) -> dict[str, str]:
    """Asterisk's files with authenticated phones (UDP, TCP, TLS), SIPp's
    endpoint and the extension SIPp calls, the endpoint that makes the
    agent's SIP check known (tests/support/asterisk.py's PhoneService)."""
    service_tls, _ = certificates(cluster)
    service = PhoneService(secrets={ext: f"secret-{ext}" for ext in PHONES},
                           endpoint=ENDPOINT, tls=(service_tls.cert, service_tls.key),
                           load_from=SIPP_IP, answer=ANSWER, answer_seconds=2,
                           check_endpoint=True)
    with tempfile.TemporaryDirectory() as tmp:
        AsteriskSetup(Path(tmp), "0.0.0.0", f"{TRUNK_IP}:5060", inside=root,
                      phones=tuple(PHONES), service=service)
        return {str(p.relative_to(tmp)): p.read_text() for p in Path(tmp).rglob("*")
                if p.is_file() and p.parent.name in ("etc", "keys")
                and (p.suffix == ".conf" or p.parent.name == "keys")}


def phone_host(cluster) -> ClientHost:
    return ClientHost(("ip", "netns", "exec", f"{cluster.prefix}-phone"),
                      f"/run/netns/{cluster.prefix}-phone")


def start_phones(cluster, stack: ExitStack) -> dict[str, Phone]:
    """The phones registered to the service address; stopped with STACK."""
    host = phone_host(cluster)
    phones = {}
    service_tls, own = certificates(cluster)
    for number, (ext, (transport, address)) in enumerate(PHONES.items()):
        cluster_ns_address(cluster, address, stack)
        tls = transport == "tls"
        registrar = f"{SERVICE_IP}:5061" if tls else SERVICE_IP
        phone = Phone(host, f"{cluster.state_dir}/phone-{ext}",
                      Account(ext, f"secret-{ext}", registrar, transport, **ACCOUNT),
                      address, port=CLIENT_PORT, ctrl_port=4410 + number,
                      cafile=service_tls.ca if tls else "",
                      certificate=own.cert + own.key if tls else "")
        phone.start()
        stack.callback(phone.stop)
        phones[ext] = phone
    for ext, phone in phones.items():
        if phone.registered(timeout=30) is None:
            raise AssertionError(f"phone {ext} did not register: {phone.log()[-800:]}")
    return phones


def cluster_ns_address(cluster, address: str, stack: ExitStack) -> None:
    """An extra address on the phone host, removed with STACK."""
    ns = f"{cluster.prefix}-phone"
    subprocess.run(["ip", "-n", ns, "addr", "replace", f"{address}/32", "dev", "eth0"],
                   check=True)
    stack.callback(subprocess.run, ["ip", "-n", ns, "addr", "del", f"{address}/32", "dev",
                                    "eth0"], check=False, stderr=subprocess.DEVNULL)


def sipp(cluster, stack: ExitStack, rate: float, calls: int) -> SippLoad:
    """SIPp calling the service address from the phone host (not started)."""
    cluster_ns_address(cluster, SIPP_IP, stack)
    return SippLoad(phone_host(cluster), f"{cluster.state_dir}/sipp", f"{SERVICE_IP}:5060",
                    service=ANSWER, local_ip=SIPP_IP, local_port=CLIENT_PORT, rate=rate,
                    calls=calls,
                    recv_timeout=5)


def services() -> str:
    """The parameter file's additions: sync, database and the web extra."""
    return (f'[service.sync]\nconfig = "{SYNC_TOML}"\n'
            f'[service.database]\nconfig = "{DB_CNF}"\n'
            '[[service.extra]]\nid = "pbx-web"\nagent = "systemd:apache2"\n')


def prepare_phones(cluster, root: str) -> None:
    """Asterisk's phone configuration and the manager secret on every node."""
    files = phone_files(cluster, root)
    for node in cluster.nodes:
        cluster.run(node, "install", "-d", "-m", "700", "/etc/sip-ha/secrets")
        cluster.run(node, "sh", "-c", f"umask 077; cat >{AMI_SECRET_FILE}",
                    input=AMI_SECRET + "\n")
        cluster.run(node, "install", "-d", "-m", "750", "-o", "root", "-g", "asterisk",
                    f"{root}/etc/keys")
        for name, text in files.items():
            if name.startswith("etc/keys/"):
                # Asterisk reads its key after dropping root: its group's.
                cluster.run(node, "sh", "-c", f"umask 027; cat >{root}/{name}; "
                            f"chown root:asterisk {root}/{name}", input=text)
            else:
                cluster.run(node, "tee", f"{root}/{name}", input=text)


def prepare_nodes(cluster, root: str) -> None:
    """Files on every node before the parameter file is applied."""
    prepare_phones(cluster, root)
    for number, node in enumerate(cluster.nodes, start=1):
        cluster.run(node, "mkdir", "-p", "/etc/sip-ha", SESSIONS)
        cluster.run(node, "install", "-d", "-o", "asterisk", "-g", "asterisk",
                    *(f"{root}/{folder}" for folder in SYNCED))
        cluster.run(node, "tee", "/etc/odbc.ini", input=ODBC_INI)
        cluster.run(node, "tee", f"{root}/etc/res_odbc.conf", input=RES_ODBC)
        cluster.run(node, "tee", f"{root}/etc/cdr_adaptive_odbc.conf", input=CDR_ODBC)
        cluster.run(node, "chown", "asterisk:asterisk", f"{root}/etc/res_odbc.conf",
                    f"{root}/etc/cdr_adaptive_odbc.conf")
        cluster.run(node, "tee", DB_CNF, input=db_cnf(number))
        # sid's clients look for /run/mariadbd/: point them at this server.
        cluster.run(node, "tee", CLIENT_CNF, input="[client]\nsocket = /run/mysqld/mysqld.sock\n")
        cluster.run(node, "tee", WEB_PAGE, input=LOGIN_PHP)
        cluster.run(node, "tee", SYNC_TOML,
                    input=sync_toml([*synced_folders(root), SESSIONS], cluster.nodes))
        # Pacemaker starts these from now on, not systemd: Debian's
        # mariadb.socket would start a default server on the agent's probe.
        cluster.run(node, "systemctl", "disable", "--now", "mariadb.socket",
                    "mariadb.service", "apache2.service", check=False)
        # sid's package leaves the data folder to the first start of its unit.
        cluster.run(node, "sh", "-c", f"test -d /var/lib/mysql/mysql || {INIT_DATADIR}")
    same_times(cluster, f"{root}/etc")


def same_times(cluster, folder: str) -> None:
    """FOLDER's files get one modification time on every node, as an
    administrator's copy with times kept (rsync -a, scp -p) leaves them: the
    same file written separately on each node is otherwise newer on the later
    one, and the file sync's first comparison rightly calls it a conflict."""
    stamp = f"@{int(time.time())}"
    for node in cluster.nodes:
        cluster.run(node, "find", folder, "-type", "f", "-exec", "touch", "-d", stamp, "{}", "+")


def sql(cluster, node: str, statement: str, user: str = "root", check: bool = True):
    return cluster.run(node, "mariadb", "--user", user, "--batch", "--skip-column-names",
                       "--execute", statement, check=check)


def fresh_database(cluster, node: str) -> None:
    """An empty MariaDB data folder on NODE, its server stopped (the reset
    stopped what Pacemaker ran): the users, GTIDs and replica settings an
    earlier test's replication left there are not the next one's."""
    cluster.run(node, "sh", "-c", f"find /var/lib/mysql -mindepth 1 -delete && {INIT_DATADIR}")


def replicate(cluster) -> None:
    """Each node a replica of the other (GTID), as the README shows."""
    for node in cluster.nodes:
        sql(cluster, node, "SET sql_log_bin = 0; "
                           "CREATE USER 'repl'@'%' IDENTIFIED BY 'repl-secret'; "
                           "GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'")
    for node, peer in zip(cluster.nodes, reversed(cluster.nodes), strict=True):
        sql(cluster, node, f"CHANGE MASTER TO MASTER_HOST = '{cluster.ip(peer)}', "
                           "MASTER_USER = 'repl', MASTER_PASSWORD = 'repl-secret', "
                           "MASTER_USE_GTID = slave_pos; START SLAVE")


def replication(cluster, node: str, service: str = "pbx") -> str:
    """What mysql-mm published about NODE's replica (ok, broken, ...)."""
    # --node: without it Pacemaker 2.1's attrd_updater answered node1's value
    # on node2.
    res = cluster.run(node, "attrd_updater", "--query", "--node", node, "--name",
                      f"sipha-mysql-{service}-db-replication", check=False)
    found = re.search(r'value="([^"]*)"', res.stdout)
    return found.group(1) if found else ""


def standby_holds_the_registrations(cluster, active: str, root: str) -> bool:
    """The standby's astdb snapshot (what its promote imports) holds every
    registration ("contact/...") the active's astdb holds now: a phone
    started again registers with a new contact, and a snapshot taken
    before that still names the old one (calls to it: 404 from the phone)."""
    standby = next(node for node in cluster.nodes if node != active)
    current = {key for key in parse_database(
        asterisk(cluster, active, root, "database show registrar"), "registrar")
        if key.startswith("contact/")}
    res = cluster.run(standby, "cat", ASTDB_SNAPSHOT, check=False)
    if res.returncode != 0 or not current:
        return False
    carried = json.loads(res.stdout)["families"].get("registrar", {})
    return current <= set(carried)


def cdr_rows(cluster, node: str) -> list[str]:
    """dst and disposition of every CDR in NODE's database, oldest first."""
    res = sql(cluster, node, "SELECT CONCAT(dst, ' ', disposition) FROM asteriskcdrdb.cdr "
                             "ORDER BY id", check=False)
    return res.stdout.splitlines() if res.returncode == 0 else []


def web(cluster, query: str = "", cookie: str = "") -> tuple[str, str]:
    """GET the login page on the service address from the phone host: the
    body and the session cookie the server set (or COOKIE, kept)."""
    script = (
        "import json, sys, urllib.request\n"
        f"req = urllib.request.Request('http://{SERVICE_IP}/login.php{query}')\n"
        "if sys.argv[1]:\n    req.add_header('Cookie', sys.argv[1])\n"
        "with urllib.request.urlopen(req, timeout=5) as r:\n"
        "    print(json.dumps([r.read().decode(), r.headers.get('Set-Cookie') or '']))\n")
    res = subprocess.run(["ip", "netns", "exec", f"{cluster.prefix}-phone", "python3", "-c",
                          script, cookie], capture_output=True, text=True, timeout=30,
                         check=False)
    if res.returncode != 0:
        return "", cookie
    body, set_cookie = json.loads(res.stdout)
    return body.strip(), set_cookie.split(";", 1)[0] or cookie


def asterisk(cluster, node: str, root: str, command: str) -> str:
    return cluster.run(node, "asterisk", "-C", f"{root}/asterisk.conf", "-rx", command,
                       check=False).stdout


def cleanup(cluster, root: str) -> None:
    for node in cluster.nodes:
        cluster.run(node, "rm", "-f", DB_CNF, CLIENT_CNF, SYNC_TOML, WEB_PAGE, "/etc/odbc.ini",
                    AMI_SECRET_FILE,
                    f"{root}/etc/res_odbc.conf", f"{root}/etc/cdr_adaptive_odbc.conf",
                    check=False)
        # voicemail and sounds: what a test left there
        cluster.run(node, "sh", "-c", "; ".join(f"rm -rf {folder}/*"
                                               for folder in synced_folders(root)[1:]),
                    check=False)


def install_asterisk_files(cluster) -> dict[str, str]:
    """The same Asterisk configuration on every node (as the file sync keeps
    it), under ROOT; returns it (path below ROOT -> text)."""
    with tempfile.TemporaryDirectory() as tmp:
        AsteriskSetup(Path(tmp), "0.0.0.0", f"{TRUNK_IP}:5060", inside=ROOT)
        files = {str(p.relative_to(tmp)): p.read_text()
                 for p in Path(tmp).rglob("*") if p.is_file()}
    for node in cluster.nodes:
        for sub in ("etc", "lib", "spool", "run", "log"):
            cluster.run(node, "mkdir", "-p", f"{ROOT}/{sub}")
        for name, text in files.items():
            cluster.run(node, "tee", f"{ROOT}/{name}", input=text)
        cluster.run(node, "chown", "-R", "asterisk:asterisk", ROOT)
    return files
