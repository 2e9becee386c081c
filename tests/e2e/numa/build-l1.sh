#!/bin/sh
# Builds the numa bed's host VM ("L1") boot files: Debian's kernel and an
# initramfs with busybox, the modules that mount this machine's root over 9p
# (virtio-pci, 9p, overlay), the virtio console for the result channel,
# virtio-rng for entropy, and l1-init.sh as /init. Nothing is installed on this machine. Cached in
# $BED_CACHE/numa/<release>-<hash>/; the hash covers this script, the init
# and the kernel directory. Prints "VMLINUZ INITRD".
#   tests/e2e/numa/build-l1.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${BED_CACHE:-/var/cache/memplug-e2e}
# virtio_rng: without it L1's kernel may wait minutes for entropy, and
# virtlogd's getrandom() with it (seen: L1 stuck at "starting virtlogd").
wanted_modules="virtio_pci 9pnet_virtio 9p overlay virtio_console virtio_rng"

die() { echo "build-l1: $*" >&2; exit 1; }

# The kernel directory as tests/e2e/guest-kernel.sh lays it out: vmlinuz,
# release, busybox and lib/modules/RELEASE/.
kernel_dir() {
	"$here/../guest-kernel.sh"
}

. "$here/../modules.sh"


kdir=$(kernel_dir) || die "no guest kernel (tests/e2e/guest-kernel.sh failed)"
[ -f "$kdir/vmlinuz" ] && [ -f "$kdir/release" ] && [ -x "$kdir/busybox" ] ||
	die "$kdir lacks vmlinuz, release or busybox"
rel=$(cat "$kdir/release")
key=$( (cat "$0" "$here/../modules.sh" "$here/l1-init.sh"; echo "$kdir") | sha256sum | cut -c1-16)
dir="$cache/numa/$rel-$key"
if [ ! -f "$dir/initrd.img" ]; then
	mkdir -p "$cache/numa"
	tmp=$(mktemp -d "$cache/numa/.build.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	initrd_build "$tmp" "$here/l1-init.sh" 1 lower rw newroot
	chmod 755 "$tmp"
	# Another build may have finished first; either copy is good.
	mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
	trap - EXIT
	echo "build-l1: built $dir" >&2
fi
echo "$kdir/vmlinuz $dir/initrd.img"
