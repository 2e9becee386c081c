#!/bin/sh
# e2e: a 256 MiB DIMM attached to guest node 1 (virsh attach-device) raises
# the guest's own node-1 MemTotal by exactly 256 MiB, in movable memory
# blocks, and leaves node 0 alone; virsh detach-device-alias restores it.
. "$(dirname "$0")/lib.sh"

start_guest guest-2cell dimm
node0=$("$bed" memtotal "$g" 0)
node1=$("$bed" memtotal "$g" 1)
log "before: node0=$node0 kB node1=$node1 kB"

"$bed" attach-dimm "$g" 1 256 ua-e2e-dimm1
"$bed" wait-memtotal "$g" 1 $((node1 + 262144)) 90
expect_eq "node1 MemTotal after attach" "$("$bed" memtotal "$g" 1)" $((node1 + 262144))
expect_eq "node0 MemTotal after attach" "$("$bed" memtotal "$g" 0)" "$node0"
blocks=$("$bed" cmd "$g" blocks)
log "blocks: $blocks"
expect_eq "movable blocks on node1" \
	"$(echo "$blocks" | tr ' ' '\n' | grep -c ':Movable:node1$' || true)" 2

"$bed" detach "$g" ua-e2e-dimm1
"$bed" wait-memtotal "$g" 1 "$node1" 90
wait_alias "$g" ua-e2e-dimm1 gone 30
expect_eq "node1 MemTotal after detach" "$("$bed" memtotal "$g" 1)" "$node1"
expect_eq "node0 MemTotal after detach" "$("$bed" memtotal "$g" 0)" "$node0"
log PASS
