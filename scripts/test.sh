#!/bin/sh
# Sets up everything and passes every test suite: the unit suite (with the
# golden files) in a plain build and in an AddressSanitizer +
# UndefinedBehaviorSanitizer build, the libFuzzer targets' fixed-seed runs
# in a clang build, the install suite (install layout, bash completion,
# Debian package), then the end-to-end suite on a real libvirtd + QEMU +
# Linux guest (needs root), and the numa suite on an emulated multi-node
# host.
#   scripts/test.sh [--unit-only]
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
	scripts/install-deps.sh
else
	scripts/install-deps.sh --build-only
fi

build() {
	dir=$1
	shift
	if [ -d "$dir" ]; then
		meson configure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir"
}

build build
build build-san -Db_sanitize=address,undefined -Db_lundef=false
# The fuzzers: clang, instrumented, in their own dir; gcc stays the main compiler.
(
	CC=clang
	export CC
	build build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
		-Dtests=disabled
)

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Runs one meson suite and adds its counts to the closing line.
passed=0 failed=0 status=0
suite() {
	log=$(mktemp)
	meson test --print-errorlogs "$@" 2>&1 | tee "$log" || true
	ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
	bad=$(sed -n 's/^\(Fail\|Timeout\|Unexpected Pass\): *\([0-9]*\).*/\2/p' "$log" |
		awk '{ s += $1 } END { print s + 0 }')
	rm -f "$log"
	if [ -z "$ok" ]; then
		echo "test.sh: meson test $* did not run" >&2
		bad=$((bad + 1))
	fi
	passed=$((passed + ${ok:-0}))
	failed=$((failed + bad))
	[ "$bad" -eq 0 ] || status=1
}

suite -C build --suite unit
suite -C build-san --suite unit
# Replays each corpus and runs a fixed number of inputs from seed 1 (about 1 min).
suite -C build-fuzz --suite fuzz --num-processes 1
# What an install puts on a machine: meson install --destdir, the bash
# completion, the Debian package (built, lintian-clean, then installed,
# removed and purged by dpkg in a throwaway overlay root, never here).
suite -C build --suite install --num-processes 1

if [ "${1:-}" != "--unit-only" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "test.sh: the e2e suite needs root (libvirtd + QEMU); run it as root" >&2
		exit 1
	fi
	# Host safety: when setup says qemu.conf is untouched, it must be byte
	# for byte what it was (e2e-host-safety only sees a second run).
	conf=/etc/libvirt/qemu.conf
	conf_hash() { if [ -f "$conf" ]; then sha256sum "$conf" | cut -d' ' -f1; else echo absent; fi; }
	before=$(conf_hash)
	setup_log=$(mktemp)
	rc=0
	tests/e2e/setup-host.sh 2>"$setup_log" || rc=$?
	cat "$setup_log" >&2
	[ "$rc" -eq 0 ] || exit "$rc"
	after=$(conf_hash)
	if grep -q 'qemu.conf untouched' "$setup_log" && [ "$before" != "$after" ]; then
		echo "test.sh: setup-host.sh said qemu.conf was untouched, but it changed ($before -> $after)" >&2
		failed=$((failed + 1))
		status=1
	fi
	rm -f "$setup_log"
	# The e2e suite drives the sanitizer build's memplugd and memplugctl, so
	# a memory error or leak in real use fails the test that caused it.
	suite -C build-san --suite e2e --num-processes 1
	# The numa bed: an emulated 3-node host (tests/e2e/numa), its own
	# libvirtd and memplugd inside; about 4 minutes.
	suite -C build-san --suite numa --num-processes 1
	# Kept for the next run; it is put back on request.
	echo "test.sh: the e2e bed stays set up (what it changed: tests/e2e/setup-host.sh --changes);" \
		"put the machine back with: tests/e2e/bed restore" >&2
fi
echo "$passed passed, $failed failed"
exit "$status"
