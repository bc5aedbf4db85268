#!/bin/bash
# Provision one node the way an administrator would: name resolution,
# the fence agent, SIP-HA installed from the checkout into a venv, its OCF
# agents installed. Idempotent. Environment: see vagrant/lib/settings.rb.
set -euo pipefail
VENV=/opt/sip-ha/venv
SRC=/vagrant
export LC_ALL=C

# Workstation boxes (debian/bookworm64) have network and none of our
# packages: install what the lxc box has baked in.
if [ ! -x $VENV/bin/python ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends corosync pacemaker \
        pacemaker-cli-utils pcs resource-agents kamailio mariadb-server \
        rsync sipsak python3-venv >/dev/null
    for s in kamailio mariadb; do systemctl disable --now "$s" >/dev/null 2>&1 || true; done
    echo 'hacluster:sipha-test' | chpasswd
    systemctl enable --now pcsd
    python3 -m venv $VENV
    # shellcheck disable=SC2046  # one argument per requirement line
    $VENV/bin/pip install -q $(cat $SRC/vagrant/box/python-requirements.txt)
fi

# pcsd's login: the hacluster password, and an account that is not expired
# (sid's sysusers.d creates hacluster locked, expire date 1) and in haclient.
echo 'hacluster:sipha-test' | chpasswd
chage -E -1 hacluster
usermod -a -G haclient hacluster

# Name resolution for the cluster, the phone and the trunk provider.
{
    grep -v -E '(node[0-9]+|sipha-(phone|trunk|host))( |$)' /etc/hosts | grep -v "^127.0.1.1" || true
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

# SIP-HA itself, from the checkout, like a user would: a copy of the tree
# (the mount is read-only and must stay clean) installed into the venv.
# No network on the nodes: the dependencies are already in the venv.
BUILD=/var/tmp/sip-ha-src
rm -rf $BUILD
mkdir -p $BUILD
tar -C $SRC --exclude=.git --exclude=.vagrant --exclude='*.egg-info' \
    --exclude=build --exclude=__pycache__ -cf - . | tar -C $BUILD -xf -
if [ -f $BUILD/setup.cfg ] || [ -f $BUILD/pyproject.toml ] || [ -f $BUILD/setup.py ]; then
    $VENV/bin/pip install -q --no-deps --no-build-isolation --no-index $BUILD
    echo "sip-ha installed: $($VENV/bin/pip show sip-ha 2>/dev/null | awk '/^Version/{print $2}')"
else
    echo "sip-ha: no package metadata in the checkout yet, not installed"
fi
ln -sf $VENV/bin/sip-ha /usr/local/sbin/sip-ha 2>/dev/null || true

if [ -x $VENV/bin/sip-ha ]; then
    $VENV/bin/sip-ha install-agents
    # shellcheck disable=SC2012  # agent names, printed for a person
    ls /usr/lib/ocf/resource.d/sipha/ 2>/dev/null | sed 's/^/ocf:sipha:/' | tr '\n' ' '; echo
else
    rm -f /usr/local/sbin/sip-ha
    echo "sip-ha: console script absent, skipping 'sip-ha install-agents'"
fi

systemctl enable --now pcsd >/dev/null 2>&1 || true
