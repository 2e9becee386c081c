#!/bin/sh
# e2e: the host model's sources agree on this host. `memplugctl inspect
# --json` reads the host three ways: libnuma + sysfs (--host), this host's
# `virsh capabilities` saved to a file (--host-caps) and a copy of its sysfs
# (--host-sysfs, the layout ROOT/devices/{system/node,virtual/memory_tiering}).
# Node ids, CPUs, distances and hugepage pools (sizes and totals) must be the
# same in all three; tiers the same in the two sysfs readers. Free values:
# numbers from the local host, null from capabilities, and exactly the
# fabricated ones from the copy (in which they are changed on purpose, so the
# reader is seen to read the copy). The fourth source, the agent's
# (libvirt: capabilities plus free memory per call), answers `inspect` for a
# domain defined (not started) for the purpose: same ids, CPUs, distances
# and pools, free values filled in. Then libvirt's test driver: its 2-node
# host, not this one, with its oddities reported. No guest boots; the pools
# are read under the e2e lock so no other test changes them meanwhile.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"

command -v jq >/dev/null || fail "needs jq"
data=$(cd "$e2e_dir/../data" && pwd)
dom=$data/guest-2cell.xml
tmp=$agent_dir # agent.sh removes it

inspect() { "$MEMPLUGCTL" --json inspect --xml "$dom" "$@"; }

# What every source must agree on, in a canonical form.
shape='.host.nodes | map({id, cpus, cpuless, distances,
	pools: (.hugepages | map({page_kib, total}))})'

# A copy of the node directories, with fabricated free values.
copy_sysfs() {
	root=$tmp/sys
	for d in /sys/devices/system/node/node[0-9]*; do
		n=$(basename "$d")
		mkdir -p "$root/devices/system/node/$n"
		cp "$d/meminfo" "$d/cpulist" "$d/distance" "$root/devices/system/node/$n/"
		for p in "$d"/hugepages/hugepages-*; do
			[ -d "$p" ] || continue
			q=$root/devices/system/node/$n/hugepages/$(basename "$p")
			mkdir -p "$q"
			cat "$p/nr_hugepages" >"$q/nr_hugepages"
			cat "$p/free_hugepages" >"$q/free_hugepages"
		done
	done
	for t in /sys/devices/virtual/memory_tiering/memory_tier*; do
		[ -d "$t" ] || continue
		mkdir -p "$root/devices/virtual/memory_tiering/$(basename "$t")"
		cp "$t/nodelist" "$root/devices/virtual/memory_tiering/$(basename "$t")/"
	done
	# node 0: MemFree 12345 kB, and half its 2 MiB pages free
	sed -i 's/^\(Node 0 MemFree: *\)[0-9]*/\112345/' "$root/devices/system/node/node0/meminfo"
	q=$root/devices/system/node/node0/hugepages/hugepages-2048kB
	[ -d "$q" ] && echo $(($(cat "$q/nr_hugepages") / 2)) >"$q/free_hugepages"
	return 0
}

virsh -c qemu:///system capabilities >"$tmp/caps.xml"
copy_sysfs
inspect --host >"$tmp/local.json"
inspect --host-caps "$tmp/caps.xml" >"$tmp/caps.json"
inspect --host-sysfs "$tmp/sys/devices/system/node" >"$tmp/sysfs.json"

# The agent's view, through libvirt, of a defined domain (lib.sh's cleanup
# undefines it).
g="bed-hostsrc-$$"
started="$started $g"
sed -e "s#<name>.*</name>#<name>$g</name>#" -e '/<uuid>/d' "$dom" >"$tmp/dom.xml"
virsh -q -c qemu:///system define "$tmp/dom.xml" >/dev/null
start_agent --connect qemu:///system
ctl --json inspect "$g" >"$tmp/libvirt.json"
stop_agent

for s in local caps sysfs libvirt; do
	expect_eq "$s: source" "$(jq -r .host.source "$tmp/$s.json")" "$s"
	jq -S -c "$shape" "$tmp/$s.json" >"$tmp/$s.shape"
	log "$s: $(cat "$tmp/$s.shape")"
done
expect_ge "nodes on this host" "$(jq '.host.nodes | length' "$tmp/local.json")" 1
expect_ge "CPUs seen" "$(jq -r '[.host.nodes[].cpus] | map(select(. != null)) | length' \
	"$tmp/local.json")" 1
expect_eq "distances known" "$(jq '[.host.nodes[].distances | length] | min' \
	"$tmp/local.json")" "$(jq '.host.nodes | length' "$tmp/local.json")"
cmp -s "$tmp/local.shape" "$tmp/caps.shape" || fail "local and capabilities disagree"
log "ok: local = capabilities (ids, CPUs, distances, pools)"
cmp -s "$tmp/local.shape" "$tmp/sysfs.shape" || fail "local and the sysfs copy disagree"
log "ok: local = sysfs copy (ids, CPUs, distances, pools)"
cmp -s "$tmp/local.shape" "$tmp/libvirt.shape" || fail "local and the agent's libvirt host disagree"
log "ok: local = the agent's libvirt host (ids, CPUs, distances, pools)"
expect_eq "tiers: local = sysfs copy" "$(jq -c '[.host.nodes[].tier]' "$tmp/local.json")" \
	"$(jq -c '[.host.nodes[].tier]' "$tmp/sysfs.json")"
expect_eq "tiers from capabilities" "$(jq -c '[.host.nodes[].tier] | unique' "$tmp/caps.json")" \
	"[null]"

# Free values: known locally, unknown from capabilities, fabricated in the copy.
expect_eq "local free values known" \
	"$(jq '[.host.nodes[].free_kib, .host.nodes[].hugepages[].free] | map(select(. == null)) | length' \
		"$tmp/local.json")" 0
expect_eq "the agent's free values known" \
	"$(jq '[.host.nodes[].free_kib, .host.nodes[].hugepages[].free] | map(select(. == null)) | length' \
		"$tmp/libvirt.json")" 0
expect_eq "capabilities free values null" \
	"$(jq '[.host.nodes[].free_kib, .host.nodes[].hugepages[].free] | map(select(. != null)) | length' \
		"$tmp/caps.json")" 0
expect_eq "copy: node 0 free_kib" "$(jq '.host.nodes[0].free_kib' "$tmp/sysfs.json")" 12345
q=$tmp/sys/devices/system/node/node0/hugepages/hugepages-2048kB
if [ -d "$q" ]; then
	expect_eq "copy: node 0 free 2 MiB pages" \
		"$(jq '.host.nodes[0].hugepages[] | select(.page_kib == 2048) | .free' "$tmp/sysfs.json")" \
		"$(($(cat "$q/nr_hugepages") / 2))"
fi
"$MEMPLUGCTL" inspect --xml "$dom" --host-caps "$tmp/caps.xml" >"$tmp/caps.txt"
grep -q "free memory unknown" "$tmp/caps.txt" || fail "the text does not say free memory is unknown"
log "ok: the text says free memory is unknown"

# libvirt's test driver describes its own 2-node host.
virsh -c test:///default capabilities >"$tmp/test.xml"
inspect --host-caps "$tmp/test.xml" >"$tmp/test.json"
expect_eq "test driver: node ids" "$(jq -c '[.host.nodes[].id]' "$tmp/test.json")" "[0,1]"
expect_eq "test driver: CPUs" "$(jq -c '[.host.nodes[].cpus]' "$tmp/test.json")" '["0-7","8-15"]'
expect_eq "test driver: totals" "$(jq -c '[.host.nodes[].total_kib]' "$tmp/test.json")" \
	"[2097152,4194304]"
expect_ge "test driver: oddities reported" "$(jq '.host.warnings | length' "$tmp/test.json")" 1
log "test driver warnings: $(jq -c .host.warnings "$tmp/test.json")"
log PASS
