#!/bin/sh
# The Debian package's version (debian/changelog's first entry, without its
# epoch and Debian revision) equals meson's project version, so a release
# bumps both.
#   version-match.sh MESON_VERSION CHANGELOG
set -u
want=$1
first=$(head -n 1 "$2") || exit 1
deb=$(echo "$first" | sed -n 's/^[^ ]* (\([^)]*\)).*/\1/p')
[ -n "$deb" ] || { echo "FAIL: no version in the first line of $2: $first"; exit 1; }
upstream=$(echo "$deb" | sed -e 's/^[0-9]*://' -e 's/-[^-]*$//')
if [ "$upstream" != "$want" ]; then
	echo "FAIL: debian/changelog says $deb ($upstream), meson.build says $want"
	exit 1
fi
echo "debian/changelog $deb = meson.build $want"
