#!/bin/sh
# Fetches the bed's guest kernel, its modules and a static busybox WITHOUT
# installing anything on the host: `apt-get download` of the versioned image
# package that linux-image-amd64 points at and of busybox-static, then
# `dpkg-deb -x` into the bed's cache. Cached per package version; a later run
# only asks apt-cache (no download) and prints the same directory.
#   tests/e2e/guest-kernel.sh            prints DIR (root needed to fill the cache)
# DIR holds:
#   DIR/vmlinuz                  the kernel image
#   DIR/release                  its release, e.g. 6.1.0-57-amd64 (one line)
#   DIR/busybox                  busybox from busybox-static
#   DIR/lib/modules/RELEASE/     its modules, with modules.dep (depmod -b):
#                                modinfo -b DIR -k RELEASE -n virtio_mem
#                                prints the path of a module's file
# Environment: BED_CACHE (default /var/cache/memplug-e2e; the image lives in
# $BED_CACHE/kernel/), GUEST_KERNEL_META (meta package, default
# linux-image-amd64). Without package lists (offline), the newest cached
# image is used.
set -eu
cache=${BED_CACHE:-/var/cache/memplug-e2e}/kernel
meta=${GUEST_KERNEL_META:-linux-image-amd64}

say() { echo "guest-kernel: $*" >&2; }
die() { say "$*"; exit 1; }

candidate() { apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | grep -v '(none)'; }

# The versioned image package the meta package depends on, e.g.
# linux-image-6.1.0-57-amd64 (not the kernel this host runs).
image_package() {
	apt-cache depends "$meta" 2>/dev/null |
		sed -n 's/^ *Depends: *\(linux-image-[0-9][^ ]*\).*/\1/p' | head -n 1
}

newest_cached() {
	ls -d "$cache"/*/ 2>/dev/null | while read -r d; do
		[ -f "$d/vmlinuz" ] && [ -f "$d/release" ] && echo "${d%/}"
	done | sort -V | tail -n 1
}

# Downloads PACKAGE=VERSION pairs into $1 and unpacks them into $2.
fetch_unpack() {
	dl=$1 root=$2
	shift 2
	# apt drops to its _apt account for downloads; let it write there.
	chown _apt "$dl" 2>/dev/null || true
	(cd "$dl" && apt-get download -q "$@" >&2) || die "apt-get download $* failed"
	for deb in "$dl"/*.deb; do
		dpkg-deb -x "$deb" "$root"
	done
}

# Lays out DIR (see the header) from the unpacked packages in $1/root.
arrange() {
	t=$1
	kver=$(ls "$t/root/lib/modules" | sort -V | tail -n 1)
	[ -n "$kver" ] && [ -f "$t/root/boot/vmlinuz-$kver" ] ||
		die "the image package holds no /boot/vmlinuz-* with modules"
	[ -x "$t/root/bin/busybox" ] || die "busybox-static holds no /bin/busybox"
	mv "$t/root/boot/vmlinuz-$kver" "$t/vmlinuz"
	mv "$t/root/bin/busybox" "$t/busybox"
	mkdir -p "$t/lib/modules"
	mv "$t/root/lib/modules/$kver" "$t/lib/modules/$kver"
	depmod -b "$t" "$kver"
	echo "$kver" >"$t/release"
	rm -rf "$t/root" "$t/download"
}

# apt-cache takes about a second per call here (no pkgcache.bin); the bed
# asks for every guest, so the answer is kept until the package lists change.
lists_stamp="$meta $(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo none)"
memo="$cache/.resolved"
if [ -f "$memo" ] && [ "$(sed -n 1p "$memo")" = "$lists_stamp" ]; then
	dir=$(sed -n 2p "$memo")
	if [ -f "$dir/release" ]; then
		echo "$dir"
		exit 0
	fi
fi
remember() { { printf '%s\n%s\n' "$lists_stamp" "$1" >"$memo.$$" && mv "$memo.$$" "$memo"; } 2>/dev/null || true; }

img=$(image_package)
if [ -z "$img" ] && [ -z "$(newest_cached)" ] && [ "$(id -u)" -eq 0 ]; then
	say "apt-cache knows no $meta: apt-get update"
	apt-get update -q >&2 || true
	img=$(image_package)
fi
img_ver=""
bb_ver=""
if [ -n "$img" ]; then
	img_ver=$(candidate "$img")
	bb_ver=$(candidate busybox-static)
fi
if [ -z "$img_ver" ] || [ -z "$bb_ver" ]; then
	dir=$(newest_cached)
	[ -n "$dir" ] || die "apt-cache knows no $meta / busybox-static (run apt-get update)"
	say "no package lists; using the cached $dir"
	echo "$dir"
	exit 0
fi

dir="$cache/$(printf '%s_%s+busybox_%s' "$img" "$img_ver" "$bb_ver" | tr -c 'A-Za-z0-9.+_\n-' '_')"
mkdir -p "$cache"
if [ -f "$dir/release" ]; then
	remember "$dir"
	echo "$dir"
	exit 0
fi
tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/download" "$tmp/root"
say "downloading $img $img_ver and busybox-static $bb_ver (not installed)"
fetch_unpack "$tmp/download" "$tmp/root" "$img=$img_ver" "busybox-static=$bb_ver"
arrange "$tmp"
chmod 755 "$tmp"
# Another run may have finished first; either copy is good.
mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
trap - EXIT
say "unpacked into $dir"
remember "$dir"
echo "$dir"
