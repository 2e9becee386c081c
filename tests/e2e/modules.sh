# Sourced by build-guest.sh and numa/build-l1.sh: kernel modules from the
# guest kernel cache (tests/e2e/guest-kernel.sh) for an initramfs. Needs
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
