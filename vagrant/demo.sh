#!/bin/bash
# `make demo`: a SIP-HA cluster on this machine, configured the way an
# administrator does it, then a power cut and the operator's failback.
#
# Installs what is missing (vagrant, vagrant-lxc, lxc, debootstrap), builds
# or reuses the box, brings the cluster up (LXC containers, real fencing),
# writes the SIP-HA parameter file and installs the rendered CIB with
# `sip-ha cib apply` (Kamailio under ocf:sipha:sipserver, the service address
# under ocf:sipha:service-ip, gateway ping, file sync, fencing, the alert
# that mails the operator), shows `sip-ha status` and a synced file, kills
# the SIP-ACTIVE node like a power cut while a phone keeps asking the service
# address, shows the operator's mailbox, shows that the recovered node does
# not take the service back on its own, and approves the failback with
# `sip-ha failback`.
# Run as root. Environment: see vagrant/env.sh and vagrant/lib/settings.rb.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=vagrant/env.sh
. "$HERE/env.sh"
NET=${SIPHA_NET:-198.51.100}
SERVICE_IP=${SIPHA_SERVICE_IP:-$NET.100}
TRUNK_IP=$NET.201
PARAMS=/etc/sip-ha/cluster.toml
SYNC_DIR=/srv/sip-ha-demo          # stands for /etc/asterisk, custom sounds, voicemail
STATE=$SIPHA_CACHE/run/$SIPHA_PREFIX

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
node() { local n=$1; shift; sipha_attach -n "$SIPHA_PREFIX-$n" --clear-env \
    --set-var PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin --set-var LC_ALL=C \
    --set-var HOME=/root -- "$@"; }
phone() { ip netns exec "$SIPHA_PREFIX-phone" python3 "$HERE/sip/sipsim.py" "$@"; }
# FIELD of the demo service in `sip-ha status --json` asked on NODE.
service_field() {
    node "$1" sip-ha status --json 2>/dev/null | python3 -c '
import json, sys
try:
    state = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
svc = state["services"][0]
field = sys.argv[1]
if field == "ready":   # nodes that are healthy hot standbys reaching the gateway
    print(" ".join(n["node"] for n in svc["nodes"] if n["healthy"]
                   and n["node"] != svc["active_node"] and n["gateways"] == svc["gateway_count"]))
else:
    print(svc[field] or "")' "$2" || true
}
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds
    local limit=$1 what=$2 i
    shift 2
    for ((i = 0; i < limit; i++)); do "$@" && return 0; sleep 1; done
    echo "demo.sh: gave up waiting for $what after $limit s" >&2
    exit 1
}
is_active() { [ "$(service_field "$1" active_node)" = "$2" ]; }
is_ready() { [[ " $(service_field "$1" ready) " == *" $2 "* ]]; }
probe_start() {
    rm -f "$STATE/demo.stop"
    phone probe --to "$SERVICE_IP" --interval 0.2 --timeout 0.5 --duration 300 \
        --until-file "$STATE/demo.stop" >"$STATE/demo-probe.log" 2>&1 &
    PROBE=$!
    sleep 2
}
# The operator's mailbox: a real SMTP server (aiosmtpd) on the trunk host,
# delivering into a Maildir; mailbox() lists what arrived.
# Debian's python3 (python3-aiosmtpd), whatever python3 is first on PATH.
MAILDIR=$STATE/demo-maildir
mail_start() {
    rm -rf "$MAILDIR"
    ip netns exec "$SIPHA_PREFIX-trunk" /usr/bin/python3 -m aiosmtpd -n -l "$TRUNK_IP:2525" \
        -c aiosmtpd.handlers.Mailbox "$MAILDIR" >"$STATE/demo-smtp.log" 2>&1 &
    SMTP=$!
}
mailbox() {
    /usr/bin/python3 - "$MAILDIR" <<'PY'
import email.policy, mailbox, sys
box = mailbox.Maildir(sys.argv[1], create=False)
for key in sorted(box.iterkeys(), key=lambda k: box.get_message(k).get_date()):
    mail = box.get_bytes(key)
    msg = email.message_from_bytes(mail, policy=email.policy.default)
    print(f"  {msg['Date'][17:25]}  {msg['From']}: {msg['Subject']}")
PY
}
probe_stop() {  # sets OUTAGE: the longest time the phone got no answer
    sleep 2
    touch "$STATE/demo.stop"
    wait "$PROBE" || true
    echo "phone's view:"; sed 's/^/  /' "$STATE/demo-probe.log"
    OUTAGE=$(tail -1 "$STATE/demo-probe.log" | python3 -c \
        'import json,sys; print(json.load(sys.stdin)["longest_outage_s"])')
}

[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root" >&2; exit 1; }
T0=$SECONDS

say "host tools"
"$HERE/host-setup.sh"

say "box (Debian $SIPHA_DIST, cached in $SIPHA_CACHE/boxes)"
"$HERE/build-box.sh" "$SIPHA_DIST"

say "cluster: $SIPHA_NODES nodes, containers $SIPHA_PREFIX-node*, bridge $SIPHA_PREFIX-br0"
"$HERE/host-side.sh" up
vagrant up --provider=lxc | grep -E '^==> .*(Importing|Starting|booted|provisioner)|Cluster (has|started)' || true
"$HERE/host-side.sh" root-ssh
NODES=$(seq -s ' ' -f 'node%g' 1 "$SIPHA_NODES")
QUOTED=$(printf '"%s", ' $NODES)

say "SIP-HA parameter file $PARAMS (node1), pushed with sip-ha copy-config"
node node1 mkdir -p /etc/sip-ha
sed "s/SERVICE_IP/$SERVICE_IP/g" "$HERE/sip/kamailio-sipha.cfg" \
    | node node1 sh -c 'cat >/etc/sip-ha/kamailio.cfg'
node node1 sh -c "umask 077; cat >$PARAMS" <<TOML   # it holds the fence secret
[cluster]
nodes = [${QUOTED%, }]
gateways = ["$TRUNK_IP"]           # the trunk provider: the active node must reach it

[[service]]
name = "sip"
server = "sipserver"
preferred_node = "node1"
ip = ["$SERVICE_IP/24"]
trunk_networks = ["$TRUNK_IP"]
[service.options]
profile = "kamailio"
config = "/etc/sip-ha/kamailio.cfg"
sip_uris = "sip:127.0.0.1"
control_command = "none"
[service.sync]                      # file sync: the SIP-ACTIVE node pushes
config = "/etc/sip-ha/sync.toml"

[alerts]                            # notifications through sip-ha-alert
recipients = ["voip-admins@example.org"]
smtp_server = "$TRUNK_IP:2525"
cluster_name = "demo"

[[fencing]]
id = "sipha-fence"
agent = "fence_sipha"
targets = [${QUOTED%, }]
[fencing.options]
ipaddr = "$NET.1"
ipport = "${SIPHA_FENCE_PORT:-7410}"
passwd = "$(cat "$STATE/fence.secret")"
TOML
node node1 sh -c "cat >/etc/sip-ha/sync.toml" <<TOML
# sip-ha-sync: folders the SIP-ACTIVE node copies to the others (rsync over ssh)
folders = ["$SYNC_DIR"]
[ssh]
identity_file = "/root/.ssh/id_ed25519"
$(for n in $NODES; do printf '[[peers]]\nname = "%s"\n' "$n"; done)
TOML
for n in $NODES; do node "$n" mkdir -p "$SYNC_DIR"; done
node node1 cat $PARAMS | sed -e 's/^passwd = .*/passwd = "(the fence secret)"/' -e 's/^/  /'
node node1 sip-ha copy-config --params $PARAMS
# Kamailio on the standby binds the service address before it arrives.
for n in $NODES; do
    node "$n" sh -c 'echo "net.ipv4.ip_nonlocal_bind = 1" >/etc/sysctl.d/60-sip-ha.conf
                     sysctl -q -w net.ipv4.ip_nonlocal_bind=1'
done

mail_start
say "sip-ha cib apply: the rendered configuration into the running cluster"
# (the whole change is a diff; shown here: what it adds)
node node1 sip-ha cib apply --params $PARAMS \
    | grep -E '^\+ *<(primitive|clone|rsc_[a-z]+|alert) |^applied|already runs' | cut -c1-110
wait_for 120 "the service active on node1" is_active node1 node1
for n in $NODES; do
    [ "$n" = node1 ] || wait_for 120 "$n a hot standby" is_ready node1 "$n"
done
node node1 sip-ha status --params $PARAMS || true

say "sip-ha test-alerts: does the operator get the cluster's mail?"
node node1 sip-ha test-alerts --params $PARAMS

say "a phone asks $SERVICE_IP (SIP OPTIONS over UDP)"
phone options --to "$SERVICE_IP"

ACTIVE=$(service_field node1 active_node)
SURVIVOR=node1
[ "$ACTIVE" = node1 ] && SURVIVOR=node2
say "file sync: a file written on $ACTIVE (SIP-ACTIVE) appears on $SURVIVOR"
echo "exten => 100,1,Answer()" | node "$ACTIVE" sh -c "cat >$SYNC_DIR/extensions_custom.conf"
has_file() { node "$1" test -s "$SYNC_DIR/extensions_custom.conf"; }
wait_for 30 "the file on $SURVIVOR" has_file "$SURVIVOR"
node "$SURVIVOR" ls -l "$SYNC_DIR"
say "power cut: $ACTIVE (SIP-ACTIVE) loses its link, then is killed (lxc-stop -k); the phone asks every 0.2 s"
# The probe and the mail server never outlive the demo.
trap 'touch "$STATE/demo.stop"; [ -z "${SMTP:-}" ] || kill "$SMTP" 2>/dev/null' EXIT
probe_start
FENCE_MARK=$(wc -l <"$STATE/fenced.log")
# Silent, as a real power cut: no FIN or RST leaves the dying node.
ip link set "$SIPHA_PREFIX-${ACTIVE/node/n}" down
lxc-stop -k -n "$SIPHA_PREFIX-$ACTIVE"
echo "$(date +%T) $ACTIVE killed"
wait_for 120 "the service on $SURVIVOR" is_active "$SURVIVOR" "$SURVIVOR"
probe_stop
echo "fence daemon:"; tail -n +"$((FENCE_MARK + 1))" "$STATE/fenced.log" | sed 's/^/  /'
say "SIP service now on $SURVIVOR; longest outage seen by the phone: $OUTAGE s"

say "the operator's mailbox (sip-ha-alert, e-mail; syslog and SNMP traps work alike)"
mail_seen() { mailbox 2>/dev/null | grep -q fenced; }
wait_for 30 "the mails" mail_seen
mailbox

say "$ACTIVE was fenced (rebooted) and rejoins as a hot standby; no automatic failback"
wait_for 180 "$ACTIVE a hot standby again" is_ready "$SURVIVOR" "$ACTIVE"
sleep 10
node "$SURVIVOR" sip-ha status --params $PARAMS || true

say "the operator checked $ACTIVE and approves the failback: sip-ha failback"
probe_start
node "$SURVIVOR" sip-ha failback --to "$ACTIVE" --params $PARAMS
probe_stop
say "SIP service back on $ACTIVE; longest outage seen by the phone: $OUTAGE s"

say "failover history from every node: sip-ha logs"
node "$ACTIVE" sip-ha logs --params $PARAMS --since -30min | tail -n 20

say "done in $((SECONDS - T0)) s. Tear down with:"
echo "    SIPHA_PREFIX=$SIPHA_PREFIX $HERE/teardown.sh"
