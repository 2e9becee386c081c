#!/bin/sh
# Prepares this host for the end-to-end bed: packages, the libvirtd
# configuration QEMU needs in a container (root, no security driver, no
# namespaces, no cgroups), a mounted hugetlbfs with a 2 MiB page pool on host
# node 0, and running virtlogd + libvirtd reachable through qemu:///system.
# Idempotent. A libvirtd that is already running is restarted only when this
# script had to change something it depends on (qemu.conf, hugetlbfs mount).
#   tests/e2e/setup-host.sh            (as root)
# Environment: BED_HUGEPAGES (2 MiB pages wanted on node 0, default 384).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
conf=/etc/libvirt/qemu.conf
want_pages=${BED_HUGEPAGES:-384}
changed=0

say() { echo "setup-host: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
"$here/../../scripts/install-deps.sh"

# libvirt's Debian build runs QEMU as libvirt-qemu unless told otherwise;
# the account must exist for libvirtd to start at all.
ensure_accounts() {
	getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
	getent passwd libvirt-qemu >/dev/null ||
		useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
	getent group kvm >/dev/null || groupadd -r kvm
	mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/qemu /run/libvirt /etc/libvirt
}

# Sets "key = value" in qemu.conf, commenting out any other active setting of
# the key; leaves the file untouched when the value is already there.
conf_set() {
	key=$1 value=$2
	[ -f "$conf" ] || : >"$conf"
	if grep -Eq "^[[:space:]]*${key}[[:space:]]*=[[:space:]]*$(printf '%s' "$value" | sed 's/[][\.*^$]/\\&/g')[[:space:]]*$" "$conf" &&
		[ "$(grep -Ec "^[[:space:]]*${key}[[:space:]]*=" "$conf")" -eq 1 ]; then
		return 0
	fi
	sed -i -E "s/^([[:space:]]*${key}[[:space:]]*=)/# memplug-e2e: \\1/" "$conf"
	printf '%s = %s\n' "$key" "$value" >>"$conf"
	say "qemu.conf: set $key = $value"
	changed=1
}

configure_qemu() {
	conf_set user '"root"'
	conf_set group '"root"'
	conf_set security_driver '"none"'
	conf_set namespaces '[]'
	conf_set cgroup_controllers '[]'
}

mount_hugetlbfs() {
	mkdir -p /dev/hugepages
	if ! awk '$2 == "/dev/hugepages" && $3 == "hugetlbfs" { f = 1 } END { exit !f }' /proc/mounts; then
		mount -t hugetlbfs -o pagesize=2M hugetlbfs /dev/hugepages
		say "mounted hugetlbfs on /dev/hugepages"
		changed=1
	fi
}

# Grows (never shrinks) the 2 MiB pool on host node 0, keeping 1 GiB of the
# node's free memory for everything else.
size_pool() {
	d=/sys/devices/system/node/node0/hugepages/hugepages-2048kB
	[ -d "$d" ] || d=/sys/kernel/mm/hugepages/hugepages-2048kB
	have=$(cat "$d/nr_hugepages")
	[ "$have" -ge "$want_pages" ] && return 0
	free_kb=$(awk '/MemFree/ { print $(NF-1) }' /sys/devices/system/node/node0/meminfo 2>/dev/null ||
		awk '/MemFree/ { print $2 }' /proc/meminfo)
	need_kb=$(((want_pages - have) * 2048 + 1048576))
	[ "$free_kb" -ge "$need_kb" ] ||
		die "node 0 has $free_kb kB free, need $need_kb kB for $want_pages hugepages"
	echo "$want_pages" >"$d/nr_hugepages"
	got=$(cat "$d/nr_hugepages")
	[ "$got" -ge "$want_pages" ] || die "asked for $want_pages hugepages on node 0, got $got"
	say "hugepage pool on node 0: $have -> $got pages"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# On a systemd host the units own the daemons; in a container there is no
# init system and the daemons are started directly.
have_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

start_virtlogd() {
	if have_systemd; then
		systemctl start virtlogd.socket virtlogd.service 2>/dev/null || systemctl start virtlogd
		return 0
	fi
	pid_alive /run/virtlogd.pid || pgrep -x virtlogd >/dev/null && return 0
	daemon_start virtlogd -d
	say "started virtlogd"
}

# Starts a daemon without the descriptors this script inherited: run under
# `flock /tmp/memplug-e2e.lock`, the lock's descriptor would otherwise live
# on in the daemon and hold the e2e lock for as long as it runs.
daemon_start() (
	for fd in /proc/$$/fd/*; do # sh redirects single-digit descriptors only
		case ${fd##*/} in [3-9]) eval "exec ${fd##*/}>&-" ;; esac
	done
	exec "$@"
)

libvirtd_running() { pid_alive /run/libvirtd.pid || pgrep -x libvirtd >/dev/null; }

stop_libvirtd() {
	pid=$(cat /run/libvirtd.pid 2>/dev/null || pgrep -x libvirtd | head -n 1)
	say "restarting libvirtd (pid $pid) to pick up the changes"
	kill "$pid"
	i=0
	while kill -0 "$pid" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -le 100 ] || die "libvirtd (pid $pid) did not stop"
		sleep 0.1
	done
}

start_libvirtd() {
	if have_systemd; then
		if [ "$changed" -eq 1 ]; then systemctl restart libvirtd; else systemctl start libvirtd; fi
		return 0
	fi
	if libvirtd_running; then
		[ "$changed" -eq 0 ] && return 0
		stop_libvirtd
	fi
	daemon_start libvirtd -d
	say "started libvirtd"
}

wait_virsh() {
	i=0
	until virsh -c qemu:///system list >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -le 60 ] || die "virsh -c qemu:///system list still fails"
		sleep 0.5
	done
}

ensure_accounts
configure_qemu
mount_hugetlbfs
size_pool
start_virtlogd
start_libvirtd
wait_virsh
virsh -c qemu:///system list
say "ready"
