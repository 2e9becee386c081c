#!/bin/sh
# numa: the kernel (/sys), libvirt (`virsh capabilities`) and memplug's
# inspect (libnuma) see the same host in L1 as the layout describes: the
# nodes, which have CPUs and which are CPU-less, every distance, and (memplug)
# each node's memory and 2 MiB pool.
. "$NUMA_DIR/l1-lib.sh"

caps=$NUMABED_WORK/caps.xml
virsh_ capabilities >"$caps"
ctl --json inspect --xml "$NUMA_DIR/templates/l2-hugepages.xml" --host >"$NUMABED_WORK/inspect.json" 2>&1 ||
	fail "memplugctl inspect --host: $(head -c 300 "$NUMABED_WORK/inspect.json")"

# One value of memplug's JSON; a missing field is a value that fails the
# comparison, not a jq error.
mp() { jq -r "$1" "$NUMABED_WORK/inspect.json" 2>/dev/null || echo "(no such field: $1)"; }

n_layout=$(l1_nodes | wc -l)
expect_eq "nodes in /sys" "$(cat /sys/devices/system/node/online)" "0-$((n_layout - 1))"
expect_eq "cells in virsh capabilities" \
	"$(xmllint --xpath 'count(/capabilities/host/topology/cells/cell)' "$caps")" "$n_layout"
expect_eq "nodes in memplug inspect" "$(mp '.host.nodes | length')" "$n_layout"

for n in $(l1_nodes); do
	want=$(layout_field "$LAYOUT" "$n" cpus)
	sys=$(cat "/sys/devices/system/node/node$n/cpulist")
	expect_eq "node $n CPUs in /sys" "${sys:-none}" "$want"
	c=$(xmllint --xpath "string(/capabilities/host/topology/cells/cell[@id='$n']/cpus/@num)" "$caps")
	expect_eq "node $n CPU count in virsh capabilities" "$c" \
		"$(layout_cpu_ids "$want" | wc -l)"
	m=$(mp ".host.nodes[] | select(.id == $n) | if (.cpus // \"\") == \"\" then \"none\" else .cpus end")
	expect_eq "node $n CPUs in memplug inspect" "$m" "$want"
	expect_eq "node $n CPU-less in memplug inspect" "$(mp ".host.nodes[] | select(.id == $n) | .cpuless")" \
		"$([ "$want" = none ] && echo true || echo false)"
	m=$(mp ".host.nodes[] | select(.id == $n) | .hugepages[] | select(.page_kib == 2048) | .total")
	expect_eq "node $n 2 MiB pool in memplug inspect" "$m" "$(layout_field "$LAYOUT" "$n" hugepages2m)"
	m=$(mp ".host.nodes[] | select(.id == $n) | .total_kib")
	expect_eq "node $n MemTotal in memplug inspect" "$m" \
		"$(awk '/MemTotal/ { print $(NF-1) }' "/sys/devices/system/node/node$n/meminfo")"
	wantd=""
	for o in $(l1_nodes); do
		wantd="$wantd $(layout_dist "$LAYOUT" "$n" "$o")"
	done
	# Each source's row, in node id order (one process per source and node:
	# L1 is emulated, and the 8-node layout has 64 distances).
	virtd=$(xmllint --xpath "/capabilities/host/topology/cells/cell[@id='$n']/distances/sibling/@id | /capabilities/host/topology/cells/cell[@id='$n']/distances/sibling/@value" "$caps" |
		tr ' ' '\n' | sed -n 's/^id="\([0-9]*\)"/\1/p; s/^value="\([0-9]*\)"/\1/p' | paste - - | sort -n | awk '{ printf " %s", $2 }')
	mpd=$(mp ".host.nodes[] | select(.id == $n) | .distances | to_entries | sort_by(.key | tonumber) | map(\" \" + (.value | tostring)) | join(\"\")")
	sysd=" $(cat "/sys/devices/system/node/node$n/distance")"
	expect_eq "node $n distances in /sys" "$sysd" "$wantd"
	expect_eq "node $n distances in virsh capabilities" "$virtd" "$wantd"
	expect_eq "node $n distances in memplug inspect" "$mpd" "$wantd"
done
pass "$n_layout nodes, their CPUs and distances agree in /sys, libvirt and memplug"
