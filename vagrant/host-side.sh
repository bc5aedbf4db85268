#!/bin/bash
# Host side of an LXC test cluster: our own bridge, the fence daemon bound to
# the bridge address, and the "phone" and "trunk provider" hosts (network
# namespaces running vagrant/sip/sipsim.py).
#
#   host-side.sh up          create what is missing (idempotent)
#   host-side.sh down        stop our processes, remove namespaces, links, bridge
#   host-side.sh clean       also kill and destroy every PREFIX-* container
#   host-side.sh leftovers   list what of this prefix exists; exit 1 if anything
#   host-side.sh status      addresses, pids
#   host-side.sh root-ssh    root of every node may ssh to every other node
#                            (what sip-ha copy-config and sip-ha logs use)
#   host-side.sh qdevice     a quorum device for the (running, two-node)
#                            cluster: corosync-qnetd in PREFIX-qnetd, the
#                            nodes' TLS certificates, corosync-qdevice on
#                            (SIPHA_QDEVICE_TIMEOUT, SIPHA_QDEVICE_SYNC_TIMEOUT ms)
#
# Everything is named PREFIX-* (SIPHA_PREFIX, default sipha); processes are
# stopped only by the PIDs recorded in the state folder.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=vagrant/env.sh
. "$HERE/env.sh"
P=$SIPHA_PREFIX
NET=${SIPHA_NET:-198.51.100}
NET6=${SIPHA_NET6:-2001:db8:5164:}
CACHE=${SIPHA_CACHE:-/var/cache/sip-ha}
STATE=${SIPHA_STATE:-$CACHE/run/$P}
FENCE_PORT=${SIPHA_FENCE_PORT:-7410}
# The fence daemon's secret: random per cluster, root's alone; clean removes it.
FENCE_SECRET=$STATE/fence.secret
BR=$P-br0
HOSTS="phone:200 trunk:201"
# The quorum device's server, a third machine as far as the nodes can tell;
# its CA, keys and socket live under Q (clean removes them).
QNETD_IP=$NET.202
Q=$STATE/qnetd
QDEVICE_DB=/etc/corosync/qdevice/net/nssdb

[[ $P =~ ^[a-z0-9]{1,8}$ ]] || { echo "SIPHA_PREFIX: 1-8 of [a-z0-9]" >&2; exit 2; }

check_net() {
    # Never put a test bridge on (or route a test range into) the host's
    # own networks or the package mirrors'.
    case $NET in
        198.51.100) ;;
        *) echo "refusing SIPHA_NET=$NET: only 198.51.100 is allowed here" >&2; exit 2 ;;
    esac
    case $NET6 in
        2001:db8:*) ;;
        *) echo "refusing SIPHA_NET6=$NET6: must be inside 2001:db8::/32" >&2; exit 2 ;;
    esac
    ip link show "$BR" >/dev/null 2>&1 && return 0
    local used
    used=$( (ip -o -4 addr show | grep " $NET\."; ip -4 route show | grep "^$NET\.") || true)
    if [ -n "$used" ]; then
        echo "refusing: $NET.0/24 is already in use on this host:" >&2
        echo "$used" >&2
        exit 2
    fi
}

pid_alive() {  # pid_alive NAME -> pid of our process NAME, if it still runs
    local f=$STATE/$1.pid pid
    [ -f "$f" ] || return 1
    pid=$(cat "$f")
    # corosync-qnetd takes no extra argument: its own folder tags it.
    local tag="--sipha-tag=$P-$1"
    [ "$1" = qnetd ] && tag="nss_db_dir=$Q/nssdb"
    [ -d "/proc/$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$tag" \
        && echo "$pid"
}

start_bg() {  # start_bg NAME COMMAND... (the command gets --sipha-tag)
    local name=$1; shift
    pid_alive "$name" >/dev/null && return 0
    nohup "$@" >>"$STATE/$name.out" 2>&1 </dev/null 9>&- &
    echo $! >"$STATE/$name.pid"
}

stop_bg() {
    local name=$1 pid i
    if pid=$(pid_alive "$name"); then
        kill "$pid" 2>/dev/null || true
        for i in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
        [ -d "/proc/$pid" ] && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/$name.pid"
}

up() {
    check_net
    mkdir -p "$STATE"
    if ! ip link show "$BR" >/dev/null 2>&1; then
        ip link add name "$BR" type bridge stp_state 0 forward_delay 0
        # Nothing arriving on the test bridge is ever forwarded elsewhere.
        sysctl -q -w "net.ipv4.conf.$BR.forwarding=0" "net.ipv6.conf.$BR.forwarding=0" \
            "net.ipv6.conf.$BR.accept_ra=0"
        ip addr add "$NET.1/24" dev "$BR"
        ip -6 addr add "$NET6:1/64" dev "$BR" nodad
        ip link set "$BR" up
    fi
    local h name
    for h in $HOSTS; do
        name=${h%%:*}
        netns_host "$name" "${h#*:}"
        start_bg "$name" ip netns exec "$P-$name" python3 "$HERE/sip/sipsim.py" listen \
            --bind 0.0.0.0 --port 5060 --log "$STATE/$name.log" --sipha-tag="$P-$name"
    done
    # A cluster given a quorum device keeps it across down/up.
    [ -f "$Q/nssdb/cert9.db" ] && qnetd_up
    [ -s "$FENCE_SECRET" ] ||
        (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(16))' >"$FENCE_SECRET")
    start_bg fenced python3 "$HERE/fence/sipha-fenced.py" --listen "$NET.1" \
        --port "$FENCE_PORT" --prefix "$P" --backend lxc --log "$STATE/fenced.log" \
        --passwd-file "$FENCE_SECRET" --sipha-tag="$P-fenced"
    local i
    # shellcheck disable=SC2034  # i only counts the tries
    for i in $(seq 50); do
        (exec 3<>"/dev/tcp/$NET.1/$FENCE_PORT") 2>/dev/null && break
        sleep 0.1
    done
    pid_alive fenced >/dev/null || { cat "$STATE/fenced.out" >&2; exit 1; }
}

netns_host() {  # netns_host NAME LAST: namespace PREFIX-NAME at NET.LAST on the bridge
    local ns=$P-$1
    ip netns list | grep -qw "^$ns" && return 0
    ip netns add "$ns"
    ip link add "$ns" type veth peer name eth0 netns "$ns"
    ip link set "$ns" master "$BR" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$NET.$2/24" dev eth0
    ip -n "$ns" -6 addr add "$NET6:$2/64" dev eth0 nodad
    ip -n "$ns" link set eth0 up
}

qnetd_certutil() {
    # The packaged tool only knows /etc/corosync/qnetd: give it this
    # cluster's folder there, in a mount namespace of its own.
    # shellcheck disable=SC2016  # the inner shell expands them
    unshare --mount --propagation private sh -c \
        'mount --bind "$1" /etc/corosync/qnetd && shift && exec corosync-qnetd-certutil "$@"' \
        sh "$Q" "$@" >/dev/null
}

qnetd_up() {
    netns_host qnetd "${QNETD_IP##*.}"
    install -d -m 0770 -o root -g coroqnetd "$Q" "$Q/run"
    [ -f "$Q/nssdb/cert9.db" ] || qnetd_certutil -i -G
    if ! pid_alive qnetd >/dev/null; then
        # A socket a killed qnetd left would pass for the new one's.
        rm -f "$Q/run/qnetd.sock"
        : >"$STATE/qnetd.out"
    fi
    # -d: the vote decisions in its log, for the fault timelines.
    start_bg qnetd ip netns exec "$P-qnetd" setpriv --reuid=coroqnetd --regid=coroqnetd \
        --init-groups corosync-qnetd -f -d -l "$QNETD_IP" \
        -S "nss_db_dir=$Q/nssdb,lock_file=$Q/run/qnetd.lock,local_socket_file=$Q/run/qnetd.sock"
    local i pid
    pid=$(cat "$STATE/qnetd.pid")
    # NSS's start-up takes seconds on a busy machine.  (Only the pid here:
    # its command line reads empty while ip netns exec and setpriv exec.)
    # shellcheck disable=SC2034  # i only counts the tries
    for i in $(seq 300); do
        [ -S "$Q/run/qnetd.sock" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    tail -20 "$STATE/qnetd.out" >&2
    echo "corosync-qnetd did not start" >&2
    exit 1
}

qdevice() {
    # What `pcs qdevice setup` and `pcs quorum device add` do, without a
    # pcsd on the qnetd machine: the same certificate steps (the nodes'
    # corosync-qdevice-net-certutil, signed by this cluster's qnetd CA; the
    # cluster's key goes from node1 to the others, never onto the host), then
    # the device in corosync.conf through pcs, reloaded live.
    local nodes c first
    nodes=$(containers)
    [ -n "$nodes" ] || { echo "qdevice: no running node of $P" >&2; exit 1; }
    first=$(echo "$nodes" | head -1)
    qnetd_up
    for c in $nodes; do
        sipha_attach -n "$c" -- test -f "$QDEVICE_DB/cert9.db" && continue
        sipha_attach -n "$c" -- sh -c 'umask 077; mkdir -p /etc/corosync/qdevice/net &&
            cat >/etc/corosync/qdevice/net/qnetd-cacert.crt' <"$Q/nssdb/qnetd-cacert.crt"
        sipha_attach -n "$c" -- corosync-qdevice-net-certutil -i \
            -c /etc/corosync/qdevice/net/qnetd-cacert.crt >/dev/null
    done
    if ! sipha_attach -n "$first" -- certutil -L -d "$QDEVICE_DB" -n "Cluster Cert" \
            >/dev/null 2>&1; then
        sipha_attach -n "$first" -- corosync-qdevice-net-certutil -r -n "$P" >/dev/null
        sipha_attach -n "$first" -- cat "$QDEVICE_DB/qdevice-net-node.crq" >"$Q/node.crq"
        qnetd_certutil -s -c "$Q/node.crq" -n "$P"
        sipha_attach -n "$first" -- sh -c "cat >$QDEVICE_DB/cluster-$P.crt" \
            <"$Q/nssdb/cluster-$P.crt"
        sipha_attach -n "$first" -- corosync-qdevice-net-certutil -M \
            -c "$QDEVICE_DB/cluster-$P.crt" >/dev/null
        rm -f "$Q/node.crq"
    fi
    for c in $nodes; do
        [ "$c" = "$first" ] && continue
        sipha_attach -n "$c" -- certutil -L -d "$QDEVICE_DB" -n "Cluster Cert" \
            >/dev/null 2>&1 && continue
        sipha_attach -n "$first" -- cat "$QDEVICE_DB/qdevice-net-node.p12" |
            sipha_attach -n "$c" -- sh -c "umask 077; cat >$QDEVICE_DB/qdevice-net-node.p12"
        sipha_attach -n "$c" -- corosync-qdevice-net-certutil -m \
            -c "$QDEVICE_DB/qdevice-net-node.p12" >/dev/null
    done
    if ! sipha_attach -n "$first" -- grep -q "model: net" /etc/corosync/corosync.conf; then
        # --corosync_conf: pcs edits the file only (it would otherwise ask
        # the qnetd machine's pcsd for the certificates done above).
        # shellcheck disable=SC2016  # the node's shell expands them
        sipha_attach -n "$first" -- sh -c 'set -e
            cp /etc/corosync/corosync.conf /root/corosync.conf.new
            pcs --corosync_conf=/root/corosync.conf.new quorum device add \
                timeout="$1" sync_timeout="$2" model net host="$3" algorithm=ffsplit
            mv /root/corosync.conf.new /etc/corosync/corosync.conf
            pcs cluster sync corosync >/dev/null
            corosync-cfgtool -R >/dev/null' sh \
            "${SIPHA_QDEVICE_TIMEOUT:-1250}" "${SIPHA_QDEVICE_SYNC_TIMEOUT:-3000}" "$QNETD_IP"
    fi
    for c in $nodes; do
        sipha_attach -n "$c" -- systemctl enable --now corosync-qdevice >/dev/null
    done
}

down() {
    local h ns
    stop_bg fenced
    stop_bg qnetd
    ip netns list | grep -qw "^$P-qnetd" && ip netns delete "$P-qnetd"
    for h in $HOSTS; do
        stop_bg "${h%%:*}"
        ns=$P-${h%%:*}
        ip netns list | grep -qw "^$ns" && ip netns delete "$ns"
    done
    local link
    for link in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$P-" || true); do
        ip link delete "$link" 2>/dev/null || true
    done
}

containers() { lxc-ls -1 2>/dev/null | grep "^$P-" || true; }

clean() {
    local c
    for c in $(containers); do
        lxc-unfreeze -n "$c" >/dev/null 2>&1 || true
        lxc-stop -k -n "$c" >/dev/null 2>&1 || true
        lxc-destroy -f -n "$c" >/dev/null 2>&1 || true
    done
    rm -f "$STATE/root_ed25519" "$STATE/root_ed25519.pub" "$FENCE_SECRET" "$STATE/demo"
    down
    rm -rf "$Q"
}

leftovers() {
    local out=()
    local c l n
    for c in $(containers); do out+=("container $c"); done
    for l in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$P-" || true); do
        out+=("link $l")
    done
    for n in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do out+=("netns $n"); done
    for n in fenced phone trunk qnetd; do
        pid_alive "$n" >/dev/null && out+=("process $n ($(cat "$STATE/$n.pid"))")
    done
    grep -q "/$P-" /proc/mounts && out+=("mounts: $(grep "/$P-" /proc/mounts | awk '{print $2}' | tr '\n' ' ')")
    grep -q "$CACHE/build-" /proc/mounts && out+=("box build mounts")
    if ((${#out[@]})); then
        printf '%s\n' "${out[@]}"
        return 1
    fi
}

root_ssh() {
    # One key pair for the cluster's root, every node's host key known to
    # every node: ssh in BatchMode works between nodes, as an administrator
    # sets it up with ssh-keygen/ssh-copy-id.
    local key=$STATE/root_ed25519 known c
    [ -f "$key" ] || ssh-keygen -q -t ed25519 -N '' -C "root@$P-cluster" -f "$key"
    known=$(mktemp)
    for c in $(containers); do
        printf '%s %s\n' "${c#"$P"-}" \
            "$(sipha_attach -n "$c" -- cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub)"
    done >"$known"
    for c in $(containers); do
        sipha_attach -n "$c" -- install -d -m 700 /root/.ssh
        sipha_attach -n "$c" -- sh -c 'umask 077; cat >/root/.ssh/id_ed25519' <"$key"
        sipha_attach -n "$c" -- sh -c 'cat >/root/.ssh/authorized_keys' <"$key.pub"
        sipha_attach -n "$c" -- sh -c 'cat >/etc/ssh/ssh_known_hosts' <"$known"
    done
    rm -f "$known"
}

status() {
    ip -br addr show "$BR" 2>/dev/null || echo "no bridge $BR"
    local n
    for n in fenced phone trunk qnetd; do
        echo "$n: $(pid_alive "$n" || echo 'not running')"
    done
    containers | sed 's/^/container /'
}

mkdir -p "$STATE"
exec 9>"$STATE/.lock"
flock 9   # one host-side.sh at a time per prefix (vagrant triggers run per node)

case ${1:-} in
    up) up ;;
    down) down ;;
    clean) clean ;;
    leftovers) leftovers ;;
    status) status ;;
    root-ssh) root_ssh ;;
    qdevice) qdevice ;;
    *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
