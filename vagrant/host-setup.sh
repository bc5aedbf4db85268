#!/bin/bash
# Install the host-side tools the test clusters need (idempotent).
# Debian/Ubuntu hosts, run as root. Uses --no-install-recommends on purpose:
# with Recommends apt pulls libvirt, qemu and a kernel (~400 packages).
set -euo pipefail

PKGS=(vagrant vagrant-lxc lxc debootstrap rsync openssh-client
      python3-pytest tar gzip iproute2 iptables bridge-utils
      python3-aiosmtpd    # the demo's mail server (the operator's mailbox)
      corosync-qnetd)     # the two-node clusters' quorum device (host-side.sh qdevice)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "host-setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Its package enables and starts a qnetd on every address: masked first
    # (the postinst's unmask only lifts masks it set itself), host-side.sh
    # runs one per test cluster in that cluster's namespace.
    if [[ " ${missing[*]} " == *" corosync-qnetd "* ]]; then
        mkdir -p /etc/systemd/system
        ln -sf /dev/null /etc/systemd/system/corosync-qnetd.service
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# lxc-net would start dnsmasq on a bridge of its own: we use our own bridge.
if [ -f /etc/default/lxc-net ]; then
    grep -q '^USE_LXC_BRIDGE="false"' /etc/default/lxc-net \
        || sed -i 's/^USE_LXC_BRIDGE=.*/USE_LXC_BRIDGE="false"/' /etc/default/lxc-net
fi
echo "host-setup: ok ($(vagrant --version 2>/dev/null), lxc $(lxc-start --version 2>/dev/null))"
