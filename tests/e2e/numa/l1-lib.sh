# Sourced by the tests that run inside L1 (tests/NN-*.sh): checks that print
# what they compared, L2 guests from templates/ that are torn down when the
# test exits, L1's per-node memory, and memplugctl on L1's memplugd.
# A test exits 0 (pass), 1 after "FAIL: reason", or 77 after "SKIP: reason".
set -eu
numa_dir=$NUMA_DIR
. "$numa_dir/layout.sh"
test_name=$(basename "$0" .sh)
test_name=${test_name#[0-9][0-9]-}
l2_started=""

log() { echo "$*"; }
fail() {
	echo "FAIL: $*"
	exit 1
}
skip() {
	echo "SKIP: $*"
	exit 77
}
pass() { echo "PASS${1:+ $*}"; }

expect_eq() {
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
	log "ok: $1 = $2"
}

virsh_() { virsh -q -c qemu:///system "$@"; }
ctl() { "$MEMPLUGCTL" --socket "$NUMABED_WORK/memplugd.sock" "$@"; }

l2_cleanup() {
	for g in $l2_started; do
		virsh_ destroy "$g" >/dev/null 2>&1 || true
		virsh_ undefine "$g" >/dev/null 2>&1 || true
	done
}
trap l2_cleanup EXIT

# Renders templates/$1.xml as the domain $2 and defines it (no start).
l2_define() {
	l2_started="$l2_started $2"
	sed "s|@NAME@|$2|g" "$numa_dir/templates/$1.xml" >"$NUMABED_WORK/$2.xml"
	virsh_ define "$NUMABED_WORK/$2.xml" >/dev/null 2>"$NUMABED_WORK/define.err" ||
		fail "$2: virsh define: $(tr '\n' ' ' <"$NUMABED_WORK/define.err")"
}

# Defines and starts an L2 guest; its firmware finds no disk to boot, and
# nothing here needs more: the tests look at L1's side.
l2_start() {
	l2_define "$1" "$2"
	virsh_ start "$2" >/dev/null || fail "$2 did not start: $(tail -n 3 "/var/log/libvirt/qemu/$2.log")"
}

l2_pid() { cat "/run/libvirt/qemu/$1.pid"; }
l2_dimms() { virsh_ dumpxml ${2:+"$2"} "$1" | grep -c "<memory model='dimm'" || true; }

# L1 host node $1: free 2 MiB pages; MemFree in kB.
free_pages() { cat "/sys/devices/system/node/node$1/hugepages/hugepages-2048kB/free_hugepages"; }
mem_free() { awk '/MemFree/ { print $(NF-1) }' "/sys/devices/system/node/node$1/meminfo"; }
# MemFree plus what the kernel can drop at once (page cache, reclaimable
# slab): a grow that makes the kernel reclaim cache on the node still shows
# its whole size here, where MemFree alone drops by less.
mem_reclaimable_free() {
	awk '/ MemFree:| FilePages:| SReclaimable:/ { s += $(NF-1) } END { print s + 0 }' \
		"/sys/devices/system/node/node$1/meminfo"
}
l1_nodes() { layout_nodes "$LAYOUT"; }
all_free_pages() { for n in $(l1_nodes); do printf '%s=%s ' "$n" "$(free_pages "$n")"; done; }
# The hugetlb memory (kB) the L2 QEMU process of guest $1 has mapped.
l2_hugetlb_kb() {
	awk '/^(Private|Shared)_Hugetlb:/ { s += $2 } END { print s + 0 }' "/proc/$(l2_pid "$1")/smaps"
}
