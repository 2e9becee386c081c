#!/bin/sh
# Part of test-deb.sh: really installs the package, with dpkg running its
# maintainer scripts, into a throwaway root, then removes and purges it.
# test-deb.sh runs this script as root under
#   unshare --mount --propagation private --pid --fork
# so every mount made here is private to this mount namespace, and every
# process started here dies with it (this shell is its PID 1).
# The root is an overlay: lower /, upper and work on a tmpfs. Whatever dpkg
# and the maintainer scripts write lands on that tmpfs; this machine's /usr,
# /etc and dpkg database are only read. /run is an empty tmpfs (no
# /run/systemd/system, no systemd or D-Bus socket: the postinst cannot reach
# this machine's systemd) and usr/sbin/policy-rc.d exits 101 (no service may
# start). /dev holds a few device nodes only, /sys is read-only.
# Nothing here deletes files: test-deb.sh removes DIR from outside the
# namespace, where these mounts are not visible.
# Usage: deb-root.sh DEB DIR OUTER_MNTNS (DIR: an empty folder;
# OUTER_MNTNS: `readlink /proc/$$/ns/mnt` of the caller).
set -eu
deb=$1
dir=$2
outer_ns=$3
start=$(date +%s)
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
die() {
	echo "FAIL: $*"
	exit 1
}

# Never mount over this machine's own tree.
[ "$(readlink /proc/self/ns/mnt)" != "$outer_ns" ] ||
	die "not in a mount namespace of its own: refusing to mount"
[ "$(id -u)" -eq 0 ] || die "needs root"

root=$dir/root
cleanup() {
	# Lazily, innermost first; the namespace's end drops whatever is left.
	for m in $(awk -v d="$dir" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
}
trap cleanup EXIT

mount -t tmpfs -o size=1G,mode=0700 memplug-deb "$dir" || die "tmpfs on $dir"
mkdir "$dir/upper" "$dir/work" "$root"
mount -t overlay memplug-deb -o "lowerdir=/,upperdir=$dir/upper,workdir=$dir/work" "$root" ||
	die "overlay of / on $root (lower /, upper on tmpfs)"
# An overlay holds one file system per layer: /usr or /var mounted apart get
# an overlay of their own.
for d in usr var; do
	mountpoint -q "/$d" || continue
	mkdir "$dir/upper-$d" "$dir/work-$d"
	mount -t overlay memplug-deb -o "lowerdir=/$d,upperdir=$dir/upper-$d,workdir=$dir/work-$d" "$root/$d" ||
		die "overlay of /$d"
done
mount -t proc proc "$root/proc" || die "proc"
mount -t sysfs -o ro sysfs "$root/sys" || die "sysfs"
mount -t tmpfs -o mode=0755 run "$root/run" || die "tmpfs on /run"
mount -t tmpfs -o mode=1777 tmp "$root/tmp" || die "tmpfs on /tmp"
mount -t tmpfs -o mode=0755 dev "$root/dev" || die "tmpfs on /dev"
for n in null zero full random urandom tty; do
	[ -e "/dev/$n" ] || continue
	: >"$root/dev/$n"
	mount --bind "/dev/$n" "$root/dev/$n" || die "bind /dev/$n"
done
ln -s /proc/self/fd "$root/dev/fd"
printf '#!/bin/sh\n# memplug test root: no service starts\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
cp "$deb" "$root/tmp/memplug.deb"
echo "throwaway root ready in $(($(date +%s) - start)) s"

in_root() {
	chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive "$@" </dev/null
}
dpkg_run() { # dpkg_run WHAT ARGS...: dpkg in the root, its output in the log
	what=$1
	shift
	t=$(date +%s)
	if ! in_root dpkg "$@" >"$dir/dpkg.log" 2>&1; then
		cat "$dir/dpkg.log"
		die "dpkg $what in the throwaway root"
	fi
	echo "dpkg $what: $(($(date +%s) - t)) s"
}
status() { in_root dpkg-query -W -f='${Status}' memplug 2>/dev/null || echo "not known"; }
no_memplugd() { # only this namespace's processes are in $root/proc
	for p in "$root"/proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = memplugd ] || continue
		fail "a memplugd runs after $1: pid ${p##*/}"
	done
}

version=$(dpkg-deb -f "$deb" Version)
upstream=${version#*:}
upstream=${upstream%-*}
conf=/etc/memplug/memplugd.conf
unit=/lib/systemd/system/memplugd.service
wants=/etc/systemd/system/multi-user.target.wants/memplugd.service
dsh=/var/lib/systemd/deb-systemd-helper-enabled/memplugd.service.dsh-also
# Every path the package ships (dirs it shares with others stay on purge).
files=$(dpkg-deb --fsys-tarfile "$deb" | tar -tvf - | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }')
[ -n "$files" ] || die "no files listed in $deb"

# A machine with memplug installed: the root starts without it.
if [ "$(status)" != "not known" ]; then
	dpkg_run "--purge of the memplug already installed here" --purge memplug
fi

# Install: dpkg unpacks, registers the conffile, runs the postinst.
dpkg_run "-i $(basename "$deb")" -i /tmp/memplug.deb
[ "$(status)" = "install ok installed" ] || fail "status after install: $(status)"
got=$(in_root dpkg-query -W -f='${Version}' memplug) || true
[ "$got" = "$version" ] || fail "installed version '$got', package has '$version'"
for f in $files; do
	[ -e "$root$f" ] || fail "$f not installed"
done
[ -f "$dir/upper/usr/sbin/memplugd" ] || [ -f "$dir/upper-usr/sbin/memplugd" ] ||
	fail "memplugd is not in the overlay's upper layer (the tmpfs)"
out=$(in_root dpkg --verify memplug 2>&1) && [ -z "$out" ] ||
	fail "dpkg --verify: installed files differ from the package's md5sums: $out"
for b in memplugd memplugctl; do
	got=$(in_root "/usr/sbin/$b" --version 2>&1) || fail "installed $b --version fails: $got"
	[ "$got" = "$b $upstream" ] || fail "installed $b --version says '$got', package is $upstream"
done
sum=$(in_root md5sum "$conf" | cut -d' ' -f1)
got=$(in_root dpkg-query -W -f='${Conffiles}' memplug)
echo "$got" | grep -qx " $conf $sum" || fail "conffile not registered as '$conf $sum': '$got'"
# The postinst (dh_installsystemd): the unit enabled, deb-systemd-helper's state.
[ "$(readlink "$root$wants")" = "$unit" ] || fail "postinst did not enable the unit: $wants"
[ -f "$root$dsh" ] || fail "postinst left no deb-systemd-helper state $dsh"
no_memplugd "install"

# An operator edits the conffile; a reinstall (postinst configure with the
# old version) keeps the edit without asking.
echo "# edited by test-deb" >>"$root$conf"
dpkg_run "-i again (edited conffile)" -i /tmp/memplug.deb
[ "$(status)" = "install ok installed" ] || fail "status after reinstall: $(status)"
grep -qx "# edited by test-deb" "$root$conf" || fail "reinstall lost the edited conffile"
[ ! -e "$root$conf.dpkg-new" ] && [ ! -e "$root$conf.dpkg-dist" ] ||
	fail "reinstall left $conf.dpkg-new/.dpkg-dist"
no_memplugd "reinstall"

# Remove: the files go, the conffile stays.
dpkg_run "--remove" --remove memplug
[ "$(status)" = "deinstall ok config-files" ] || fail "status after remove: $(status)"
for f in $files; do
	[ "$f" = "$conf" ] && continue
	[ ! -e "$root$f" ] || fail "$f left after remove"
done
grep -qx "# edited by test-deb" "$root$conf" || fail "remove did not keep the conffile"
no_memplugd "remove"

# Purge: the conffile, its folder, the postrm's state and the enablement go.
dpkg_run "--purge" --purge memplug
[ "$(status)" = "not known" ] || [ "$(status)" = "unknown ok not-installed" ] ||
	fail "status after purge: $(status)"
for f in $files $wants $dsh /etc/memplug /usr/share/doc/memplug /usr/share/memplug; do
	[ ! -e "$root$f" ] && [ ! -L "$root$f" ] || fail "$f left after purge"
done
ls "$root"/var/lib/dpkg/info/memplug.* >/dev/null 2>&1 &&
	fail "dpkg still holds $(ls "$root"/var/lib/dpkg/info/memplug.*)"
no_memplugd "purge"

echo "install, reinstall, remove, purge in the throwaway root: $(($(date +%s) - start)) s"
[ "$fails" -eq 0 ]
