"""Two Debian sid nodes (Pacemaker 3.0, Asterisk 22, Python 3.14), one cluster
for the whole module.

The cluster itself: formation, quorum, real fencing, the phone's view, the
deployment guide run as written, and ocf:sipha:asterisk made by hand with
pcs (asterisk_checks). Then the whole SIP-HA cluster, installed with `sip-ha
cib apply` from a parameter file, with a phone polling SIP OPTIONS on the
service address through every fault: hard loss of the active node, Asterisk
crash, Asterisk hang, gateway lost from the active node, network partition
of the active node, manual failover with `sip-ha failover` and with `pcs
resource move`, failback refused while the old master is not ready and
accepted after, and no automatic failback. Each scenario measures the outage
the phone saw and asserts it finite."""

from __future__ import annotations

import time
from contextlib import ExitStack

import pytest
from asterisk_checks import (  # noqa: F401  (collected by pytest)
    agent_pbx,
    asterisk_files,
    test_crash_of_the_promoted_asterisk_moves_the_role,
    test_hung_promoted_asterisk_is_failed_over,
    test_planned_move_waits_for_the_call,
    test_trunk_registers_only_from_the_promoted_node,
)
from cluster_checks import (  # noqa: F401  (collected by pytest)
    test_fence_off_kills_container,
    test_fencing_configured,
    test_network_partition_fences_isolated_node,
    test_pcs_status_all_nodes_online,
    test_quorum,
    test_service_address_answers_phone_and_fails_over,
    test_vagrant_up_all_nodes_running,
)
from guide_checks import test_the_deployment_guide_runs_as_written  # noqa: F401  (collected by pytest)

from tests.support import pbx_parts
from tests.support.alertlab import AlertNetns
from tests.support.mail_receiver import MailReceiver
from tests.support.pbx_parts import ROOT, asterisk, cdr_rows, web
from tests.support.sipha_cluster import TRUNK_IP, wait_until
from tests.support.sipha_service import (
    FENCED_LIMIT,
    PARAMS,
    PBX,
    SIP_HA,
    TEST_ALERTS,
    active,
    answers,
    call_until_answered,
    clients_through,
    edit_on_the_active,
    fenced_failover,
    install,
    install_whole_pbx,
    other,
    params_toml,
    phone,
    service,
    settled,
    standby_ready,
    status,
)

CLUSTER_DIST = "sid"
CLUSTER_NODES = 2
CLONE = "pbx-asterisk-clone"
LOCAL_LIMIT = 45
# After a crash or a hang and the phones' calls (about 25 s), the old node
# is a standby again by itself: failure-timeout (5 s) and a boot.
REDUNDANCY_LIMIT = 40


def test_pacemaker_3_and_asterisk(cluster):
    node = cluster.nodes[0]
    assert cluster.run(node, "pacemakerd", "--version").stdout.startswith("Pacemaker 3.")
    assert cluster.run(node, "asterisk", "-V").stdout.startswith("Asterisk 22")
    # Only Pacemaker may start Asterisk.
    assert cluster.run(node, "systemctl", "is-enabled", "asterisk",
                       check=False).stdout.strip() != "enabled"
    # The Debian package runs sid's own Python and modules.
    assert cluster.run(node, "/usr/bin/python3", "-I", "-c",
                       "import sys, click, lxml, pymysql, watchdog;"
                       "print(sys.version_info[:2])").stdout.strip() == "(3, 14)"
    assert cluster.run(node, "head", "-1", "/usr/bin/sip-ha").stdout == "#!/usr/bin/python3 -I\n"


@pytest.fixture
def pbx(cluster, asterisk_files):  # noqa: F811
    pbx_parts.prepare_phones(cluster, ROOT)
    install(cluster, params_toml(cluster.nodes, PBX + pbx_parts.asterisk_options()))
    settled(cluster)
    return cluster


@pytest.fixture
def phones(pbx):
    """The two softphones (UDP, TCP) registered to the service address, and
    the ExitStack that stops them (and SIPp) after the test."""
    with ExitStack() as stack:
        phones = pbx_parts.start_phones(pbx, stack)
        # A registration reaches the standby with its next astdb pull (every
        # unpromoted monitor); one younger than that is not carried over.
        wait_until(lambda: pbx_parts.standby_holds_the_registrations(pbx, active(pbx), ROOT),
                   30, what="the active's registrations in the standby's snapshot")
        yield phones, stack


def assert_crm_verify_clean(cluster, node: str) -> None:
    """crm_verify on the live cluster: nothing but the deprecation warning
    Pacemaker 3.0 gives for stonith-enabled, which the test cluster's own
    setup (provision/cluster.sh) sets under that name."""
    verify = cluster.run(node, "crm_verify", "--live-check", "-V", check=False)
    lines = [line for line in (verify.stderr + verify.stdout).splitlines() if line.strip()
             and "legacy name 'stonith-enabled'" not in line
             and "may need attention" not in line]
    assert lines == [], verify.stderr


def test_rendered_cib_installs_and_crm_verify_is_clean(pbx):
    node = pbx.nodes[0]
    assert pbx.run(node, "pacemakerd", "--version").stdout.startswith("Pacemaker 3.")
    rendered = pbx.run(node, SIP_HA, "cib", "render", "--params", PARAMS).stdout
    assert 'validate-with="pacemaker-4.' in rendered
    assert_crm_verify_clean(pbx, node)
    diff = pbx.run(node, SIP_HA, "cib", "diff", "--params", PARAMS).stdout
    assert diff == "the cluster already runs this configuration\n"
    assert active(pbx) == "node1"      # the preferred node
    assert answers(pbx)


def test_the_shipped_timing_is_in_effect_on_every_node(pbx):
    """[timings]' defaults, applied by `sip-ha cib apply`: Corosync's token
    and consensus on every node, the two-node fencing delay, and the
    priority on the service address that the delay favours."""
    for node in pbx.nodes:
        running = pbx.run(node, "corosync-cmapctl", "runtime.config.totem.").stdout
        assert "runtime.config.totem.token (u32) = 1000\n" in running, (node, running)
        assert "runtime.config.totem.consensus (u32) = 1200\n" in running, (node, running)
    def cib(xpath: str) -> str:
        return pbx.run(pbx.nodes[0], "cibadmin", "--query", "--xpath", xpath).stdout
    assert 'value="5s"' in cib("//cluster_property_set/nvpair[@name='priority-fencing-delay']")
    assert 'value="1"' in cib("//primitive[@id='pbx-ip']/meta_attributes/nvpair[@name='priority']")
    assert not [note for note in status(pbx)["needs_attention"] if "Corosync" in note]


def test_hard_loss_of_the_active_node_is_fenced_and_never_failed_back(pbx, phones):
    old = active(pbx)
    new = other(pbx, old)
    with clients_through(pbx, *phones, f"power cut of {old}", FENCED_LIMIT):
        fenced_failover(pbx, pbx.kill_node, old, new)
    # The old master reboots (fence action reboot) and comes back as a healthy
    # standby; the service stays where it is.
    pbx.wait_all_online(timeout=180)
    wait_until(lambda: standby_ready(pbx, old), 120, what=f"{old} a healthy standby")
    time.sleep(15)
    assert active(pbx) == new


def redundancy_back(pbx, old: str) -> None:
    """With nobody's cleanup, OLD runs a healthy standby again (its failure
    expired: failure-timeout), and the service stays where it went.  How
    soon is measured by make bench (failover_compare)."""
    wait_until(lambda: standby_ready(pbx, old), REDUNDANCY_LIMIT,
               what=f"{old} a healthy standby again by itself")
    assert active(pbx) == other(pbx, old)


def test_asterisk_crash_fails_over(pbx, phones):
    old = active(pbx)
    with clients_through(pbx, *phones, f"Asterisk SIGKILL on {old}", LOCAL_LIMIT):
        pbx.kill_process(old, "asterisk", user="asterisk")
        wait_until(lambda: active(pbx) == other(pbx, old), LOCAL_LIMIT, what="failover")
    redundancy_back(pbx, old)


def test_asterisk_hang_fails_over(pbx, phones):
    old = active(pbx)
    with clients_through(pbx, *phones, f"Asterisk SIGSTOP on {old}", LOCAL_LIMIT):
        # SIGSTOP: alive, answering nothing
        pbx.kill_process(old, "asterisk", sig=19, user="asterisk")
        wait_until(lambda: active(pbx) == other(pbx, old), LOCAL_LIMIT, what="failover")
    redundancy_back(pbx, old)


def test_gateway_lost_from_the_active_node_moves_the_service(pbx, phones):
    old = active(pbx)
    block = ["ip", "rule", "add", "prohibit", "to", TRUNK_IP, "priority", "90"]
    try:
        with clients_through(pbx, *phones, f"gateway lost on {old}", LOCAL_LIMIT):
            pbx.run(old, *block)
            wait_until(lambda: active(pbx) == other(pbx, old), LOCAL_LIMIT,
                       what="failover after the gateway loss")
        # Asterisk keeps running there as a standby.
        assert {n["node"]: n["role"] for n in service(pbx)["nodes"]}[old] == "Unpromoted"
        state = status(pbx)
        assert any(f"{old} reaches 0 of 1 gateway" in note for note in state["needs_attention"])
    finally:
        pbx.run(old, "ip", "rule", "del", *block[3:], check=False)


def test_network_partition_of_the_active_node(pbx, phones):
    old = active(pbx)
    new = other(pbx, old)
    with clients_through(pbx, *phones, f"partition of {old}", FENCED_LIMIT):
        fenced_failover(pbx, pbx.partition, old, new)


def test_manual_failover_with_sip_ha(pbx, phones):
    old = active(pbx)
    with clients_through(pbx, *phones, "sip-ha failover", LOCAL_LIMIT, planned=True) as seen:
        res = pbx.run(old, SIP_HA, "failover", "--params", PARAMS, timeout=300)
    new = other(pbx, old)
    assert res.stdout.startswith(f"failover pbx: {old} -> {new}, SIP-ACTIVE after "), res.stdout
    assert "SIP outage" in res.stdout
    print(f"sip-ha failover: {res.stdout.strip()}; phone outage {seen['outage']} s")
    assert "cli-" not in pbx.run(new, "cibadmin", "--query", "--scope", "constraints").stdout
    time.sleep(10)
    assert active(pbx) == new       # stickiness holds without a constraint


def test_manual_failover_with_pcs_resource_move(pbx, phones):
    old = active(pbx)
    new = other(pbx, old)
    with clients_through(pbx, *phones, "pcs resource move", LOCAL_LIMIT, planned=True):
        pbx.run(old, "pcs", "resource", "move", CLONE, new, "--promoted", timeout=180)
        wait_until(lambda: active(pbx) == new, LOCAL_LIMIT, what="the move")
    pbx.run(old, "pcs", "resource", "clear", CLONE, check=False)
    time.sleep(10)
    assert active(pbx) == new


def test_failback_refused_until_the_old_master_is_ready_then_accepted(pbx):
    old = active(pbx)
    new = other(pbx, old)
    fenced_failover(pbx, pbx.kill_node, old, new)
    # While the old master is away or not yet a healthy standby: refused.
    # (The old master is named: the service may have started on either node.)
    failback = [SIP_HA, "failback", "--to", old, "--params", PARAMS]
    res = pbx.run(new, *failback, check=False)
    assert res.returncode == 3, res.stdout + res.stderr
    assert f"not moving pbx to {old}" in res.stderr
    assert active(pbx, node=new) == new
    pbx.wait_all_online(timeout=180)
    wait_until(lambda: standby_ready(pbx, old), 120, what=f"{old} a healthy standby")
    assert active(pbx) == new                  # no automatic failback
    with phone(pbx, LOCAL_LIMIT) as seen:
        res = pbx.run(new, *failback, timeout=300)
    assert res.stdout.startswith(f"failback pbx: {new} -> {old}"), res.stdout
    print(f"failback: {res.stdout.strip()}; phone outage {seen['outage']} s")
    time.sleep(10)
    assert active(pbx) == old
    history = pbx.run(new, SIP_HA, "logs", "--params", PARAMS, "--since", "-1h",
                      check=False).stdout
    assert "SIP-HA: failback pbx" in history


def test_a_standby_refusing_its_dialplan_stays_a_standby_and_is_not_chosen(pbx):
    """A dialplan that does not parse reaches the standby: its Asterisk keeps
    the previous one, the standby stays up (no failure, no 190), the refusal
    is shown, and a planned failover does not pick that node."""
    old = active(pbx)
    standby = other(pbx, old)
    ext = f"{ROOT}/etc/extensions.conf"
    original = pbx.run(standby, "cat", ext).stdout

    def refused() -> str | None:
        return {n["node"]: n for n in service(pbx)["nodes"]}[standby]["config_refused"]
    try:
        pbx.run(standby, "sh", "-c", f"printf '[broken\\n' >>{ext}")
        reason = wait_until(refused, 60, what="the refusal reported")
        print(f"standby {standby}: {reason}")
        assert "extensions.conf" in reason
        health = {n["node"]: n for n in service(pbx)["nodes"]}[standby]
        assert (health["role"], health["failed"]) == ("Unpromoted", False), health
        assert any("refused configuration" in note for note in status(pbx)["needs_attention"])
        res = pbx.run(old, SIP_HA, "failover", "--params", PARAMS, check=False, timeout=120)
        assert res.returncode == 3, res.stdout + res.stderr
        assert "refused configuration" in res.stderr, res.stderr
        assert active(pbx) == old
    finally:
        pbx.run(standby, "tee", ext, input=original)
    wait_until(lambda: refused() is None, 60, what="the refusal cleared by the fixed file")


@pytest.fixture
def whole_pbx(cluster, asterisk_files, tmp_path):  # noqa: F811
    """The example parameter file's PBX: Asterisk with its CDR database, file
    sync, web GUI and alerts (mailed to a real SMTP server on the trunk
    provider's host), as one service."""
    trunk = AlertNetns(existing=f"{cluster.prefix}-trunk")
    cluster.mail = MailReceiver(trunk, tmp_path, host=TRUNK_IP)
    cluster.mail.start()
    try:
        install_whole_pbx(cluster, TEST_ALERTS)
        yield cluster
    finally:
        trunk.down()
    cluster.wait_all_online(timeout=240)   # a fenced node reboots first
    pbx_parts.cleanup(cluster, ROOT)
    for node in cluster.nodes:
        for name, text in asterisk_files.items():
            if name.startswith("etc/"):
                cluster.run(node, "tee", f"{ROOT}/{name}", input=text, check=False)


def test_the_whole_pbx_survives_a_power_cut_and_fails_back_after_the_reverse_sync(whole_pbx):
    """A dialplan edit on the active is live on the new active after a power
    cut; the phones, never restarted, call each other; the CDR of the call
    before the cut is there and the new active writes its own; the web
    GUI's session is still logged in.  SIPp calls throughout.  Then the
    outage of issue #11: what the survivor changed (dialplan, a voicemail
    message, CDRs) is on the old master before the failback the operator
    approves, and the sync runs from the old master again after it."""
    pbx = whole_pbx
    old = active(pbx)
    new = other(pbx, old)
    stack = ExitStack()
    with stack:
        phones = pbx_parts.start_phones(pbx, stack)
        for caller, callee in pbx_parts.CALLS:
            took, outcome = call_until_answered(pbx, phones, caller, callee, 10)
            print(f"before: {caller} -> {callee}: {outcome} ({took:.1f} s of calling)")
        body, cookie = web(pbx, "?login=operator")
        assert body == f"logged in as operator ({old})", body
        asterisk(pbx, old, ROOT, "channel originate Local/600@phones application Hangup")
        wait_until(lambda: any(row.startswith("600 ") for row in cdr_rows(pbx, new)), 60,
                   what="the CDR of the call on the active, replicated to the standby")
        before = cdr_rows(pbx, old)

        took = edit_on_the_active(pbx, old, new, cookie)
        print(f"dialplan edit on {old} loaded on {new} after {took:.1f} s")

        load = pbx_parts.sipp(pbx, stack, rate=2, calls=120)
        load.start()
        with phone(pbx, FENCED_LIMIT) as seen:
            fenced_failover(pbx, pbx.kill_node, old, new)
        back = time.monotonic()
        print(f"power cut of {old}: SIP outage {seen['outage']} s")
        # Before the old master is back (the fence rebooted it): the outage's changes
        changes_during_the_outage(pbx, old, new)
        for caller, callee in pbx_parts.CALLS:
            took, outcome = call_until_answered(pbx, phones, caller, callee, 60)
            print(f"after: {caller} ({pbx_parts.PHONES[caller][0]}) -> {callee} "
                  f"({pbx_parts.PHONES[callee][0]}) answered "
                  f"{time.monotonic() - back:.1f} s after the service answered again, "
                  f"{took:.1f} s of calling ({outcome})")
        figures = load.wait()
        print(f"SIPp through the power cut ({' '.join(load.argv()[1:2])}, 2 calls/s): "
              f"{figures}")
        assert figures.created > 0 and figures.successful > 0, load.errors()

    assert "'750'" in asterisk(pbx, new, ROOT, "dialplan show 750@phones")
    # Promoted before the address started: no CDR of the new active fails.
    assert service(pbx, node=new)["database_node"] == new
    asterisk(pbx, new, ROOT, "channel originate Local/750@phones application Hangup")
    wait_until(lambda: any(row.startswith("750 ") for row in cdr_rows(pbx, new)), 60,
               what="the new active's CDR")
    after = cdr_rows(pbx, new)
    assert after[:len(before)] == before, (before, after)
    print(f"CDRs on {new}: {len(before)} before the cut, {len(after)} now")
    body = wait_until(lambda: web(pbx, cookie=cookie)[0] or None, 60,
                      what="the web GUI on the new active")
    assert body == f"logged in as operator ({new})", body
    mails = wait_until(lambda: [str(m["Subject"]) for m in pbx.mail.messages()
                                if f"node {old} was fenced" in str(m["Subject"])], 60,
                       what="the operator's mail about the fencing")
    print(f"mailed: {mails}")
    failback_after_the_reverse_sync(pbx, old, new)


VOICEMAIL = f"{ROOT}/spool/voicemail/default/100/INBOX"


def changes_during_the_outage(pbx, old: str, new: str) -> None:
    """On NEW, SIP-ACTIVE while OLD is away: a dialplan edit, a voicemail
    message and CDRs; `sip-ha failback` refuses, naming why."""
    pbx.run(new, "sh", "-c", "printf 'exten => 751,1,Answer()\\n same => n,Hangup()\\n' "
            f">>{ROOT}/etc/extensions.conf")
    asterisk(pbx, new, ROOT, "dialplan reload")
    pbx.run(new, "install", "-d", "-o", "asterisk", "-g", "asterisk", VOICEMAIL)
    pbx.run(new, "sh", "-c", f"head -c 48000 /dev/urandom >{VOICEMAIL}/msg0000.wav; "
            f"printf '[message]\\ncallerid=101\\n' >{VOICEMAIL}/msg0000.txt; "
            f"chown asterisk:asterisk {VOICEMAIL}/msg0000.*")
    for number in range(3):
        pbx_parts.sql(pbx, new, "INSERT INTO asteriskcdrdb.cdr (dst, disposition) "
                                f"VALUES ('outage-{number}', 'ANSWERED')")
    refused = pbx.run(new, SIP_HA, "failback", "--to", old, "--params", PARAMS, check=False)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    print(f"failback while {old} is away: {refused.stderr.strip()}")


def failback_after_the_reverse_sync(pbx, old: str, new: str) -> None:
    """`sip-ha failback --wait` moves once OLD holds what NEW changed during
    the outage (the reverse sync, the replica); then OLD has every change
    and pushes to NEW again."""
    failback = [SIP_HA, "failback", "--to", old, "--params", PARAMS]
    pbx.wait_all_online(timeout=240)
    with phone(pbx, LOCAL_LIMIT) as seen:
        res = pbx.run(new, *failback, "--wait", "300", timeout=600)
    assert res.stdout.startswith(f"failback pbx: {new} -> {old}"), res.stdout + res.stderr
    print(f"failback after the reverse sync: {res.stdout.strip()}; phone outage "
          f"{seen['outage']} s; while it waited:\n{res.stderr.strip()}")

    assert active(pbx) == old
    trees = " ".join(pbx_parts.synced_folders(ROOT))
    sums = {node: pbx.run(node, "sh", "-c", f"find {trees} -type f "
                          "! -name '*.swp' -print0 | sort -z | xargs -0 md5sum").stdout
            for node in (old, new)}
    assert sums[old] == sums[new], (sums[old], sums[new])
    assert f"{VOICEMAIL}/msg0000.wav" in sums[old]
    assert "'751'" in asterisk(pbx, old, ROOT, "dialplan show 751@phones")
    rows = {node: cdr_rows(pbx, node) for node in (old, new)}
    assert rows[old] == rows[new], rows
    assert [r for r in rows[old] if r.startswith("outage-")] == [
        f"outage-{n} ANSWERED" for n in range(3)], rows[old]
    print(f"after the failback: {len(sums[old].splitlines())} synced files and "
          f"{len(rows[old])} CDRs the same on both nodes")
    # The normal direction again: the old master pushes.
    pbx.run(old, "tee", f"{ROOT}/lib/sounds/custom/after-failback.txt", input="back\n")
    wait_until(lambda: pbx.run(new, "cat", f"{ROOT}/lib/sounds/custom/after-failback.txt",
                               check=False).stdout == "back\n", 30,
               what=f"{old}'s file on {new}")

