#!/bin/bash
# Build (or reuse) the SIP-HA test box for the vagrant-lxc provider.
#
#   vagrant/build-box.sh [bookworm|sid]      build if needed, then `vagrant box add`
#   vagrant/build-box.sh --name DIST         print the box name only
#
# Boxes are cached outside the clone in $SIPHA_CACHE (/var/cache/sip-ha).
# The box name carries a hash of the recipe (this script and vagrant/box/*),
# so a box is rebuilt only when the recipe changes.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${SIPHA_CACHE:-/var/cache/sip-ha}
export VAGRANT_HOME=${VAGRANT_HOME:-$CACHE/vagrant.d}
MIRROR=${SIPHA_MIRROR:-http://deb.debian.org/debian}

recipe_hash() {
    # Same file order as the Vagrantfile fallback: bytewise sort of paths.
    local f
    for f in $(cd "$HERE" && LC_ALL=C ls -d build-box.sh box/*); do
        cat "$HERE/$f"
    done | sha256sum | cut -c1-10
}

box_name() { echo "sipha-$1-$(recipe_hash)"; }

if [ "${1:-}" = "--name" ]; then
    box_name "${2:-bookworm}"
    exit 0
fi

DIST=${1:-bookworm}
case $DIST in
    bookworm) PYVER=3.11 ;;
    sid) PYVER=3.14 ;;
    *) echo "unknown dist $DIST (bookworm|sid)" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "build-box.sh: run as root" >&2; exit 1; }

NAME=$(box_name "$DIST")
BOXFILE=$CACHE/boxes/$NAME.box
mkdir -p "$CACHE/boxes" "$VAGRANT_HOME"

add_box() {
    if ! vagrant box list 2>/dev/null | grep -q "^$NAME "; then
        vagrant box add --force --name "$NAME" "$BOXFILE" >/dev/null
    fi
    # Drop boxes of older recipes for this dist.
    local old
    for old in $(vagrant box list 2>/dev/null | awk '{print $1}' | grep "^sipha-$DIST-" | grep -vx "$NAME"); do
        vagrant box remove --force --all "$old" >/dev/null 2>&1 || true
    done
    find "$CACHE/boxes" -name "sipha-$DIST-*.box" ! -name "$NAME.box" -delete
    echo "box $NAME ready"
}

if [ -s "$BOXFILE" ]; then
    add_box
    exit 0
fi

echo "building box $NAME (Debian $DIST, Python $PYVER) ..."
START=$SECONDS
WORK=$(mktemp -d "$CACHE/build-$DIST.XXXXXX")
ROOT=$WORK/rootfs
cleanup() {
    local m
    for m in proc sys dev/pts dev; do
        mountpoint -q "$ROOT/$m" 2>/dev/null && umount -l "$ROOT/$m"
    done
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

# 1. Python wheels for the box's venv, fetched on the host (the chroot needs
#    no PyPI access and the nodes have no network at all).
# shellcheck disable=SC2046  # one argument per requirement line
python3 -m pip download -q -d "$WORK/wheels" --only-binary=:all: \
    --python-version "$PYVER" --implementation cp \
    --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
    $(cat "$HERE/box/python-requirements.txt") 2>&1 | grep -v '^WARNING: Location' || true

# 2. Base system.
mkdir -p "$CACHE/debootstrap-$DIST"
debootstrap --variant=minbase --cache-dir="$CACHE/debootstrap-$DIST" \
    --include=systemd,systemd-sysv,dbus,iproute2,iputils-ping,openssh-server,sudo,procps,python3 \
    "$DIST" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; exit 1; }
echo "  debootstrap done ($((SECONDS - START)) s)"

# 3. Packages and configuration, inside the rootfs.
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mount -t proc proc "$ROOT/proc"
mount -t sysfs sys "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
mkdir -p "$ROOT/tmp/sipha-box"
cp -a "$HERE/box/." "$ROOT/tmp/sipha-box/"
cp -a "$WORK/wheels" "$ROOT/tmp/sipha-box/wheels"
# shellcheck disable=SC2012  # a glob's first match; the path has no odd characters
KEY=$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub 2>/dev/null | head -1 || true)
[ -n "$KEY" ] || KEY=$(gem contents vagrant 2>/dev/null | grep 'keys/vagrant.pub$' | head -1)
cp "$KEY" "$ROOT/tmp/sipha-box/vagrant.pub"
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive LC_ALL=C \
    /bin/bash /tmp/sipha-box/setup-rootfs.sh "$DIST" "$MIRROR" >"$WORK/setup.log" 2>&1 \
    || { tail -30 "$WORK/setup.log"; exit 1; }
grep '^sipha-box:' "$WORK/setup.log" || true
for m in dev/pts dev sys proc; do umount -l "$ROOT/$m"; done
rm -rf "$ROOT/tmp/sipha-box"
: >"$ROOT/etc/resolv.conf"
echo "  rootfs configured ($((SECONDS - START)) s)"

# 4. Pack: rootfs.tar.gz (xattrs kept: file capabilities), lxc-config, metadata.
{
    echo "lxc.include = /usr/share/lxc/config/common.conf"
    echo "lxc.arch = linux64"
    echo "lxc.apparmor.profile = unconfined"
    echo "lxc.autodev = 1"
    if [ "$DIST" = sid ]; then
        # systemd >= 258 refuses cgroup v1: let it mount a pure cgroup2 itself.
        echo "lxc.mount.auto ="
        echo "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed"
    fi
} >"$WORK/lxc-config"
printf '{"provider":"lxc","version":"1.0.0","built-on":"%s","recipe":"%s"}\n' \
    "$(date -u +%FT%TZ)" "$NAME" >"$WORK/metadata.json"
tar --numeric-owner --xattrs --xattrs-include='*' -C "$WORK" -czf "$WORK/rootfs.tar.gz" ./rootfs
tar -C "$WORK" -cf "$BOXFILE.tmp" metadata.json lxc-config rootfs.tar.gz
mv "$BOXFILE.tmp" "$BOXFILE"
echo "  packed $(du -h "$BOXFILE" | cut -f1) ($((SECONDS - START)) s)"
add_box
