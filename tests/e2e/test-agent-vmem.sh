#!/bin/sh
# e2e: a guest with one virtio-mem device per cell (guest-vmem). memplugctl
# grow 130M --node 1 raises the device's <requested> (live and persistent)
# and the guest's own node-1 MemTotal by exactly 130 MiB; a grow beyond the
# device is refused before anything changes; shrink 130M --node 1 brings
# node 1 back exactly; the audit log names the device and the model; a
# spread grow puts each node's share on its own device.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"
command -v jq >/dev/null || fail "needs jq"

v() { virsh -q -c qemu:///system "$@"; }
# requested|current of the virtio-mem device on node $2 of domain $1 ($3: --inactive)
vmem_field() {
	v dumpxml ${4:+"$4"} "$1" | awk -v node="$2" -v f="$3" '
		/<memory model=.virtio-mem/ { inside = 1; n = -1; val = "" }
		inside && /<node>/ { gsub(/.*<node>|<\/node>.*/, ""); n = $0 }
		inside && $0 ~ "<" f " " { line = $0; gsub(/.*unit=.KiB.>|<\/.*/, "", line); val = line }
		inside && /<\/memory>/ { inside = 0; if (n == node) print val }'
}

start_guest guest-vmem vmem
start_agent
n0=$("$bed" memtotal "$g" 0)
n1=$("$bed" memtotal "$g" 1)
log "before: node0=$n0 node1=$n1 kB"
expect_eq "node1 requested at boot" "$(vmem_field "$g" 1 requested)" 0

reply=$(ctl --json grow "$g" 130M --node 1) || fail "grow failed: $reply"
expect_eq "model in the reply" "$(echo "$reply" | jq -r '.attached[0].model')" virtio-mem
alias=$(echo "$reply" | jq -r '.attached[0].alias')
expect_eq "device in the reply" "$alias" virtiomem1
"$bed" wait-memtotal "$g" 1 $((n1 + 133120)) 90
expect_eq "node1 MemTotal after grow 130M" "$("$bed" memtotal "$g" 1)" $((n1 + 133120))
expect_eq "node0 MemTotal after grow" "$("$bed" memtotal "$g" 0)" "$n0"
expect_eq "live requested" "$(vmem_field "$g" 1 requested)" 133120
expect_eq "live current" "$(vmem_field "$g" 1 current)" 133120
expect_eq "persistent requested" "$(vmem_field "$g" 1 requested --inactive)" 133120
expect_eq "current in the reply" "$(echo "$reply" | jq -r '.attached[0].current_kib')" 133120

# Beyond the device (512 MiB, 130 MiB requested): refused, nothing moves.
live=$(v dumpxml "$g")
conf=$(v dumpxml --inactive "$g")
rc=0
msg=$(ctl grow "$g" 400M --node 1 2>&1) || rc=$?
log "memplugctl said (exit $rc): $msg"
[ "$rc" -ne 0 ] || fail "a grow beyond the device was not refused"
echo "$msg" | grep -q "does not fit in virtio-mem device virtiomem1" || fail "the refusal does not name the device"
echo "$msg" | grep -q "382 MiB left" || fail "the refusal does not say what is left"
[ "$(v dumpxml "$g")" = "$live" ] || fail "the live XML changed after the refused grow"
[ "$(v dumpxml --inactive "$g")" = "$conf" ] || fail "the persistent XML changed after the refused grow"
expect_eq "node1 MemTotal after the refusal" "$("$bed" memtotal "$g" 1)" $((n1 + 133120))
# Not a block multiple: the nearest valid sizes.
msg=$(ctl grow "$g" 3M --node 1 2>&1) && fail "3M was not refused"
echo "$msg" | grep -q "2 MiB and 4 MiB" || fail "no nearest sizes in: $msg"

ctl shrink "$g" 130M --node 1 || fail "shrink failed"
"$bed" wait-memtotal "$g" 1 "$n1" 90
expect_eq "node1 MemTotal after shrink" "$("$bed" memtotal "$g" 1)" "$n1"
expect_eq "live current after shrink" "$(vmem_field "$g" 1 current)" 0
expect_eq "persistent requested after shrink" "$(vmem_field "$g" 1 requested --inactive)" 0

# A spread grow: each node's share on its own device.
reply=$(ctl --json grow "$g" 128M) || fail "spread grow failed: $reply"
log "spread: $(echo "$reply" | jq -c '[.attached[] | {node, alias, requested_kib}]')"
t0=$(vmem_field "$g" 0 requested)
t1=$(vmem_field "$g" 1 requested)
expect_eq "spread total" $((t0 + t1)) 131072
"$bed" wait-memtotal "$g" 0 $((n0 + t0)) 90
"$bed" wait-memtotal "$g" 1 $((n1 + t1)) 90
ctl shrink "$g" 128M || fail "spread shrink failed"
"$bed" wait-memtotal "$g" 0 "$n0" 90
"$bed" wait-memtotal "$g" 1 "$n1" 90

# The audit trail names the device and the model.
req=$(ctl --json log --domain "$g" --event request | jq -r '.records[0].request')
[ -n "$req" ] || fail "no request record for $g"
events=$(ctl --json log --request "$req" | jq -r '.records[].event' | tr '\n' ' ')
log "request $req: $events"
for e in request preflight intent resize outcome; do
	echo "$events" | grep -qw "$e" || fail "request $req has no $e record"
done
ctl --json log --request "$req" --event resize | jq -e '.records[] | select(.alias == "virtiomem1" and .model == "virtio-mem")' >/dev/null ||
	fail "the resize record does not name virtiomem1"
ctl --json log --domain "$g" --event size_change | jq -e '.records[] | select(.alias == "virtiomem1")' >/dev/null ||
	fail "no size_change event for virtiomem1"
"$MEMPLUGCTL" log verify "$agent_audit" || fail "audit chain does not verify"
log PASS
