#!/bin/bash
# Form the cluster, as an administrator does, from the last node once all
# nodes are up: pcs host auth, pcs cluster setup/start/enable, fencing.
# Idempotent: does nothing but report if the cluster already exists.
set -euo pipefail
export LC_ALL=C
NAMES=() ADDRS=()
for pair in $SIPHA_NODES; do NAMES+=("${pair%%=*}"); ADDRS+=("${pair#*=}"); done

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local limit=$1 what=$2; shift 2
    local t0=$SECONDS
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS - t0 > limit)); then echo "timeout waiting for $what" >&2; return 1; fi
        sleep 1
    done
}

if [ -f /etc/corosync/corosync.conf ] && pcs status >/dev/null 2>&1; then
    echo "cluster already formed"
    exit 0
fi

for a in "${ADDRS[@]}"; do
    wait_for 60 "pcsd on $a" bash -c "exec 3<>/dev/tcp/$a/2224"
done

HOSTS=() SETUP=()
for i in "${!NAMES[@]}"; do
    HOSTS+=("${NAMES[$i]}" "addr=${ADDRS[$i]}")
    SETUP+=("${NAMES[$i]}" "addr=${ADDRS[$i]}")
done
pcs host auth "${HOSTS[@]}" -u hacluster -p sipha-test
pcs cluster setup "$SIPHA_CLUSTER_NAME" "${SETUP[@]}" --start --enable --wait=120
wait_for 120 "quorum" corosync-quorumtool -s
wait_for 120 "a DC" bash -c "crm_mon -1 --output-as xml | grep -q 'current_dc.*present=\"true\"'"

# Real fencing: one device, the host-side fence daemon, for all nodes.
: "${SIPHA_FENCE_PASSWD:?no fence secret: run vagrant/host-side.sh up first}"
pcs property set stonith-enabled=true
pcs stonith create sipha-fence fence_sipha ipaddr="$SIPHA_HOST_IP" \
    ipport="$SIPHA_FENCE_PORT" passwd="$SIPHA_FENCE_PASSWD" \
    pcmk_host_list="${NAMES[*]}" op monitor interval=60s
wait_for 120 "cluster idle" crm_resource --wait --timeout=110
pcs status --full | sed -n '1,40p'
