#!/bin/sh
# The numa bed's second stage, inside L1 in a chroot on the overlay of this
# machine's root: sizes each node's 2 MiB page pool as the layout says,
# starts virtlogd, libvirtd and memplugd from the checkout's build, runs the
# tests and reports each on the virtio-serial port named "numabed":
#   NUMABED BOOT <L1 uptime s> <step>   (each setup step, before READY)
#   NUMABED READY <L1 uptime s>
#   NUMABED BEGIN <test> <L1 uptime s>
#   NUMABED RESULT <test> ok|fail <seconds> <detail>
#   NUMABED DONE <L1 uptime s>
# Everything L1 writes stays in its tmpfs. Argument: the run file written by
# tests/e2e/numa/numabed (LAYOUT, TESTS, MEMPLUGD, MEMPLUGCTL, ...).
run=$1
# shellcheck disable=SC1090
. "$run"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LAYOUT MEMPLUGD MEMPLUGCTL NUMA_DIR ASAN_OPTIONS UBSAN_OPTIONS
export NUMABED_WORK=/tmp/numabed
port=""

say() { echo "NUMABED-L1 $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
report() {
	say "$*"
	[ -z "$port" ] || echo "NUMABED $*" >"$port"
}
step() { report "BOOT $(uptime_s) $*"; }
# A setup failure fails every test with the reason, then L1 powers off.
abort() {
	say "what L1 was doing:"
	ps -eo pid,stat,wchan:24,args 2>&1 | tail -n 40
	dmesg 2>&1 | tail -n 20
	for t in $TESTS; do report "RESULT ${t#[0-9][0-9]-} fail 0 L1 setup: $*"; done
	report "DONE $(uptime_s)"
	exit 1
}

find_port() {
	for p in /sys/class/virtio-ports/*; do
		[ "$(cat "$p/name" 2>/dev/null)" = numabed ] && port=/dev/${p##*/}
	done
	[ -n "$port" ] && [ -c "$port" ]
}

size_pools() {
	for n in $(layout_nodes "$LAYOUT"); do
		want=$(layout_field "$LAYOUT" "$n" hugepages2m)
		f=/sys/devices/system/node/node$n/hugepages/hugepages-2048kB/nr_hugepages
		echo "$want" >"$f" || return 1
		[ "$(cat "$f")" = "$want" ] || { say "node $n: $(cat "$f") of $want pages"; return 1; }
	done
}

# L1's own libvirt setup: the settings QEMU needs without cgroups and
# security drivers, and none of this machine's domains or networks.
configure_libvirt() {
	mkdir -p /dev/hugepages /var/log/libvirt/qemu /var/lib/libvirt/qemu /run/libvirt /etc/libvirt
	mount -t hugetlbfs -o pagesize=2M hugetlbfs /dev/hugepages || return 1
	rm -rf /etc/libvirt/qemu /var/lib/libvirt/qemu/* /var/log/libvirt/qemu/*
	mkdir -p /etc/libvirt/qemu
	cat >/etc/libvirt/qemu.conf <<-CONF
		user = "root"
		group = "root"
		security_driver = "none"
		namespaces = []
		cgroup_controllers = []
	CONF
}

# Polls "$@" (each try bounded to 5 s) until it succeeds or $1 seconds of
# L1 uptime have passed.
wait_for() {
	end=$(awk -v a="$(uptime_s)" -v s="$1" 'BEGIN { printf "%d", a + s }')
	shift
	until timeout -k 2 5 "$@" >/dev/null 2>&1; do
		[ "$(awk -v a="$(uptime_s)" -v e="$end" 'BEGIN { print (a >= e) }')" = 0 ] || return 1
		[ -z "${agent_pid:-}" ] || kill -0 "$agent_pid" 2>/dev/null || return 1
		sleep 0.2
	done
}

# "libvirtd -d" waits for the daemon's start-up, so each start is bounded.
start_libvirt() {
	step "starting virtlogd"
	timeout -k 5 30 virtlogd -d || return 1
	step "starting libvirtd"
	timeout -k 5 60 libvirtd -d || return 1
	step "waiting for libvirtd to answer"
	wait_for 30 virsh -q -c qemu:///system version
}

start_memplugd() {
	mkdir -p "$NUMABED_WORK"
	printf '[memplugd]\ndetach_timeout = 2s\nhost_reserve = 64M\n' >"$NUMABED_WORK/memplugd.conf"
	"$MEMPLUGD" --foreground --socket "$NUMABED_WORK/memplugd.sock" \
		--audit-log "$NUMABED_WORK/audit.jsonl" --config "$NUMABED_WORK/memplugd.conf" \
		>>"$NUMABED_WORK/memplugd.log" 2>&1 &
	agent_pid=$!
	step "waiting for memplugd to answer"
	wait_for 30 "$MEMPLUGCTL" --socket "$NUMABED_WORK/memplugd.sock" status
}

# Runs one test script; its last "PASS" or "FAIL: " line is the detail (the
# bed has no skip: see l1-lib.sh).
run_test() {
	t=$1 name=${1#[0-9][0-9]-}
	out=$NUMABED_WORK/$t.out
	start=$(uptime_s)
	report "BEGIN $name $start"
	rc=0
	timeout -k 5 "${NUMABED_TEST_TIMEOUT:-150}" sh "$NUMA_DIR/tests/$t.sh" >"$out" 2>&1 || rc=$?
	secs=$(awk -v a="$start" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }')
	sed "s/^/[$t] /" "$out"
	case $rc in
	0) report "RESULT $name ok $secs $(grep '^PASS' "$out" | tail -n 1 | cut -c1-200)" ;;
	124 | 137) report "RESULT $name fail $secs timed out after ${NUMABED_TEST_TIMEOUT:-150} s" ;;
	*)
		d=$(sed -n 's/^FAIL: //p' "$out" | tail -n 1 | cut -c1-300)
		report "RESULT $name fail $secs ${d:-exit $rc: $(tail -n 1 "$out" | cut -c1-200)}"
		say "memplugd log tail:"
		tail -n 15 "$NUMABED_WORK/memplugd.log"
		;;
	esac
}

. "$NUMA_DIR/layout.sh"
find_port || { say "no virtio-serial port named numabed"; exit 1; }
step "stage2 started"
step "sizing the hugepage pools"
size_pools || abort "the layout's hugepage pools could not be sized"
configure_libvirt || abort "libvirt could not be configured (hugetlbfs)"
start_libvirt || abort "libvirtd did not start or answer (virtlogd 30 s, libvirtd 60 s, then 30 s)"
step "starting memplugd"
start_memplugd || abort "memplugd did not start: $(tail -n 3 "$NUMABED_WORK/memplugd.log")"
report "READY $(uptime_s)"
for t in $TESTS; do
	run_test "$t"
done
kill "$agent_pid" 2>/dev/null
wait "$agent_pid" || report "RESULT memplugd-exit fail 0 memplugd exited with $?: $(tail -n 3 "$NUMABED_WORK/memplugd.log")"
report "DONE $(uptime_s)"
