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
