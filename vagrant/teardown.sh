#!/bin/bash
# Tear a test cluster down completely: containers (vagrant destroy, then any
# PREFIX-* container left), bridge, veths, namespaces, our host processes,
# Vagrant's state. Prints what is left (nothing, normally).
#   SIPHA_PREFIX=sipha vagrant/teardown.sh
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=vagrant/env.sh
. "$HERE/env.sh"
for c in $(lxc-ls -1 2>/dev/null | grep "^$SIPHA_PREFIX-" || true); do
    lxc-unfreeze -n "$c" >/dev/null 2>&1 || true
done
vagrant destroy -f >/dev/null 2>&1 || true
"$HERE/host-side.sh" clean
rm -rf "$VAGRANT_DOTFILE_PATH"
if left=$("$HERE/host-side.sh" leftovers); then
    echo "teardown: nothing left of '$SIPHA_PREFIX'"
else
    echo "teardown: left behind:"; echo "$left"; exit 1
fi
