#!/bin/bash
# Runs inside the debootstrapped rootfs (chroot) while building the box.
# Usage: setup-rootfs.sh DIST MIRROR
set -euo pipefail
DIST=$1
MIRROR=$2
SRC=/tmp/sipha-box

# No daemon may start inside the chroot.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d

if [ "$DIST" = bookworm ]; then
    echo "deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main" >/etc/apt/sources.list
else
    echo "deb $MIRROR $DIST main" >/etc/apt/sources.list
    # The mirror serves a frozen snapshot of sid.
    echo 'Acquire::Check-Valid-Until "false";' >/etc/apt/apt.conf.d/99sipha-snapshot
fi
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    >/etc/apt/apt.conf.d/99sipha-norecommends

# kmod: ocf:heartbeat:Filesystem (the shared storage area) needs modprobe.
# python3-click, -lxml, -pymysql, -watchdog: what the sip-ha .deb depends on
# beyond the cluster stack; the nodes have no network, provisioning installs
# the package from the checkout with dpkg -i (vagrant/provision/node.sh).
# corosync-qdevice: the quorum device client (a two-node cluster's third vote;
# tests/support/sipha_cluster.py turns it on where a module asks for it).
PKGS=(corosync corosync-qdevice pacemaker pacemaker-cli-utils pcs resource-agents
      kamailio mariadb-server openssh-server openssh-client rsync sipsak
      python3-venv ifupdown sudo less iproute2 iputils-arping
      ca-certificates tcpdump libxml2-utils kmod
      python3-click python3-lxml python3-pymysql python3-watchdog)
apt-get update -qq
if apt-cache show pcsd >/dev/null 2>&1; then PKGS+=(pcsd); fi
# The PBX box: Asterisk with ODBC CDRs into MariaDB, a PHP web extra, and
# real SIP clients (baresip phones, SIPp load) for the cluster tests.
if [ "$DIST" = sid ]; then
    PKGS+=(asterisk unixodbc odbc-mariadb apache2 libapache2-mod-php
           baresip-core sip-tester)
fi
# Shows SIP-HA's node attributes to Prometheus (tests/cluster/metrics_checks.py).
PKGS+=(prometheus-hacluster-exporter)
apt-get install -y -qq "${PKGS[@]}" >/tmp/apt.log 2>&1 || { tail -40 /tmp/apt.log; exit 1; }

# Vagrant user: insecure key, passwordless sudo.
id vagrant >/dev/null 2>&1 || useradd -m -s /bin/bash vagrant
install -d -m 700 -o vagrant -g vagrant /home/vagrant/.ssh
install -m 600 -o vagrant -g vagrant $SRC/vagrant.pub /home/vagrant/.ssh/authorized_keys
echo 'vagrant ALL=(ALL) NOPASSWD:ALL' >/etc/sudoers.d/vagrant
chmod 440 /etc/sudoers.d/vagrant
echo 'hacluster:sipha-test' | chpasswd

# Vagrant's Debian guest code restarts ifup@eth0 to set the hostname:
# give it ifupdown with a manual eth0 (LXC configures the address), and an
# ifup@ unit without the udev device dependency (no udev in containers).
printf 'auto lo\niface lo inet loopback\n\niface eth0 inet manual\n' >/etc/network/interfaces
sed -e '/^BindsTo=/d' -e '/^After=sys-subsystem/d' \
    /lib/systemd/system/ifup@.service >/etc/systemd/system/ifup@.service

# Services: only Pacemaker starts the managed daemons; pcs sets up the cluster.
for s in asterisk kamailio mariadb corosync corosync-qdevice pacemaker apache2; do
    systemctl disable "$s" >/dev/null 2>&1 || true
done
systemctl enable pcsd ssh >/dev/null 2>&1 || true
# Its unit would listen on every address (:9664); the test runs its own on loopback.
systemctl disable ha_cluster_exporter >/dev/null 2>&1 || true
# Units that cannot work in a container.
for s in systemd-networkd-wait-online systemd-timesyncd; do
    systemctl mask "$s" >/dev/null 2>&1 || true
done
rm -f /etc/corosync/corosync.conf /etc/corosync/authkey
rm -rf /var/lib/pacemaker/cib/* /var/lib/pcsd/known-hosts

# A venv with the project's dependencies from PyPI (wheels fetched by the
# host), for the pip install path: the integration tests' containers
# (tests/support/container.py) pip-install the checkout into it.  The
# cluster nodes run the Debian package instead and leave it unused.
python3 -m venv /opt/sip-ha/venv
/opt/sip-ha/venv/bin/pip install -q --no-index --find-links $SRC/wheels \
    -r $SRC/python-requirements.txt
echo "sipha-box: $(python3 --version)," \
     "pacemaker $(dpkg-query -W -f='${Version}' pacemaker)," \
     "corosync $(dpkg-query -W -f='${Version}' corosync)," \
     "pcs $(dpkg-query -W -f='${Version}' pcs)" \
     "$(dpkg-query -W -f='asterisk ${Version}' asterisk 2>/dev/null || true)"

# Every container gets its own machine-id on first boot.
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id
apt-get clean
rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d /tmp/apt.log
