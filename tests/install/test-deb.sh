#!/bin/sh
# install suite: the Debian package. Builds it from a copy of the tree
# (dpkg-buildpackage -us -uc -b, DEB_BUILD_OPTIONS=nocheck), requires no
# lintian error, and checks it without installing it on this machine: apt
# resolves its dependencies (--simulate), and `dpkg -x` unpacks it into a
# throwaway root where memplugd runs, the unit starts the packaged memplugd
# with the packaged configuration (and passes `systemd-analyze verify` where
# that exists), /etc/memplug/memplugd.conf is a conffile and the package's
# maintainer scripts enable the unit. No memplugd is left running.
# Skipped (77) when the packaging tools are missing: scripts/install-deps.sh
# installs them. Environment: SOURCE_DIR.
set -u
for t in dpkg-buildpackage dh lintian; do
	command -v "$t" >/dev/null || { echo "$t not installed (scripts/install-deps.sh)"; exit 77; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# The tree as git sees it (tracked and new files, no build folders).
mkdir "$work/src"
if git -C "$SOURCE_DIR" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$SOURCE_DIR" ls-files -z --cached --others --exclude-standard |
		(cd "$SOURCE_DIR" && tar --null -T - -cf -) | tar -xf - -C "$work/src"
else
	(cd "$SOURCE_DIR" && tar --exclude='./build*' -cf - .) | tar -xf - -C "$work/src"
fi

start=$(date +%s)
if ! (cd "$work/src" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
	dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1); then
	tail -n 40 "$work/build.log"
	echo "FAIL: dpkg-buildpackage"
	exit 1
fi
echo "package built in $(($(date +%s) - start)) s"
deb=$(ls "$work"/memplug_*.deb 2>/dev/null | head -n 1)
[ -f "$deb" ] || { echo "FAIL: no memplug_*.deb"; exit 1; }

# lintian exits non-zero on an error; the E: lines say which.
lint=$(lintian --fail-on error "$work"/memplug_*.changes 2>&1) || fail "lintian: $lint"
echo "$lint" | grep '^E:' && fail "lintian reports errors"
echo "$lint" | grep -E '^[WI]:' || true

if [ -d /var/lib/apt/lists ] && ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
	apt-get install --simulate -q "$deb" >"$work/sim.log" 2>&1 &&
		grep -q '^Inst memplug ' "$work/sim.log" ||
		fail "apt cannot install the package here: $(tail -n 5 "$work/sim.log")"
else
	echo "no apt package lists: dependencies not resolved"
fi

root=$work/root
dpkg -x "$deb" "$root" || fail "dpkg -x"
for f in /usr/sbin/memplugd /usr/sbin/memplugctl /lib/systemd/system/memplugd.service \
	/etc/memplug/memplugd.conf /usr/share/bash-completion/completions/memplugctl \
	/usr/share/man/man8/memplugd.8.gz /usr/share/man/man8/memplugctl.8.gz \
	/usr/share/man/man5/memplugd.conf.5.gz /usr/share/doc/memplug/copyright; do
	[ -f "$root$f" ] || fail "package holds no $f"
done
"$root/usr/sbin/memplugd" --version >/dev/null 2>&1 || fail "packaged memplugd --version fails"
"$root/usr/sbin/memplugctl" help >/dev/null || fail "packaged memplugctl help fails"
unit=$root/lib/systemd/system/memplugd.service
[ "$(sed -n 's/^ExecStart=//p' "$unit")" = "/usr/sbin/memplugd --foreground --config /etc/memplug/memplugd.conf" ] ||
	fail "unit ExecStart: $(grep ExecStart "$unit")"
if command -v systemd-analyze >/dev/null; then
	mkdir "$work/unit"
	sed "s|^ExecStart=/usr/sbin/|ExecStart=$root/usr/sbin/|" "$unit" >"$work/unit/memplugd.service"
	out=$(systemd-analyze verify --man=no "$work/unit/memplugd.service" 2>&1)
	[ $? -eq 0 ] && [ -z "$out" ] || fail "systemd-analyze verify: $out"
fi

dpkg-deb -e "$deb" "$work/control" || fail "dpkg-deb -e"
grep -qx /etc/memplug/memplugd.conf "$work/control/conffiles" 2>/dev/null ||
	fail "memplugd.conf is no conffile"
grep -q 'memplugd.service' "$work/control/postinst" 2>/dev/null ||
	fail "postinst does not enable memplugd.service"
dpkg-deb -f "$deb" Depends | grep -q 'libvirt0' || fail "Depends lacks libvirt0: $(dpkg-deb -f "$deb" Depends)"
[ "$fails" -eq 0 ] && echo "package $(basename "$deb"): ok"
[ "$fails" -eq 0 ]
