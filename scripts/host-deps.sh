#!/bin/sh
# Install the Debian packages the tests and benchmarks use on this host,
# and those named as arguments (make deb-deps).
# Idempotent and quiet when everything is there already.
set -eu
PACKAGES="python3 python3-venv kamailio kamailio-tls-modules resource-agents
pacemaker-cli-utils libxml2-utils sipsak openssl procps iproute2 iputils-ping
openssh-server openssh-client rsync rsyslog snmp snmptrapd mariadb-server
baresip-core sip-tester $*"
missing=""
for pkg in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages:$missing (run as root, or install them)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Debian starts daemons on install; a policy-rc.d keeps this host's services as they were.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; trap 'rm -f "$policy"' EXIT
fi
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
