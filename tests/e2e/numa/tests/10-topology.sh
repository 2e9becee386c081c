#!/bin/sh
# numa: the kernel (/sys), libvirt (`virsh capabilities`) and memplug's
# inspect (libnuma) see the same host in L1 as the layout describes: the
# nodes, which have CPUs and which are CPU-less, and every distance.
. "$NUMA_DIR/l1-lib.sh"

caps=$NUMABED_WORK/caps.xml
virsh_ capabilities >"$caps"
ctl inspect --host --json >"$NUMABED_WORK/inspect.json" 2>&1 ||
	fail "memplugctl inspect --host: $(head -c 300 "$NUMABED_WORK/inspect.json")"

n_layout=$(l1_nodes | wc -l)
expect_eq "nodes in /sys" "$(cat /sys/devices/system/node/online)" "0-$((n_layout - 1))"
expect_eq "cells in virsh capabilities" \
	"$(xmllint --xpath 'count(/capabilities/host/topology/cells/cell)' "$caps")" "$n_layout"
expect_eq "nodes in memplug inspect" "$(jq '.host.nodes | length' "$NUMABED_WORK/inspect.json")" "$n_layout"

for n in $(l1_nodes); do
	want=$(layout_field "$LAYOUT" "$n" cpus)
	sys=$(cat "/sys/devices/system/node/node$n/cpulist")
	expect_eq "node $n CPUs in /sys" "${sys:-none}" "$want"
	c=$(xmllint --xpath "string(/capabilities/host/topology/cells/cell[@id='$n']/cpus/@num)" "$caps")
	expect_eq "node $n CPU count in virsh capabilities" "$c" \
		"$(layout_cpu_ids "$want" | wc -l)"
	m=$(jq -r ".host.nodes[] | select(.id == $n) | .cpus" "$NUMABED_WORK/inspect.json")
	expect_eq "node $n CPUs in memplug inspect" "${m:-none}" "$want"
	sysd="" virtd="" mpd="" wantd=""
	for o in $(l1_nodes); do
		wantd="$wantd $(layout_dist "$LAYOUT" "$n" "$o")"
		virtd="$virtd $(xmllint --xpath "string(/capabilities/host/topology/cells/cell[@id='$n']/distances/sibling[@id='$o']/@value)" "$caps")"
		mpd="$mpd $(jq -r ".host.nodes[] | select(.id == $n) | .distances[\"$o\"] // .distances[$o] // empty" "$NUMABED_WORK/inspect.json" 2>/dev/null)"
	done
	sysd=" $(cat "/sys/devices/system/node/node$n/distance")"
	expect_eq "node $n distances in /sys" "$sysd" "$wantd"
	expect_eq "node $n distances in virsh capabilities" "$virtd" "$wantd"
	expect_eq "node $n distances in memplug inspect" "$mpd" "$wantd"
done
pass "$n_layout nodes, CPUs and distances agree in /sys, libvirt and memplug"
