#!/bin/sh
# e2e: a single-cell guest prepared offline with `prepare --cells 2 --max 2G
# --model virtio-mem` (this host's topology) is defined and boots with one
# virtio-mem device per cell, sized to each cell's planned headroom, nothing
# requested; `grow 130M --node 1` through memplugd goes through node 1's
# device and the guest's own node-1 MemTotal rises by exactly 130 MiB;
# shrink brings it back.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"
command -v jq >/dev/null || fail "needs jq"
virsh_() { virsh -q -c qemu:///system "$@"; }

BED_FILTER="'$MEMPLUGCTL' prepare --xml - --cells 2 --max 2G --model virtio-mem --print-xml" \
	start_guest guest-1cell vprep
xml=$(virsh_ dumpxml "$g")
expect_eq "cells defined" "$(echo "$xml" | grep -c '<cell id=')" 2
expect_eq "virtio-mem devices" "$(echo "$xml" | grep -c "<memory model='virtio-mem'>")" 2
n0=$("$bed" memtotal "$g" 0)
n1=$("$bed" memtotal "$g" 1)
log "the guest boots with node0=$n0 node1=$n1 kB"

start_agent
reply=$(ctl --json grow "$g" 130M --node 1) || fail "grow failed: $reply"
expect_eq "model" "$(echo "$reply" | jq -r '.attached[0].model')" virtio-mem
"$bed" wait-memtotal "$g" 1 $((n1 + 133120)) 90
expect_eq "node1 MemTotal after grow 130M" "$("$bed" memtotal "$g" 1)" $((n1 + 133120))
expect_eq "node0 MemTotal after grow" "$("$bed" memtotal "$g" 0)" "$n0"
ctl shrink "$g" 130M --node 1 || fail "shrink failed"
"$bed" wait-memtotal "$g" 1 "$n1" 90
expect_eq "node1 MemTotal after shrink" "$("$bed" memtotal "$g" 1)" "$n1"
log PASS
