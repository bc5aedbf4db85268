# shellcheck shell=bash
# Sourced by the vagrant/*.sh entry points: one place for the environment
# of a cluster (prefix, Vagrant's folders). Override any of it from outside.
export SIPHA_PREFIX=${SIPHA_PREFIX:-sipha}
export SIPHA_CACHE=${SIPHA_CACHE:-/var/cache/sip-ha}
export SIPHA_NODES=${SIPHA_NODES:-2}
export SIPHA_DIST=${SIPHA_DIST:-bookworm}
export VAGRANT_HOME=${VAGRANT_HOME:-$SIPHA_CACHE/vagrant.d}
export VAGRANT_DOTFILE_PATH=${VAGRANT_DOTFILE_PATH:-$SIPHA_CACHE/run/$SIPHA_PREFIX/vagrant}
export VAGRANT_CWD=${VAGRANT_CWD:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
export VAGRANT_DEFAULT_PROVIDER=${VAGRANT_DEFAULT_PROVIDER:-lxc}
export VAGRANT_CHECKPOINT_DISABLE=1

# lxc-attach of Debian 12 (LXC 5.0.2) first re-executes itself from a sealed
# memfd. Under load sealing can fail with EBUSY, and that failure path then
# aborts on an invalid free (lxc/lxc#4412), or crashes. Nothing ran in the container at
# that point, so running it again is safe.
sipha_attach() {
    local err rc try
    err=$(mktemp)
    for try in 1 2 3 4 5; do
        rc=0
        lxc-attach "$@" 2>"$err" || rc=$?
        if { [ "$rc" -eq 134 ] || [ "$rc" -eq 139 ]; } && grep -q 'Failed to rexec as memfd' "$err"; then
            sleep "0.$try"
            continue
        fi
        break
    done
    cat "$err" >&2
    rm -f "$err"
    return "$rc"
}
