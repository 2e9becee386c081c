#!/bin/sh
# Builds the bed's guest image: the Debian kernel that guest-kernel.sh
# unpacks into the bed's cache (nothing is installed on the host) and an
# initramfs holding that package's busybox, the virtio balloon and virtio-mem
# modules (with their dependencies, in load order) and guest-init.sh as /init.
# Cached: the image lives in $BED_CACHE/<key>/ where the key hashes the kernel
# package, this script and the guest init; it is rebuilt only when one of
# them changes. Prints the directory holding vmlinuz and initrd.img.
#   tests/e2e/build-guest.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${BED_CACHE:-/var/cache/memplug-e2e}
wanted_modules="virtio_pci virtio_balloon virtio_mem"

die() { echo "build-guest: $*" >&2; exit 1; }

. "$here/modules.sh"


kdir=$("$here/guest-kernel.sh") || die "no guest kernel (tests/e2e/guest-kernel.sh failed)"
kver=$(cat "$kdir/release")
rel=$kver
key=$(printf '%s\n' "$kdir" | cat - "$0" "$here/modules.sh" "$here/guest-init.sh" | sha256sum | cut -c1-16)
dir="$cache/$kver-$key"
if [ -f "$dir/initrd.img" ] && [ -f "$dir/vmlinuz" ]; then
	echo "$dir"
	exit 0
fi
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cp "$kdir/vmlinuz" "$tmp/vmlinuz"
initrd_build "$tmp" "$here/guest-init.sh" 9 tmp
chmod 755 "$tmp"
# Another build may have finished first; either copy is good.
mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
trap - EXIT
echo "build-guest: built $dir" >&2
echo "$dir"
