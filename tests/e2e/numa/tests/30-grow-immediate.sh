#!/bin/sh
# numa (a, ordinary memory): in a guest with <allocation mode='immediate'>,
# a 256 MiB grow on the cell bound to L1 node 1 is preallocated there: the
# L2 QEMU's new mappings (numa_maps) hold exactly 262144 kB more on node 1
# (the DIMM, plus a little bookkeeping) and nothing on node 2, its pages on
# node 0 rise by at most 8 MiB, and L1 node 1's free memory (MemFree plus page
# cache and reclaimable slab, since the allocation may reclaim cache: a run
# saw MemFree alone drop by 203 MiB) drops by about that much while the
# CPU-less node 2's does not move.
. "$NUMA_DIR/l1-lib.sh"

# kB of the process $1's pages on node $2, summed over its mappings; with a
# third argument (a copy of its numa_maps), only over the mappings (address
# and policy) that copy does not have. The old mappings' pages may shrink a little meanwhile (a
# run saw 128 kB), so the DIMM is measured in the new ones.
qemu_node_kb() {
	awk -v n="N$2" 'FILENAME != "/proc/'"$1"'/numa_maps" { old[$1 " " $2] = 1; next }
	!(($1 " " $2) in old) {
		ps = 4
		for (i = 1; i <= NF; i++) if ($i ~ /^kernelpagesize_kB=/) { split($i, a, "="); ps = a[2] }
		for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == n) s += a[2] * ps }
	} END { print s + 0 }' ${3:+"$3"} "/proc/$1/numa_maps"
}

# Drops L1's page cache and waits until node 1's MemFree holds still, so
# that reclaim and late frees do not blur the measurement.
settle() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	prev=$(mem_free 1) i=0
	while :; do
		sleep 1
		cur=$(mem_free 1)
		[ $((cur - prev)) -le 2048 ] && [ $((prev - cur)) -le 2048 ] && return 0
		i=$((i + 1))
		[ "$i" -le 10 ] || fail "node 1 MemFree does not settle ($prev, $cur kB)"
		prev=$cur
	done
}

l2_start l2-immediate numa-imm
pid=$(l2_pid numa-imm)
settle
q0=$(qemu_node_kb "$pid" 0) q2=$(qemu_node_kb "$pid" 2)
maps=$NUMABED_WORK/numa-imm.numa_maps
cp "/proc/$pid/numa_maps" "$maps"
f0=$(mem_reclaimable_free 0) f1=$(mem_reclaimable_free 1) f2=$(mem_reclaimable_free 2)
out=$(ctl grow numa-imm 256M --node 1 2>&1) || fail "grow 256M --node 1: $out"
log "memplugctl: $out"
e0=$(($(qemu_node_kb "$pid" 0) - q0)) e1=$(qemu_node_kb "$pid" 1 "$maps") e2=$(($(qemu_node_kb "$pid" 2) - q2))
n2=$(qemu_node_kb "$pid" 2 "$maps")
d0=$((f0 - $(mem_reclaimable_free 0))) d1=$((f1 - $(mem_reclaimable_free 1))) d2=$((f2 - $(mem_reclaimable_free 2)))
log "L2 QEMU's pages per L1 node, change (kB): node 0 $e0, node 1 in new mappings $e1, node 2 $e2 ($n2 in new mappings); free memory drop per node (kB): $d0 $d1 $d2"
# The DIMM is 262144 kB, all of it touched; QEMU's own bookkeeping may add
# a little on the node it runs on.
[ "$e1" -ge 262144 ] && [ "$e1" -le 270336 ] || fail "QEMU's new mappings hold $e1 kB on node 1, want 262144 (+ up to 8 MiB)"
expect_eq "QEMU's new mappings on CPU-less node 2, kB" "$n2" 0
[ "$e0" -le 8192 ] || fail "QEMU's node 0 pages rose by $e0 kB"
expect_eq "QEMU's pages on CPU-less node 2, change in kB" "$e2" 0
[ "$d1" -ge 245760 ] && [ "$d1" -le 294912 ] ||
	fail "node 1 free memory (MemFree + cache) dropped by $d1 kB, want about 262144 (240 to 288 MiB)"
[ "$d0" -le 32768 ] && [ "$d0" -ge -32768 ] || fail "node 0 free memory moved by $d0 kB"
[ "$d2" -le 4096 ] && [ "$d2" -ge -4096 ] || fail "CPU-less node 2 free memory moved by $d2 kB"
pass "QEMU's pages +$e1 kB on node 1 ($e0 on 0, $e2 on 2); free memory node 1 -$d1 kB, node 0 $d0, node 2 $d2"
