#!/bin/bash
# `make demo`: the PBX SIP-HA is for, in a two-node Debian sid cluster on this
# machine (LXC containers, real fencing): Asterisk 22, its service address,
# the file sync, the CDR database, a web GUI and the operator's mail; two
# real softphones and SIPp through a silent power cut, then the failback the
# operator approves.  What it shows and measures: vagrant/demo_pbx.py.
#
# Installs what is missing (vagrant, vagrant-lxc, lxc, debootstrap), builds
# or reuses the sid box, and leaves the cluster up; its last line says how to
# tear it down (`make test` also tears it down, saying so, before it starts).
# Run as root, after `make venv` (`make demo` does both).
# Environment: SIPHA_PREFIX (default sipha), see vagrant/env.sh.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=vagrant/env.sh
. "$HERE/env.sh"
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root" >&2; exit 1; }
PY=${SIPHA_PYTHON:-$HERE/../.venv/bin/python}
[ -x "$PY" ] || { echo "demo.sh: no venv at $PY: run 'make demo'" >&2; exit 1; }
"$HERE/host-setup.sh"
exec "$PY" "$HERE/demo_pbx.py"
