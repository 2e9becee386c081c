# Sourced by build-guest.sh and numa/build-l1.sh: kernel modules from the
# guest kernel cache (tests/e2e/guest-kernel.sh) and the busybox initramfs
# they go into (initrd_build). Needs
# $kdir (the cache directory) and $rel (the kernel release) set.

# Prints module names with every dependency before its user (a subshell
# body, so the recursion keeps its own variables).
module_order() (
	for m in "$@"; do
		deps=$(modinfo -b "$kdir" -k "$rel" -F depends "$m" | tr ',' ' ')
		# shellcheck disable=SC2086
		[ -z "$deps" ] || module_order $deps
		echo "$m"
	done
)

# copy_module NAME DIR: NAME's module, uncompressed, as DIR/NAME.ko.
copy_module() {
	src=$(modinfo -b "$kdir" -k "$rel" -n "$1")
	case "$src" in
	/*) ;;
	*) src="$kdir/lib/modules/$rel/$src" ;;
	esac
	case "$src" in
	*.xz) xz -dc "$src" >"$2/$1.ko" ;;
	*.zst) zstd -qdc "$src" >"$2/$1.ko" ;;
	*.gz) gzip -dc "$src" >"$2/$1.ko" ;;
	*) cp "$src" "$2/$1.ko" ;;
	esac
}

# initrd_build DIR INIT GZIP_LEVEL [EXTRA_DIR...]: DIR/initrd.img with
# busybox and its applets, $wanted_modules and what they depend on (load
# order in /modules/order), INIT as /init, and the folders init mounts on.
initrd_build() {
	out=$1 init=$2 level=$3
	shift 3
	root=$out/root
	mkdir -p "$root/bin" "$root/modules" "$root/proc" "$root/sys" "$root/dev"
	for d in "$@"; do mkdir -p "$root/$d"; done
	cp "$kdir/busybox" "$root/bin/busybox"
	for a in $("$kdir/busybox" --list); do
		[ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
	done
	# shellcheck disable=SC2086
	module_order $wanted_modules | awk '!seen[$0]++' >"$root/modules/order"
	for m in $(cat "$root/modules/order"); do
		copy_module "$m" "$root/modules"
	done
	cp "$init" "$root/init"
	chmod +x "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip "-$level") >"$out/initrd.img"
	rm -rf "$root"
}
