#!/bin/sh
# numa (a, ordinary memory): in a guest with <allocation mode='immediate'>,
# a 256 MiB grow on the cell bound to L1 node 1 lowers node 1's MemFree by
# that much and leaves the other nodes alone (within what L1 itself uses).
. "$NUMA_DIR/l1-lib.sh"

l2_start l2-immediate numa-imm
sleep 2 # let the start's own allocations settle
f0=$(mem_free 0) f1=$(mem_free 1) f2=$(mem_free 2)
out=$(ctl grow numa-imm 256M --node 1 2>&1) || fail "grow 256M --node 1: $out"
log "memplugctl: $out"
d0=$((f0 - $(mem_free 0))) d1=$((f1 - $(mem_free 1))) d2=$((f2 - $(mem_free 2)))
log "MemFree drop per L1 node (kB): node0=$d0 node1=$d1 node2=$d2"
# 262144 kB of guest memory, plus page tables and QEMU's own bookkeeping.
[ "$d1" -ge 258048 ] && [ "$d1" -le 294912 ] ||
	fail "node 1 MemFree dropped by $d1 kB, want 262144 (+ up to 32 MiB)"
[ "$d0" -le 32768 ] && [ "$d0" -ge -32768 ] || fail "node 0 MemFree moved by $d0 kB"
[ "$d2" -le 4096 ] && [ "$d2" -ge -4096 ] || fail "CPU-less node 2 MemFree moved by $d2 kB"
pass "node 1 MemFree -$d1 kB, node 0 $d0 kB, node 2 $d2 kB"
