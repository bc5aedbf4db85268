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
    [ -d "/proc/$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--sipha-tag=$P-$1" \
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
    local h name last ns
    for h in $HOSTS; do
        name=${h%%:*} last=${h#*:} ns=$P-$name
        if ! ip netns list | grep -qw "^$ns"; then
            ip netns add "$ns"
            ip link add "$ns" type veth peer name eth0 netns "$ns"
            ip link set "$ns" master "$BR" up
            ip -n "$ns" link set lo up
            ip -n "$ns" addr add "$NET.$last/24" dev eth0
            ip -n "$ns" -6 addr add "$NET6:$last/64" dev eth0 nodad
            ip -n "$ns" link set eth0 up
        fi
        start_bg "$name" ip netns exec "$ns" python3 "$HERE/sip/sipsim.py" listen \
            --bind 0.0.0.0 --port 5060 --log "$STATE/$name.log" --sipha-tag="$P-$name"
    done
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

down() {
    local h ns
    stop_bg fenced
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
}

leftovers() {
    local out=()
    local c l n
    for c in $(containers); do out+=("container $c"); done
    for l in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$P-" || true); do
        out+=("link $l")
    done
    for n in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do out+=("netns $n"); done
    for n in fenced phone trunk; do
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
    for n in fenced phone trunk; do
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
    *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
