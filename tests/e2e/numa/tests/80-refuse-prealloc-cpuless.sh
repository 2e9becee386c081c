#!/bin/sh
# numa (e): preallocated memory bound to L1's CPU-less node 2 cannot start
# on libvirt 9.0 ("The nodes select no CPUs": shown here first, for
# <allocation mode='immediate'> and for 2 MiB hugepages). memplug refuses a
# grow of such a cell with an explanation that names host node 2 and the
# preallocation, and adds nothing; a grow of the cell bound to node 0 (which
# has a CPU) is not refused.
. "$NUMA_DIR/l1-lib.sh"

# check TEMPLATE NAME WORDS: the premise, the refusal, the grow elsewhere.
check() {
	l2_define "$1" "$2"
	if virsh_ start "$2" >"$NUMABED_WORK/start.out" 2>&1; then
		fail "$1: libvirt started preallocated memory on a CPU-less node: the premise is gone"
	fi
	log "$1: virsh start: $(tr '\n' ' ' <"$NUMABED_WORK/start.out")"
	grep -q "The nodes select no CPUs" "$NUMABED_WORK/start.out" ||
		fail "$1: the start failed for another reason: $(cat "$NUMABED_WORK/start.out")"

	rc=0
	out=$(ctl grow "$2" 128M --node 1 --config 2>&1) || rc=$?
	log "$1: memplugctl (exit $rc): $out"
	expect_eq "$1: exit code of the refused grow" "$rc" 1
	echo "$out" | grep -q "host node 2, which has no CPUs" ||
		fail "$1: the refusal does not say host node 2 has no CPUs: $out"
	echo "$out" | grep -q "$3" || fail "$1: the refusal does not name the preallocation ($3): $out"
	expect_eq "$1: persistent DIMMs after the refusal" "$(l2_dimms "$2" --inactive)" 0

	out=$(ctl grow "$2" 128M --node 0 --config 2>&1) ||
		fail "$1: a grow on node 0 (with a CPU) was refused: $out"
	expect_eq "$1: persistent DIMMs after the grow on node 0" "$(l2_dimms "$2" --inactive)" 1
}

check l2-prealloc-cpuless numa-prealloc "allocation mode='immediate'"
check l2-huge-cpuless numa-hugecpuless "2 MiB hugepages"
pass "refused on CPU-less node 2 with the reason (immediate allocation, hugepages); node 0 grows"
