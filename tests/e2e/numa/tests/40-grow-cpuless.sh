#!/bin/sh
# numa (b): in a guest with ordinary memory and no preallocation, a cell
# bound to L1's CPU-less node 2 grows (the global strict nodeset is node 0:
# ordinary memory is bound per backend, so this must not be refused); the
# DIMM sits on that cell, whose <memnode> names node 2, and QEMU binds its
# backend to host node 2.
. "$NUMA_DIR/l1-lib.sh"

l2_start l2-cpuless numa-cpuless
out=$(ctl grow numa-cpuless 256M --node 1 2>&1) || fail "grow 256M --node 1: $out"
log "memplugctl: $out"
xml=$(virsh_ dumpxml numa-cpuless)
expect_eq "DIMMs on guest node 1 in the live XML" \
	"$(echo "$xml" | xmllint --xpath "count(//devices/memory[@model='dimm'][target/node='1'])" -)" 1
expect_eq "memnode of guest cell 1" \
	"$(echo "$xml" | xmllint --xpath "string(//numatune/memnode[@cellid='1']/@nodeset)" -)" 2
alias=$(echo "$xml" | xmllint --xpath "string(//devices/memory[@model='dimm']/alias/@name)" -)
# QEMU's own view of the DIMM's backend (mem<alias>): policy and host nodes.
md=$(virsh_ qemu-monitor-command numa-cpuless --pretty '{"execute":"query-memdev"}')
log "query-memdev: $(echo "$md" | jq -c '.return[] | {id, size, policy, "host-nodes"}')"
expect_eq "host nodes of the DIMM's backend" \
	"$(echo "$md" | jq -c ".return[] | select(.id == \"mem$alias\") | .\"host-nodes\"")" "[2]"
expect_eq "policy of the DIMM's backend" \
	"$(echo "$md" | jq -r ".return[] | select(.id == \"mem$alias\") | .policy")" bind
pass "DIMM $alias on guest cell 1, bound to CPU-less L1 node 2"
