#!/bin/bash
# `make demo`: a two-node SIP-HA cluster on this machine, then a failover.
#
# Installs what is missing (vagrant, vagrant-lxc, lxc, debootstrap), builds
# or reuses the box, brings the cluster up (LXC containers, real fencing),
# creates the SIP service (service address + SIP server), prints the
# status, kills the active node like a power cut and shows the service
# address answering a phone throughout, with the measured outage.
# Run as root. Environment: see vagrant/env.sh and vagrant/lib/settings.rb.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=vagrant/env.sh
. "$HERE/env.sh"
SERVICE_IP=${SIPHA_SERVICE_IP:-198.51.100.100}
STATE=$SIPHA_CACHE/run/$SIPHA_PREFIX

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
node() { local n=$1; shift; lxc-attach -n "$SIPHA_PREFIX-$n" --clear-env \
    --set-var PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin --set-var LC_ALL=C -- "$@"; }
phone() { ip netns exec "$SIPHA_PREFIX-phone" python3 "$HERE/sip/sipsim.py" "$@"; }
active_node() {
    node node1 crm_resource --resource sip --locate 2>/dev/null \
        | sed -n 's/.*running on: *\([^ ]*\).*/\1/p' | head -1
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

say "SIP service: address $SERVICE_IP and its SIP server"
node node1 sipha-test-service "$SERVICE_IP"
node node1 pcs status

say "a phone asks $SERVICE_IP (SIP OPTIONS)"
phone options --to "$SERVICE_IP"

ACTIVE=$(active_node)
[ -n "$ACTIVE" ] || { echo "the SIP service is not running anywhere" >&2; exit 1; }
say "failover: $ACTIVE (active) loses power (lxc-stop -k); the phone keeps asking every 0.2 s"
rm -f "$STATE/demo.stop"
phone probe --to "$SERVICE_IP" --interval 0.2 --timeout 0.5 --duration 180 \
    --until-file "$STATE/demo.stop" >"$STATE/demo-probe.log" 2>&1 &
PROBE=$!
trap 'touch "$STATE/demo.stop"' EXIT   # the probe never outlives the demo
sleep 2
FENCE_MARK=$(wc -l <"$STATE/fenced.log")
lxc-stop -k -n "$SIPHA_PREFIX-$ACTIVE"
echo "$(date +%T) $ACTIVE killed"
SURVIVOR=node1
[ "$ACTIVE" = node1 ] && SURVIVOR=node2
for _ in $(seq 120); do
    NOW=$(node "$SURVIVOR" crm_resource --resource sip --locate 2>/dev/null \
        | sed -n 's/.*running on: *\([^ ]*\).*/\1/p' | head -1)
    [ -n "$NOW" ] && [ "$NOW" != "$ACTIVE" ] && break
    sleep 1
done
sleep 3
touch "$STATE/demo.stop"
wait "$PROBE" || true
echo "fence daemon:"; tail -n +"$((FENCE_MARK + 1))" "$STATE/fenced.log" | sed 's/^/  /'
echo "phone's view:"; sed 's/^/  /' "$STATE/demo-probe.log"
OUTAGE=$(tail -1 "$STATE/demo-probe.log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["longest_outage_s"])')
say "SIP service now on ${NOW:-?}; longest outage seen by the phone: ${OUTAGE} s"

say "the fenced node reboots and rejoins"
for _ in $(seq 90); do
    node "$SURVIVOR" crm_mon --output-as xml 2>/dev/null \
        | grep -q "name=\"$ACTIVE\".*online=\"true\"" && break
    sleep 1
done
node "$SURVIVOR" pcs status | sed -n '/Node List/,/Daemon Status/p'
say "done in $((SECONDS - T0)) s. Tear down with:"
echo "    SIPHA_PREFIX=$SIPHA_PREFIX $HERE/teardown.sh"
