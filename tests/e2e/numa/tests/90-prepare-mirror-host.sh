#!/bin/sh
# numa (f): `memplugctl prepare DOMAIN --mirror-host --define` through L1's
# memplugd gives a plain guest L1's shape: one cell per node with CPUs, its
# vCPUs pinned to that node's CPUs, a CPU-less cell bound to the CPU-less
# node, memnodes and a global nodeset over all of them, and L1's distances
# between the cells; the guest then starts, and QEMU binds each cell's
# memory to its host node; a grow on the CPU-less cell lands on the
# CPU-less host node. Checked against the layout, not against what prepare
# said.
. "$NUMA_DIR/l1-lib.sh"

l2_define l2-plain numa-prep
out=$(ctl prepare numa-prep --mirror-host --define 2>&1) || fail "prepare --mirror-host --define: $out"
log "memplugctl prepare: $(echo "$out" | head -n 20)"
xml=$NUMABED_WORK/numa-prep.prepared.xml
virsh_ dumpxml --inactive numa-prep >"$xml"
x() { xmllint --xpath "$1" "$xml"; }

# The cells, in L1's node order: those with CPUs first, then the CPU-less ones.
cells="" cpuful="" cpuless=""
for n in $(l1_nodes); do
	if [ "$(layout_field "$LAYOUT" "$n" cpus)" = none ]; then cpuless="$cpuless $n"; else cpuful="$cpuful $n"; fi
done
for n in $cpuful $cpuless; do cells="$cells $n"; done
expect_eq "guest cells" "$(x 'count(//cpu/numa/cell)')" "$(echo $cells | wc -w)"
i=0
for n in $cells; do
	expect_eq "cell $i memnode" "$(x "string(//numatune/memnode[@cellid='$i']/@nodeset)")" "$n"
	expect_eq "cell $i memnode mode" "$(x "string(//numatune/memnode[@cellid='$i']/@mode)")" strict
	want=$(layout_field "$LAYOUT" "$n" cpus)
	vcpus=$(x "string(//cpu/numa/cell[@id='$i']/@cpus)")
	if [ "$want" = none ]; then
		expect_eq "cell $i (host node $n, CPU-less) vCPUs" "${vcpus:-none}" none
	else
		[ -n "$vcpus" ] || fail "cell $i (host node $n) has no vCPUs"
		for v in $(layout_cpu_ids "$vcpus"); do
			expect_eq "vCPU $v (cell $i) pinned to" "$(x "string(//cputune/vcpupin[@vcpu='$v']/@cpuset)")" "$want"
		done
	fi
	j=0
	for m in $cells; do
		d=$(x "string(//cpu/numa/cell[@id='$i']/distances/sibling[@id='$j']/@value)")
		expect_eq "distance cell $i -> cell $j (host $n -> $m)" "$d" "$(layout_dist "$LAYOUT" "$n" "$m")"
		j=$((j + 1))
	done
	i=$((i + 1))
done
all=$(echo $cells | tr ' ' '\n' | sort -n | awk 'NR == 1 { f = $1 } { l = $1 } END { print f "-" l }')
expect_eq "global strict nodeset" "$(x 'string(//numatune/memory/@nodeset)')" "$all"
[ -n "$(x 'string(//maxMemory/@slots)')" ] || fail "no <maxMemory slots> after prepare"

virsh_ start numa-prep >"$NUMABED_WORK/start.out" 2>&1 || fail "the prepared guest did not start: $(cat "$NUMABED_WORK/start.out")"
md=$(virsh_ qemu-monitor-command numa-prep '{"execute":"query-memdev"}')
i=0
for n in $cells; do
	expect_eq "QEMU: host nodes of cell $i's memory" \
		"$(echo "$md" | jq -c ".return[] | select(.id == \"ram-node$i\") | .\"host-nodes\"")" "[$n]"
	i=$((i + 1))
done
last=$((i - 1))
out=$(ctl grow numa-prep 128M --node "$last" 2>&1) || fail "grow on the prepared guest's cell $last: $out"
alias=$(virsh_ dumpxml numa-prep | xmllint --xpath "string(//devices/memory[@model='dimm']/alias/@name)" -)
md=$(virsh_ qemu-monitor-command numa-prep '{"execute":"query-memdev"}')
expect_eq "QEMU: host nodes of the DIMM on cell $last" \
	"$(echo "$md" | jq -c ".return[] | select(.id == \"mem$alias\") | .\"host-nodes\"")" "[$(echo $cells | awk '{ print $NF }')]"
pass "$(echo $cells | wc -w) cells on host nodes$cells, pins, memnodes, distances match L1; the guest starts and grows on its CPU-less cell"
