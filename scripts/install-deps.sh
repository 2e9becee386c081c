#!/bin/sh
# Installs every Debian 12 package memplug needs to build, test, package and
# run its end-to-end bed. Idempotent; must run as root on a fresh machine.
# The bed's guest kernel and busybox are not installed: tests/e2e/guest-kernel.sh
# downloads and unpacks them into the bed's cache.
#   scripts/install-deps.sh [--build-only]   (--build-only: what a build needs)
set -eu

BUILD_PKGS="meson ninja-build pkg-config gcc libc6-dev clang-format
 libvirt-dev libxml2-dev libevent-dev libnuma-dev libjson-c-dev
 libglib2.0-dev libcmocka-dev libxml2-utils libvirt-clients"
# The libFuzzer targets (tests/fuzz) build with clang in their own build dir.
FUZZ_PKGS="clang libclang-rt-14-dev"
# The Debian package (debian/) and its check (tests/install/test-deb.sh).
PACKAGE_PKGS="debhelper dpkg-dev lintian"
BED_PKGS="libvirt-daemon libvirt-daemon-driver-qemu
 qemu-system-x86 cpio gzip kmod procps
 socat iproute2 jq python3-prometheus-client"

want="$BUILD_PKGS $FUZZ_PKGS"
[ "${1:-}" = "--build-only" ] || want="$want $PACKAGE_PKGS $BED_PKGS"

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing (run as root)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
