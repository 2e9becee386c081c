#!/bin/sh
# numa (a): a grow on an L2 cell bound to L1 node 1 and backed by 2 MiB
# hugepages takes exactly its pages from node 1's pool and none from the
# other nodes; the L2 QEMU maps exactly that much more hugetlb memory.
. "$NUMA_DIR/l1-lib.sh"

before=$(all_free_pages)
l2_start l2-hugepages numa-grow
log "free 2 MiB pages per L1 node before the guest: $before; after its start: $(all_free_pages)"
for n in $(l1_nodes); do
	b=$(echo "$before" | tr ' ' '\n' | sed -n "s/^$n=//p")
	want=$b
	[ "$n" = 1 ] && want=$((b - 64)) # cell 1: 128 MiB of boot memory
	expect_eq "node $n free pages after the start" "$(free_pages "$n")" "$want"
done

before=$(all_free_pages)
h0=$(l2_hugetlb_kb numa-grow)
out=$(ctl grow numa-grow 256M --node 1 2>&1) || fail "grow 256M --node 1: $out"
log "memplugctl: $out"
for n in $(l1_nodes); do
	b=$(echo "$before" | tr ' ' '\n' | sed -n "s/^$n=//p")
	want=$b
	[ "$n" = 1 ] && want=$((b - 128))
	expect_eq "node $n free pages after the grow" "$(free_pages "$n")" "$want"
done
expect_eq "L2 QEMU hugetlb kB after the grow" "$(l2_hugetlb_kb numa-grow)" $((h0 + 262144))
expect_eq "DIMMs on guest node 1 in the live XML" \
	"$(virsh_ dumpxml numa-grow | xmllint --xpath "count(//devices/memory[@model='dimm'][target/node='1'])" -)" 1
pass "node 1 gave exactly 128 pages, nodes 0 and 2 none"
