#!/bin/sh
# install suite: the Debian package. Builds it from a copy of the tree
# (dpkg-buildpackage -us -uc -b, DEB_BUILD_OPTIONS=nocheck), requires no
# lintian error, lets apt resolve its dependencies (--simulate) and unpacks
# it with `dpkg -x` into a folder: files, unit (`systemd-analyze verify` where
# that exists), conffile and postinst listed. Then, as root, it really
# installs it: deb-root.sh runs `dpkg -i`, a reinstall over an edited
# conffile, `dpkg --remove` and `dpkg --purge` in a throwaway root (an overlay
# of / on a tmpfs, in a mount and PID namespace of its own, policy-rc.d 101)
# and checks what dpkg and the maintainer scripts did there. Afterwards this
# machine's dpkg database, /usr and /etc hold no more memplug than before and
# no process is left in the throwaway root.
# When the packaging tools are missing it fails as root (CI, scripts/test.sh:
# scripts/install-deps.sh installs them there) and is skipped (77) otherwise;
# not root, the real install is skipped (77) after the other checks.
# Environment: SOURCE_DIR.
set -eu
for t in dpkg-buildpackage dh lintian; do
	command -v "$t" >/dev/null && continue
	echo "$t not installed (scripts/install-deps.sh)"
	[ "$(id -u)" -eq 0 ] && { echo "FAIL: as root the package check must run"; exit 1; }
	exit 77
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# The tree as git sees it (tracked and new files, no build folders).
mkdir "$work/src"
if git -C "$SOURCE_DIR" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$SOURCE_DIR" ls-files -z --cached --others --exclude-standard |
		(cd "$SOURCE_DIR" && tar --null -T - -cf -) | tar -xf - -C "$work/src" ||
		{ echo "FAIL: copying the tree"; exit 1; }
else
	(cd "$SOURCE_DIR" && tar --exclude='./build*' -cf - .) | tar -xf - -C "$work/src" ||
		{ echo "FAIL: copying the tree"; exit 1; }
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

root=$work/x
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
	out=$(systemd-analyze verify --man=no "$work/unit/memplugd.service" 2>&1) && [ -z "$out" ] ||
		fail "systemd-analyze verify: $out"
fi

dpkg-deb -e "$deb" "$work/control" || fail "dpkg-deb -e"
grep -qx /etc/memplug/memplugd.conf "$work/control/conffiles" 2>/dev/null ||
	fail "memplugd.conf is no conffile"
grep -q 'memplugd.service' "$work/control/postinst" 2>/dev/null ||
	fail "postinst does not enable memplugd.service"
dpkg-deb -f "$deb" Depends | grep -q 'libvirt0' || fail "Depends lacks libvirt0: $(dpkg-deb -f "$deb" Depends)"
[ "$fails" -eq 0 ] || { echo "$fails check(s) of the package failed"; exit 1; }
echo "package $(basename "$deb"): built, lintian, unpacked: ok"

# The real install, in a throwaway root (deb-root.sh).
if [ "$(id -u)" -ne 0 ]; then
	echo "not root: the real install (dpkg -i / --remove / --purge in an overlay root) needs"
	echo "root for its mount namespace; skipped, the checks above passed"
	exit 77
fi
command -v unshare >/dev/null || { echo "FAIL: unshare (util-linux) not installed"; exit 1; }
# What this machine holds of memplug, to compare after.
host_state() {
	dpkg-query -W -f='${Status} ${Version}\n' memplug 2>&1 || true
	ls -la /var/lib/dpkg/info/ | grep ' memplug\.' || true
	for f in /usr/sbin/memplugd /usr/sbin/memplugctl /etc/memplug /etc/memplug/memplugd.conf \
		/lib/systemd/system/memplugd.service /usr/sbin/policy-rc.d \
		/etc/systemd/system/multi-user.target.wants/memplugd.service \
		/var/lib/systemd/deb-systemd-helper-enabled/memplugd.service.dsh-also; do
		[ -e "$f" ] || [ -L "$f" ] || { echo "$f absent"; continue; }
		ls -ld "$f"
		[ ! -f "$f" ] || md5sum "$f"
	done
}
before=$(host_state)
mkdir "$work/ns"
if ! unshare --mount --propagation private --pid --fork \
	sh "$(dirname "$0")/deb-root.sh" "$deb" "$work/ns" "$(readlink /proc/$$/ns/mnt)"; then
	fail "the install in the throwaway root"
fi
after=$(host_state)
[ "$after" = "$before" ] || fail "this machine's memplug state changed:
$(printf '%s\n' "$before" >"$work/before" && printf '%s\n' "$after" | diff "$work/before" -)"
for p in /proc/[0-9]*; do
	case $(readlink "$p/root" 2>/dev/null) in "$work"/*)
		fail "process ${p##*/} ($(cat "$p/comm" 2>/dev/null)) left in the throwaway root" ;;
	esac
done
# Outside the namespace its mounts were never visible: only empty folders.
[ -z "$(ls -A "$work/ns")" ] || fail "$work/ns is not empty outside the namespace"
[ "$fails" -eq 0 ] && echo "package $(basename "$deb"): installed, reinstalled, removed, purged: ok"
[ "$fails" -eq 0 ]
