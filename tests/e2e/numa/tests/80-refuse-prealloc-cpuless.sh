#!/bin/sh
# numa (e): preallocated memory (<allocation mode='immediate'>) bound to
# L1's CPU-less node 2 cannot start on libvirt 9.0 ("The nodes select no
# CPUs": shown here first). memplug refuses a grow of that cell with an
# explanation that names host node 2, and attaches nothing; a grow of the
# cell bound to node 0 (which has a CPU) is not refused.
. "$NUMA_DIR/l1-lib.sh"

l2_define l2-prealloc-cpuless numa-prealloc
if virsh_ start numa-prealloc >"$NUMABED_WORK/start.out" 2>&1; then
	fail "libvirt started preallocated memory on a CPU-less node: the premise is gone"
fi
log "virsh start: $(tr '\n' ' ' <"$NUMABED_WORK/start.out")"
grep -q "The nodes select no CPUs" "$NUMABED_WORK/start.out" ||
	fail "the start failed for another reason: $(cat "$NUMABED_WORK/start.out")"

rc=0
out=$(ctl grow numa-prealloc 128M --node 1 --config 2>&1) || rc=$?
log "memplugctl (exit $rc): $out"
expect_eq "exit code of the refused grow" "$rc" 1
echo "$out" | grep -q "host node 2, which has no CPUs" ||
	fail "the refusal does not say host node 2 has no CPUs: $out"
echo "$out" | grep -q "allocation mode='immediate'" || fail "the refusal does not name the preallocation: $out"
expect_eq "persistent DIMMs after the refusal" "$(l2_dimms numa-prealloc --inactive)" 0

out=$(ctl grow numa-prealloc 128M --node 0 --config 2>&1) || fail "a grow on node 0 (with a CPU) was refused: $out"
expect_eq "persistent DIMMs after the grow on node 0" "$(l2_dimms numa-prealloc --inactive)" 1
pass "refused on CPU-less node 2 with the reason; node 0 grows"
