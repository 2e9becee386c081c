#!/bin/sh
# Prepares this host for the end-to-end bed, changing only what the bed
# cannot do without, and records every change so that --restore puts it back.
#   tests/e2e/setup-host.sh             prepare (as root; idempotent)
#   tests/e2e/setup-host.sh --restore   put back what earlier runs changed
#   tests/e2e/setup-host.sh --changes   print what a --restore would put back
#   tests/e2e/setup-host.sh --restart-libvirtd   (re)start it, wait until it answers
# What it may change, each only when missing, each recorded in the state file
# $BED_STATE/host.state (default /var/lib/memplug-e2e/host.state):
# - packages (scripts/install-deps.sh; they stay);
# - a hugetlbfs mount on /dev/hugepages when no 2 MiB hugetlbfs is mounted;
# - host node 0's 2 MiB hugepage pool, grown to BED_HUGEPAGES pages (384);
# - virtlogd and libvirtd, started when not running;
# - /etc/libvirt/qemu.conf: only when libvirtd cannot start a probe guest (a
#   bed guest, started and removed at once) as configured. Then it tries, one
#   at a time and least weakening first, the libvirt-qemu account, namespaces
#   = [], cgroup_controllers = [], security_driver = "none", user and group
#   root, until the probe starts; then drops again each that the probe does
#   without. The first change keeps a backup beside the state file; every
#   change is printed.
# A host where libvirtd already starts the probe keeps its qemu.conf byte for
# byte. --restore first removes the bed's own guests (bed-*), then puts back
# qemu.conf (only if nobody edited it since), restarts or stops libvirtd,
# stops virtlogd if it started it, unmounts, shrinks the pool, deletes the
# accounts and empty folders it created. The guest kernel cache
# (/var/cache/memplug-e2e) stays.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
conf=/etc/libvirt/qemu.conf
state_dir=${BED_STATE:-/var/lib/memplug-e2e}
state=$state_dir/host.state
backup=$state_dir/qemu.conf.before-bed
want_pages=${BED_HUGEPAGES:-384}
uri=qemu:///system

say() { echo "setup-host: $*" >&2; }
die() { say "$*"; exit 1; }

# One change per line: "KIND ARG...". Nothing is recorded twice, so the
# first record of a thing holds its state from before the bed.
record() { printf '%s\n' "$*" >>"$state"; }
recorded() { [ -f "$state" ] && grep -q "^$1\$" "$state"; }
recorded_value() { [ -f "$state" ] && sed -n "s|^$1 ||p" "$state" | head -n 1; }

mkdir_recorded() {
	[ -d "$1" ] && return 0
	mkdir_recorded "$(dirname "$1")"
	mkdir "$1"
	record "dir $1"
}

# --- the daemons -----------------------------------------------------------

# On a systemd host with libvirt's units (libvirt-daemon-system) the units own
# the daemons; elsewhere (a container, or libvirt-daemon alone) they are
# started directly.
have_systemd() {
	[ -d /run/systemd/system ] && command -v systemctl >/dev/null &&
		systemctl cat "$1.service" >/dev/null 2>&1
}

# Alive and not a zombie: a daemon that forked away from us is reaped by
# whatever init the machine has, sometimes late.
proc_alive() {
	s=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null || true)
	[ -n "$s" ] && [ "$s" != Z ]
}

daemon_pid() {
	p=$(cat "/run/$1.pid" 2>/dev/null || true)
	if [ -n "$p" ] && proc_alive "$p"; then
		echo "$p"
		return 0
	fi
	for p in $(pgrep -x "$1" || true); do
		proc_alive "$p" && echo "$p" && return 0
	done
	return 1
}

daemon_running() {
	if have_systemd "$1"; then systemctl -q is-active "$1"; else daemon_pid "$1" >/dev/null; fi
}

# The daemon gets no descriptor beyond stdio: one inherited from
# `flock /tmp/memplug-e2e.lock ...` would hold the e2e lock for its lifetime
# (flock passes fd 3; dash closes only single-digit descriptors).
daemon_start() {
	if have_systemd "$1"; then
		systemctl start "$1"
		return
	fi
	(
		fd=3
		while [ "$fd" -le 9 ]; do
			eval "exec $fd>&-"
			fd=$((fd + 1))
		done
		exec "$1" -d
	)
}

daemon_stop() {
	if have_systemd "$1"; then
		systemctl stop "$1"
		return
	fi
	pid=$(daemon_pid "$1") || return 0
	kill "$pid"
	i=0
	while proc_alive "$pid"; do
		i=$((i + 1))
		[ "$i" -le 150 ] || die "$1 (pid $pid) did not stop"
		sleep 0.1
	done
}

# Waits up to $1 half-seconds, less when libvirtd has exited (a configuration
# its QEMU driver refuses ends it soon after it daemonized).
wait_virsh() {
	i=0
	until virsh -c "$uri" list >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -le "${1:-60}" ] || return 1
		[ "$i" -lt 4 ] || daemon_running libvirtd || return 1
		sleep 0.5
	done
}

# Starts libvirtd with the configuration as it is now; fails when it does
# not answer (a configuration it refuses).
libvirtd_restart() {
	daemon_running libvirtd && daemon_stop libvirtd
	daemon_start libvirtd 2>/dev/null || return 1
	wait_virsh 40
}

# --- qemu.conf -------------------------------------------------------------

conf_active() { grep -E "^[[:space:]]*$1[[:space:]]*=" "$conf" 2>/dev/null || true; }

conf_backup() {
	recorded "qemu_conf $conf" && return 0
	mkdir_recorded "$state_dir"
	if [ -f "$conf" ]; then cp -p "$conf" "$backup"; else : >"$backup.absent"; fi
	record "qemu_conf $conf"
	say "qemu.conf: backup in $backup"
}

# True when KEY's one active line already says VALUE.
conf_has() {
	[ "$(conf_active "$1" | wc -l)" -eq 1 ] &&
		[ "$(conf_active "$1" | sed -E 's/[[:space:]]*#.*//; s/[[:space:]]+//g')" = "$1=$(echo "$2" | tr -d ' ')" ]
}

# Sets "KEY = VALUE": comments out every active line of KEY, appends the new
# one. Returns 1, changing nothing, when the file says so already.
conf_set() {
	conf_has "$1" "$2" && return 1
	conf_backup
	was=$(conf_active "$1" | tr '\n' ' ')
	[ -f "$conf" ] || : >"$conf"
	sed -i -E "s/^([[:space:]]*$1[[:space:]]*=)/# memplug-e2e: \\1/" "$conf"
	printf '%s = %s # memplug-e2e\n' "$1" "$2" >>"$conf"
	say "qemu.conf: set $1 = $2 (was: ${was:-the built-in default})"
}

# Takes back conf_set KEY: drops our line, uncomments the lines we commented.
conf_unset() {
	sed -i -E -e "/^$1 = .* # memplug-e2e\$/d" \
		-e "s/^# memplug-e2e: ([[:space:]]*$1[[:space:]]*=)/\\1/" "$conf"
	now=$(conf_active "$1" | tr '\n' ' ')
	say "qemu.conf: $1 back to ${now:-the built-in default}"
}

conf_record_hash() { record "qemu_conf_hash $(sha256sum "$conf" | cut -d' ' -f1)"; }

# --- accounts --------------------------------------------------------------

accounts_add() {
	if ! getent group libvirt-qemu >/dev/null; then
		groupadd -r libvirt-qemu
		record "group libvirt-qemu"
		say "created group libvirt-qemu"
	fi
	if ! getent passwd libvirt-qemu >/dev/null; then
		useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
		record "user libvirt-qemu"
		say "created user libvirt-qemu"
	fi
	if ! getent group kvm >/dev/null; then
		groupadd -r kvm
		record "group kvm"
		say "created group kvm"
	fi
}

# --- the probe ---------------------------------------------------------------

probe() {
	out=$("$here/bed" probe 2>&1) && return 0
	say "probe: $out"
	return 1
}

# Each candidate: "NAME" for accounts, else "KEY VALUE" of qemu.conf. Least
# weakening first.
candidates='accounts
namespaces []
cgroup_controllers []
security_driver "none"
user "root"
group "root"'

apply() {
	case "$1" in
	accounts)
		n=$(wc -l <"$state" 2>/dev/null || echo 0)
		accounts_add
		[ "$(wc -l <"$state")" -gt "$n" ]
		;;
	*) conf_set "${1%% *}" "${1#* }" ;;
	esac
}

# libvirtd cannot start a guest as configured: add candidates until it can,
# then remove again every qemu.conf setting it does without. A candidate
# already in place is skipped.
fix_qemu() {
	applied="" ok=0 nl='
'
	old_ifs=$IFS
	IFS=$nl
	for c in $candidates; do
		IFS=$old_ifs
		apply "$c" || continue
		applied="$applied$c$nl"
		if libvirtd_restart && probe; then
			ok=1
			break
		fi
	done
	IFS=$old_ifs
	if [ "$ok" -eq 0 ]; then
		# Not a matter of qemu.conf: take none of it.
		[ -f "$backup" ] && cp -p "$backup" "$conf" && libvirtd_restart || true
		die "libvirtd cannot start a guest even with every setting; qemu.conf put back (tests/e2e/bed restore undoes the rest)"
	fi
	IFS=$nl
	for c in $applied; do
		IFS=$old_ifs
		[ "$c" = accounts ] && continue
		conf_unset "${c%% *}"
		if libvirtd_restart && probe; then
			say "qemu.conf: ${c%% *} is not needed"
		else
			conf_set "${c%% *}" "${c#* }" || true
			say "qemu.conf: ${c%% *} = ${c#* } is needed"
			libvirtd_restart || die "libvirtd does not come back"
		fi
	done
	IFS=$old_ifs
	probe || die "the probe fails after pruning qemu.conf"
	conf_record_hash
	say "qemu.conf changes (diff against $backup):"
	diff -u "$backup" "$conf" >&2 || true
}

# --- hugepages -------------------------------------------------------------

hugetlbfs_2m_mounted() {
	awk '$3 == "hugetlbfs" && ($4 ~ /pagesize=2M/ || $4 !~ /pagesize=/) { f = 1 } END { exit !f }' /proc/mounts
}

mount_hugetlbfs() {
	hugetlbfs_2m_mounted && return 1
	mkdir_recorded /dev/hugepages
	mount -t hugetlbfs -o pagesize=2M hugetlbfs /dev/hugepages
	record "mount /dev/hugepages"
	say "mounted hugetlbfs on /dev/hugepages"
}

pool_file() {
	d=/sys/devices/system/node/node0/hugepages/hugepages-2048kB
	[ -d "$d" ] || d=/sys/kernel/mm/hugepages/hugepages-2048kB
	echo "$d/nr_hugepages"
}

# Grows (never shrinks) the 2 MiB pool on host node 0, keeping 1 GiB of the
# node's free memory for everything else.
size_pool() {
	f=$(pool_file)
	have=$(cat "$f")
	[ "$have" -ge "$want_pages" ] && return 0
	free_kb=$(awk '/MemFree/ { print $(NF-1) }' /sys/devices/system/node/node0/meminfo 2>/dev/null ||
		awk '/MemFree/ { print $2 }' /proc/meminfo)
	need_kb=$(((want_pages - have) * 2048 + 1048576))
	[ "$free_kb" -ge "$need_kb" ] ||
		die "node 0 has $free_kb kB free, need $need_kb kB for $want_pages hugepages"
	[ -n "$(recorded_value "hugepages $f")" ] || record "hugepages $f $have"
	echo "$want_pages" >"$f"
	got=$(cat "$f")
	[ "$got" -ge "$want_pages" ] || die "asked for $want_pages hugepages on node 0, got $got"
	say "hugepage pool on node 0: $have -> $got pages"
}

# --- setup -----------------------------------------------------------------

setup() {
	"$here/../../scripts/install-deps.sh"
	mkdir_recorded "$state_dir"
	for d in /var/log/libvirt/qemu /var/lib/libvirt/qemu /run/libvirt; do
		mkdir_recorded "$d"
	done
	mounted=0
	mount_hugetlbfs && mounted=1
	size_pool
	if ! daemon_running virtlogd; then
		daemon_start virtlogd
		record "started virtlogd"
		say "started virtlogd"
	fi
	up=1
	if ! daemon_running libvirtd; then
		record "started libvirtd"
		say "starting libvirtd"
		libvirtd_restart || up=0
	elif [ "$mounted" -eq 1 ]; then
		# libvirtd finds hugetlbfs mounts when it starts.
		say "restarting libvirtd to pick up the hugetlbfs mount"
		libvirtd_restart || up=0
	fi
	if [ "$up" -eq 1 ] && wait_virsh 40 && probe; then
		say "libvirtd starts guests as configured: qemu.conf untouched"
	else
		say "libvirtd cannot start a guest as configured: looking for the fewest qemu.conf changes"
		fix_qemu
	fi
	virsh -c "$uri" list >/dev/null
	say "ready; what this host changed for the bed: tests/e2e/setup-host.sh --changes; undo: tests/e2e/bed restore"
}

# --- restore ---------------------------------------------------------------

restore_qemu_conf() {
	recorded "qemu_conf $conf" || return 1
	want=$(sed -n 's/^qemu_conf_hash //p' "$state" | tail -n 1)
	now=$(sha256sum "$conf" 2>/dev/null | cut -d' ' -f1)
	if [ -n "$want" ] && [ "$now" != "$want" ] && [ "${BED_RESTORE_FORCE:-0}" != 1 ]; then
		say "qemu.conf changed since setup: left as it is; the original is $backup (BED_RESTORE_FORCE=1 puts it back)"
		return 1
	fi
	if [ -f "$backup.absent" ]; then
		rm -f "$conf" "$backup.absent"
		say "qemu.conf removed (there was none)"
	else
		cp -p "$backup" "$conf"
		rm -f "$backup"
		say "qemu.conf put back ($(sha256sum "$conf" | cut -c1-16))"
	fi
}

restore() {
	[ -f "$state" ] || { say "nothing to restore (no $state)"; return 0; }
	if daemon_running libvirtd; then
		"$here/bed" teardown-all || say "some bed guests remain"
	fi
	conf_back=0
	restore_qemu_conf && conf_back=1
	if recorded "started libvirtd"; then
		daemon_stop libvirtd
		say "stopped libvirtd (setup started it)"
	fi
	if recorded "started virtlogd"; then
		daemon_stop virtlogd
		say "stopped virtlogd (setup started it)"
	fi
	if recorded "mount /dev/hugepages"; then
		if umount /dev/hugepages; then say "unmounted /dev/hugepages"; else say "could not unmount /dev/hugepages"; fi
	fi
	if ! recorded "started libvirtd" && { [ "$conf_back" -eq 1 ] || recorded "mount /dev/hugepages"; }; then
		say "restarting libvirtd with the restored configuration"
		libvirtd_restart || say "libvirtd does not answer with the restored configuration"
	fi
	sed -n 's/^hugepages //p' "$state" | while read -r f before; do
		echo "$before" >"$f"
		say "hugepage pool $f: back to $(cat "$f") pages (was $before before the bed)"
	done
	for u in $(sed -n 's/^user //p' "$state"); do
		userdel "$u" && say "deleted user $u"
	done
	for g in $(sed -n 's/^group //p' "$state"); do
		groupdel "$g" && say "deleted group $g"
	done
	# Folders last and deepest first; rmdir keeps any that hold something.
	sed -n 's/^dir //p' "$state" | sort -r | while read -r d; do
		[ "$d" = "$state_dir" ] && continue
		rmdir "$d" 2>/dev/null && say "removed folder $d"
	done
	rm -f "$state"
	rmdir "$state_dir" 2>/dev/null || true
	say "restored"
}

changes() {
	[ -f "$state" ] || { echo "no changes recorded ($state)"; return 0; }
	cat "$state"
}

[ "$(id -u)" -eq 0 ] || die "must run as root"
case "${1:-}" in
"") setup ;;
--restore) restore ;;
--changes) changes ;;
--restart-libvirtd) libvirtd_restart || die "libvirtd does not answer" ;;
*) die "usage: setup-host.sh [--restore | --changes | --restart-libvirtd]" ;;
esac
