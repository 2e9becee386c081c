#!/bin/sh
# numa (e): a grow on the cell bound to L1 node 1 that node 1's 2 MiB pool
# cannot back is refused before anything is attached, and the message names
# host node 1 (not the pools of nodes 0 and 2, which must not count).
. "$NUMA_DIR/l1-lib.sh"

l2_start l2-hugepages numa-refpool
free1=$(free_pages 1)
mib=$(((free1 * 2 / 128 + 1) * 128))
before=$(all_free_pages)
log "node 1: $free1 free pages; asking for $mib MiB = $((mib / 2)) pages (all nodes: $before)"
rc=0
out=$(ctl grow numa-refpool "${mib}M" --node 1 2>&1) || rc=$?
log "memplugctl (exit $rc): $out"
expect_eq "exit code of the refused grow" "$rc" 1
echo "$out" | grep -q "host node 1 " || fail "the refusal does not name host node 1: $out"
expect_eq "live DIMMs after the refusal" "$(l2_dimms numa-refpool)" 0
expect_eq "persistent DIMMs after the refusal" "$(l2_dimms numa-refpool --inactive)" 0
expect_eq "free pages per node after the refusal" "$(all_free_pages)" "$before"
[ -z "$(ctl --json log --domain numa-refpool --event intent | grep '"event"' || true)" ] ||
	fail "the refused grow left an intent record"
pass "refused, names host node 1, nothing attached"
