#!/usr/bin/env bash
# The test guest's kernel and initramfs, in .cache/guest/ (idempotent; /boot is never touched).
#
# Debian's stock kernel has every module the seeds' device kinds need (8021q, bonding, team,
# ipvlan, macsec, vcan/vxcan, dummy, netem), which a lab host's kernel may lack. The package
# is downloaded and unpacked here, its modules indexed with `depmod -b`, and a small
# busybox initramfs is built that loads the virtio/9p modules and switches into the host's
# root shared read-only (tests/guest/initramfs-init). qemu-system-x86, busybox-static, cpio
# and kmod come from the Makefile's GUEST_APT_PACKAGES.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=.cache/guest
mkdir -p "$cache"

version=""
[ -f "$cache/VERSION" ] && version=$(cat "$cache/VERSION")
if [ -z "$version" ] || [ ! -f "$cache/kernel/boot/vmlinuz-$version" ] \
  || [ ! -f "$cache/kernel/lib/modules/$version/modules.dep" ]; then
  # The metapackage names the current ABI (linux-image-6.1.0-NN-amd64).
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  if [ -z "$pkg" ]; then
    apt-get update -qq
    pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  fi
  version=${pkg#linux-image-}
  echo "topolab: fetching the test guest's kernel $pkg"
  rm -rf "$cache/deb" "$cache/kernel.new"
  mkdir -p "$cache/deb" "$cache/kernel.new"
  # apt's sandbox user cannot write into the checkout; the download runs as the caller.
  (cd "$cache/deb" && apt-get download -q "$pkg" 2>&1 | grep -v "unsandboxed" || true)
  deb=$(ls "$cache"/deb/"$pkg"_*.deb)
  dpkg-deb -x "$deb" "$cache/kernel.new"
  depmod -b "$cache/kernel.new" "$version"
  rm -rf "$cache/kernel" "$cache/deb"
  mv "$cache/kernel.new" "$cache/kernel"
  echo "$version" > "$cache/VERSION"
  rm -f "$cache/initramfs.cpio.gz"
fi

# The initramfs: rebuilt when its init script or the kernel changed.
init=tests/guest/initramfs-init
sum=$( (echo "$version"; cat "$init" "$0") | sha256sum | cut -c1-16)
if [ ! -f "$cache/initramfs.cpio.gz" ] || [ "$(cat "$cache/initramfs.sum" 2>/dev/null)" != "$sum" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work"/{bin,dev,proc,sys,newroot,modules}
  cp /bin/busybox "$work/bin/busybox"
  for applet in sh mount insmod switch_root mkdir cat echo sleep poweroff; do
    ln -s busybox "$work/bin/$applet"
  done
  mods=$cache/kernel/lib/modules/$version/kernel
  # Load order matters: each module's dependencies first (see modules.dep).
  n=0
  for ko in drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko \
            drivers/virtio/virtio_pci_modern_dev.ko drivers/virtio/virtio_pci_legacy_dev.ko \
            drivers/virtio/virtio_pci.ko fs/netfs/netfs.ko fs/fscache/fscache.ko \
            net/9p/9pnet.ko net/9p/9pnet_virtio.ko fs/9p/9p.ko; do
    [ -f "$mods/$ko" ] || continue  # built in, or folded into another module in this ABI
    n=$((n + 1))
    cp "$mods/$ko" "$work/modules/$(printf %02d "$n")-$(basename "$ko")"
  done
  cp "$init" "$work/init"
  chmod 755 "$work/init"
  (cd "$work" && find . | cpio -o -H newc --quiet | gzip -1) > "$cache/initramfs.cpio.gz.new"
  mv "$cache/initramfs.cpio.gz.new" "$cache/initramfs.cpio.gz"
  echo "$sum" > "$cache/initramfs.sum"
fi
