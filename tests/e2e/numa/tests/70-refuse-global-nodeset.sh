#!/bin/sh
# numa (e): cell 1 is backed by 2 MiB hugepages bound to L1 nodes 0-1 while
# the global strict nodeset is node 0. A grow that node 0's free pages cannot
# back (though nodes 0-1 together could) is refused before any attach, and
# the message names host node 0 and the global nodeset. The test then shows
# that the refusal is warranted: the same DIMM attached with virsh fails
# ("Cannot allocate memory"). A grow that node 0 can back goes through.
. "$NUMA_DIR/l1-lib.sh"

l2_start l2-global-partial numa-global
free0=$(free_pages 0) free1=$(free_pages 1)
mib=$(((free0 * 2 / 128 + 1) * 128))
pages=$((mib / 2))
log "after the start: $(all_free_pages); asking for $mib MiB = $pages pages on guest node 1"
[ "$pages" -le $((free0 + free1)) ] || fail "layout: nodes 0-1 cannot hold $pages pages together"

before=$(all_free_pages)
rc=0
out=$(ctl grow numa-global "${mib}M" --node 1 2>&1) || rc=$?
log "memplugctl (exit $rc): $out"
expect_eq "exit code of the refused grow" "$rc" 1
echo "$out" | grep -q "host node 0 has $free0 free" || fail "the refusal does not name host node 0 and its $free0 pages: $out"
echo "$out" | grep -q "nodeset='0'" || fail "the refusal does not name the global nodeset: $out"
expect_eq "live DIMMs after the refusal" "$(l2_dimms numa-global)" 0
expect_eq "free pages per node after the refusal" "$(all_free_pages)" "$before"

# The refusal must be real: libvirt + QEMU fail the same DIMM.
cat >"$NUMABED_WORK/dimm.xml" <<XML
<memory model='dimm'><target><size unit='MiB'>$mib</size><node>1</node></target></memory>
XML
if virsh_ attach-device numa-global "$NUMABED_WORK/dimm.xml" --live >"$NUMABED_WORK/attach.out" 2>&1; then
	fail "virsh attached the DIMM memplug refused: the refusal was not warranted"
fi
log "virsh attach-device of the same DIMM: $(tr '\n' ' ' <"$NUMABED_WORK/attach.out")"
grep -q "Cannot allocate memory" "$NUMABED_WORK/attach.out" ||
	fail "virsh failed otherwise than for lack of hugepages: $(cat "$NUMABED_WORK/attach.out")"
expect_eq "live DIMMs after virsh's failed attach" "$(l2_dimms numa-global)" 0

# What node 0 can back is not refused.
[ "$free0" -ge 64 ] || fail "layout: node 0 has only $free0 free pages, want 64 for the fitting grow"
out=$(ctl grow numa-global 128M --node 1 2>&1) || fail "a grow node 0 can back was refused: $out"
expect_eq "live DIMMs after the fitting grow" "$(l2_dimms numa-global)" 1
pass "refused beyond node 0's $free0 pages (virsh fails there too); 128 MiB went through"
