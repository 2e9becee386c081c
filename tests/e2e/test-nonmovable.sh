#!/bin/sh
# e2e: in a guest that onlines hot-added memory into the kernel zone
# (memhp_default_state=online), a DIMM's unplug is refused: libvirt reports
# DEVICE_REMOVAL_FAILED, the DIMM stays in the live XML and the guest's
# node-1 MemTotal keeps the DIMM.
. "$(dirname "$0")/lib.sh"

start_guest guest-nonmovable pinned
node1=$("$bed" memtotal "$g" 1)
"$bed" attach-dimm "$g" 1 256 ua-e2e-pinned1
"$bed" wait-memtotal "$g" 1 $((node1 + 262144)) 90
blocks=$("$bed" cmd "$g" blocks)
log "blocks: $blocks"
expect_eq "kernel-zone blocks on node1" \
	"$(echo "$blocks" | tr ' ' '\n' | grep -c ':Normal:node1$' || true)" 2

events=$(mktemp)
virsh -q -c qemu:///system event "$g" --event device-removal-failed --timeout 90 >"$events" 2>&1 &
watcher=$!
sleep 1 # let virsh register for the event before the unplug
"$bed" detach "$g" ua-e2e-pinned1
wait "$watcher" || true
log "events: $(cat "$events")"
grep -q "device-removal-failed.*ua-e2e-pinned1" "$events" ||
	fail "no DEVICE_REMOVAL_FAILED for ua-e2e-pinned1"
rm -f "$events"

sleep 5 # a late, successful retry would show up here
wait_alias "$g" ua-e2e-pinned1 present 1
expect_eq "node1 MemTotal after the refused unplug" "$("$bed" memtotal "$g" 1)" $((node1 + 262144))
log PASS
