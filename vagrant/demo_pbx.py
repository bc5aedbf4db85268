"""`make demo`: the PBX SIP-HA is for, in a two-node cluster on this machine.

Debian sid nodes in LXC containers with real fencing run Asterisk 22 under
ocf:sipha:asterisk with its service address, the file sync of Asterisk's
configuration and of the web GUI's PHP sessions, the CDR database (MariaDB
master/master under ocf:sipha:mysql-mm, written by Asterisk through ODBC),
apache2 with a PHP login page standing in for FreePBX or a wallboard, and
the alert that mails the operator.  Three real softphones (baresip: UDP,
TCP and TLS, set up as the README's "Phones" says) and SIPp stand on a phone
host beside the cluster.

It shows, in order: the phones registered; a call between them and a trunk
call; a dialplan edit on the active node; a silent power cut of that node;
the edit live on the new active; the phones calling each other again without
a restart; the CDR of the call before the cut on the new active; the web
session still logged in; the operator's mail; the failback the operator
approves.  Every measured figure is printed, and summed up at the end.

Run by vagrant/demo.sh (as root, with the project's venv); the cluster stays
up afterwards, and the last line says how to tear it down.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support import pbx_parts  # noqa: E402
from tests.support import sipha_service as svc  # noqa: E402
from tests.support.alertlab import AlertNetns  # noqa: E402
from tests.support.mail_receiver import MailReceiver  # noqa: E402
from tests.support.pbx_parts import ROOT, install_asterisk_files  # noqa: E402
from tests.support.sipha_cluster import SERVICE_IP, TRUNK_IP, Cluster, wait_until  # noqa: E402

PREFIX = os.environ.get("SIPHA_PREFIX", "sipha")
ALERTS = svc.TEST_ALERTS
T0 = time.monotonic()
FIGURES: list[str] = []


def say(text: str) -> None:
    print(f"\n\033[1m== [{time.monotonic() - T0:5.0f} s] {text}\033[0m", flush=True)


def figure(text: str) -> None:
    FIGURES.append(text)
    print(f"   measured: {text}", flush=True)


def admin(cluster: Cluster, node: str, *argv: str, check: bool = True) -> str:
    """Run an operator's command on NODE, showing it and what it printed."""
    print(f"{node}# {' '.join(argv)}", flush=True)
    res = cluster.run(node, *argv, check=check, timeout=300)
    out = (res.stdout + res.stderr).rstrip()
    if out:
        print("  " + out.replace("\n", "\n  "), flush=True)
    return res.stdout


def call(cluster: Cluster, phones: dict, caller: str, callee: str, when: str,
         limit: float = 30) -> float:
    took, outcome = svc.call_until_answered(cluster, phones, caller, callee, limit)
    kind = {ext: transport for ext, (transport, _) in pbx_parts.PHONES.items()}
    print(f"   {caller} ({kind[caller]}) calls {callee} ({kind[callee]}): {outcome}")
    figure(f"{when}: call {caller} -> {callee} answered after {took:.1f} s of calling")
    return took


def main() -> int:
    cluster = Cluster("sid", 2, prefix=PREFIX)
    os.makedirs(cluster.state_dir, exist_ok=True)
    # `make test` tears a cluster so marked down instead of waiting for it.
    Path(cluster.state_dir, "demo").touch()

    say(f"cluster: 2 Debian sid nodes (containers {PREFIX}-node1/2, real fencing)")
    cluster.up()
    print(f"   box, containers, Corosync and Pacemaker up in {cluster.timings['box']:.0f} s "
          f"+ {cluster.timings['up_to_quorate']:.0f} s")

    say(f"the PBX's files on both nodes: Asterisk under {ROOT}, MariaDB, apache2 + PHP")
    install_asterisk_files(cluster)
    params = svc.whole_pbx_params(cluster.nodes, ALERTS)
    print(f"   {svc.PARAMS}: cib_templates/example.toml with this cluster's nodes, addresses,"
          " fence device and mail server (the fence secret is shown masked):")
    for line in params.splitlines():
        print("   | " + ("passwd = (the fence secret)" if line.startswith("passwd") else line))

    trunk = AlertNetns(existing=f"{PREFIX}-trunk")
    mail_dir = Path(tempfile.mkdtemp(prefix="sipha-demo-mail-"))
    mail = MailReceiver(trunk, mail_dir, host=TRUNK_IP)
    with ExitStack() as stack:
        mail.start()
        stack.callback(trunk.down)
        return scenario(cluster, mail, stack)


def scenario(cluster: Cluster, mail: MailReceiver, stack: ExitStack) -> int:
    say("sip-ha cib apply: Asterisk, address, sync, database, web GUI, alerts, fencing")
    first = svc.install_whole_pbx(cluster, ALERTS)
    new = svc.other(cluster, first)
    admin(cluster, first, "sip-ha", "status", "--params", svc.PARAMS, check=False)
    admin(cluster, first, "sip-ha", "test-alerts", "--params", svc.PARAMS, check=False)
    phones = calls_before(cluster, stack, first)
    cookie, before = state_before(cluster, first, new)
    power_cut(cluster, stack, phones, first, new)
    state_after(cluster, new, cookie, before)

    say("the operator's mailbox (sip-ha-alert)")
    wait_until(lambda: any("fenc" in str(m["Subject"]) for m in mail.messages()), 60,
               what="the fencing mail")
    for msg in mail.messages():
        print(f"   {msg['Date'][17:25]}  {msg['Subject']}")

    say(f"{first} was fenced (rebooted) and rejoins as a hot standby; no automatic failback")
    cluster.wait_all_online(timeout=240)
    wait_until(lambda: svc.standby_ready(cluster, first), 180, what=f"{first} a hot standby")
    admin(cluster, new, "sip-ha", "status", "--params", svc.PARAMS, check=False)

    say(f"the operator checked {first} and approves the failback")
    with svc.phone(cluster, svc.FENCED_LIMIT) as seen:
        failback(cluster, new, first)
    figure(f"failback: SIP outage {seen['outage']} s")
    for caller, callee in pbx_parts.CALLS:
        call(cluster, phones, caller, callee, "after the failback")

    say(f"done in {time.monotonic() - T0:.0f} s; every figure:")
    for text in FIGURES:
        print(f"   {text}")
    print(f"\nThe cluster stays up: `lxc-attach -n {PREFIX}-node1 -- crm_mon -1`.  "
          f"Tear it down with:\n    SIPHA_PREFIX={PREFIX} "
          f"{REPO / 'vagrant' / 'teardown.sh'}")
    return 0


def calls_before(cluster: Cluster, stack: ExitStack, first: str) -> dict:
    say(f"three softphones (baresip) register to {SERVICE_IP}: 100 over UDP, 101 over TCP, "
        "102 over TLS")
    phones = pbx_parts.start_phones(cluster, stack)
    admin(cluster, first, "asterisk", "-C", f"{ROOT}/asterisk.conf", "-rx",
          "pjsip show contacts")
    for caller, callee in pbx_parts.CALLS:
        call(cluster, phones, caller, callee, "before the cut")
    say(f"a trunk call: SIPp, standing in for the provider, calls {pbx_parts.ANSWER}")
    trunk_call = pbx_parts.sipp(cluster, stack, rate=1, calls=1)
    trunk_call.start()
    print(f"   {trunk_call.wait()}")
    return phones


def state_before(cluster: Cluster, first: str, new: str) -> tuple[str, list[str]]:
    """Log in to the web GUI, write a CDR, edit the dialplan on FIRST: the
    session cookie and the CDRs."""
    body, cookie = pbx_parts.web(cluster, "?login=operator")
    say(f"the web GUI on http://{SERVICE_IP}/login.php: {body}")
    pbx_parts.asterisk(cluster, first, ROOT,
                       "channel originate Local/600@phones application Hangup")
    wait_until(lambda: any(r.startswith("600 ") for r in pbx_parts.cdr_rows(cluster, new)),
               60, what="the CDR replicated")
    before = pbx_parts.cdr_rows(cluster, first)
    print(f"   CDRs in MariaDB on {first}: {len(before)}, replicated to {new}")

    say(f"the administrator adds extension 750 to the dialplan on {first} (SIP-ACTIVE)")
    took = svc.edit_on_the_active(cluster, first, new, cookie)
    figure(f"dialplan edit synced and loaded by {new}'s Asterisk after {took:.1f} s")
    return cookie, before


def power_cut(cluster: Cluster, stack: ExitStack, phones: dict, first: str, new: str) -> None:
    say(f"power cut of {first}: its link goes down, then it is killed; SIPp calls at 2/s")
    load = pbx_parts.sipp(cluster, stack, rate=2, calls=60)
    load.start()
    mark = len(cluster.fence_log())
    with svc.phone(cluster, svc.FENCED_LIMIT) as seen:
        svc.fenced_failover(cluster, cluster.kill_node, first, new)
    back = time.monotonic()
    print("   fence daemon: " + "\n   fence daemon: ".join(cluster.fence_log()[mark:]))
    figure(f"SIP outage seen by a phone polling OPTIONS: {seen['outage']} s")
    shown = pbx_parts.asterisk(cluster, new, ROOT, "dialplan show 750@phones")
    print(f"   the edit, live on {new}: " + " | ".join(shown.splitlines()[:3]))

    say("the phones, never restarted, call each other through the new active")
    for caller, callee in pbx_parts.CALLS:
        call(cluster, phones, caller, callee, "after the cut")
        figure(f"  ... {time.monotonic() - back:.1f} s after the service answered again")
    figure(f"SIPp through the power cut: {load.wait()}")


def state_after(cluster: Cluster, new: str, cookie: str, before: list[str]) -> None:
    say(f"the CDR database is writable on {new}; the CDR of the call before the cut is there")
    wait_until(lambda: svc.service(cluster, node=new)["database_node"] == new, 120,
               what=f"the database writable on {new}")
    pbx_parts.asterisk(cluster, new, ROOT, "channel originate Local/750@phones application "
                                           "Hangup")
    wait_until(lambda: any(r.startswith("750 ") for r in pbx_parts.cdr_rows(cluster, new)), 60,
               what="the new active's CDR")
    after = pbx_parts.cdr_rows(cluster, new)
    print("   " + "\n   ".join(after[-4:]))
    figure(f"CDRs: {len(before)} before the cut, all {len(after)} there after it: "
           f"{after[:len(before)] == before}")
    body = wait_until(lambda: pbx_parts.web(cluster, cookie=cookie)[0] or None, 60,
                      what="the web GUI on the new active")
    say(f"the web GUI, same session cookie: {body}")


def failback(cluster: Cluster, node: str, target: str) -> None:
    """`sip-ha failback`, asked again while it refuses (it names what it waits for)."""
    deadline = time.monotonic() + 180
    argv = ("sip-ha", "failback", "--to", target, "--params", svc.PARAMS)
    while True:
        res = cluster.run(node, *argv, check=False, timeout=300)
        if res.returncode == 0 or time.monotonic() > deadline:
            print(f"{node}# {' '.join(argv)}\n  " + (res.stdout + res.stderr).strip()
                  .replace("\n", "\n  "))
            if res.returncode:
                raise SystemExit(f"demo: the failback was refused: {res.stderr.strip()}")
            return
        print(f"   refused for now: {res.stderr.strip().splitlines()[-1:]}")
        time.sleep(5)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as err:
        sys.exit(f"demo: {err}")
