#!/bin/sh
# Sets up everything and passes every test suite: the unit suite (with the
# golden files) in a plain build and in an AddressSanitizer +
# UndefinedBehaviorSanitizer build, then the end-to-end suite on a real
# libvirtd + QEMU + Linux guest (needs root).
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

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
meson test -C build --suite unit --print-errorlogs
meson test -C build-san --suite unit --print-errorlogs

if [ "${1:-}" = "--unit-only" ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "test.sh: the e2e suite needs root (libvirtd + QEMU); run with sudo" >&2
	exit 1
fi
tests/e2e/setup-host.sh
# The e2e suite drives the sanitizer build's memplugd and memplugctl, so a
# memory error or leak in real use fails the test that caused it.
meson test -C build-san --suite e2e --print-errorlogs --num-processes 1
