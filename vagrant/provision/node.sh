#!/bin/bash
# Provision one node the way an administrator would: name resolution,
# the fence agent, SIP-HA's Debian package built from the checkout
# (make deb: build/deb/sip-ha_VERSION_all.deb) installed with dpkg.
# Idempotent. Environment: see vagrant/lib/settings.rb.
set -euo pipefail
SRC=/vagrant
export LC_ALL=C

# Workstation boxes (debian/bookworm64) have network and none of our
# packages: install what the lxc box has baked in.
if ! command -v pcs >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends corosync corosync-qdevice pacemaker \
        pacemaker-cli-utils pcs resource-agents kamailio mariadb-server \
        rsync sipsak python3-click python3-lxml python3-pymysql \
        python3-watchdog >/dev/null
    for s in kamailio mariadb corosync-qdevice; do systemctl disable --now "$s" >/dev/null 2>&1 || true; done
    echo 'hacluster:sipha-test' | chpasswd
    systemctl enable --now pcsd
fi

# pcsd's login: the hacluster password, and an account that is not expired
# (sid's sysusers.d creates hacluster locked, expire date 1) and in haclient.
echo 'hacluster:sipha-test' | chpasswd
chage -E -1 hacluster
usermod -a -G haclient hacluster

# Name resolution for the cluster, the phone and the trunk provider, and
# localhost as Debian's installer writes it (debootstrap writes no hosts
# file; the stock kamailio agent's sipsak asks for localhost).
{
    grep -v -E '(node[0-9]+|sipha-(phone|trunk|host)|localhost)( |$)' /etc/hosts \
        | grep -v "^127.0.1.1" || true
    echo "127.0.0.1 localhost"
    echo "::1 localhost ip6-localhost ip6-loopback"
    echo "127.0.1.1 $(hostname)"
    for pair in $SIPHA_NODES; do echo "${pair#*=} ${pair%%=*}"; done
    echo "$SIPHA_HOST_IP sipha-host"
    echo "$SIPHA_PHONE_IP sipha-phone"
    echo "$SIPHA_TRUNK_IP sipha-trunk"
} >/etc/hosts.new
mv /etc/hosts.new /etc/hosts

# The test cluster's fence agent (talks to the host-side fence daemon).
install -m 755 $SRC/vagrant/fence/fence_sipha /usr/sbin/fence_sipha

# The test SIP server (Kamailio, started only by Pacemaker) on the service address.
sed "s/SERVICE_IP/$SIPHA_SERVICE_IP/g" $SRC/vagrant/sip/kamailio.cfg >/etc/kamailio/kamailio.cfg
install -m 755 $SRC/vagrant/provision/sip-service.sh /usr/local/sbin/sipha-test-service

# SIP-HA itself: the checkout's package, as an administrator installs it.
# Its dependencies are in the box already (no network on the nodes).
VERSION=$(sed -n 's/^version *= *//p' $SRC/setup.cfg | head -1)
DEB=$SRC/build/deb/sip-ha_${VERSION}_all.deb
if [ ! -f "$DEB" ]; then
    echo "sip-ha: no $DEB (the checkout's version $VERSION): run 'make deb' on the host" >&2
    exit 1
fi
dpkg -i --force-confdef --force-confold "$DEB" >/dev/null
echo "sip-ha $(dpkg-query -W -f='${Version}' sip-ha) installed from the checkout's package"
# shellcheck disable=SC2012  # agent names, printed for a person
ls /usr/lib/ocf/resource.d/sipha/ | sed 's/^/ocf:sipha:/' | tr '\n' ' '; echo

systemctl enable --now pcsd >/dev/null 2>&1 || true
