#!/bin/sh
# e2e (issue 11, breaks 3 and 7), on one guest:
# - QEMU holds a DIMM that libvirt does not list (put there behind libvirt's
#   back with `virsh qemu-monitor-command --hmp device_add`, the state a
#   connection lost mid-attach leaves): libvirt's own attach fails with
#   "slot 0 is busy"; memplugd's grow goes to another slot, says so, and the
#   guest sees both DIMMs.
# - The guest is destroyed while memplugd waits for it to release a DIMM
#   (the guest is paused, so it cannot answer): the reply comes at once and
#   says the domain stopped, not after the detach timeout, and the DIMM has
#   left the persistent definition.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"

AGENT_CONFIG="$agent_dir/memplugd.conf"
printf '[memplugd]\ndetach_timeout = 60s\n' >"$AGENT_CONFIG"
start_guest guest-2cell honest
start_agent
n1=$("$bed" memtotal "$g" 1)
hmp() { virsh -q -c qemu:///system qemu-monitor-command "$g" --hmp "$1"; }

hmp 'object_add memory-backend-ram,id=memghost,size=256M' || fail "object_add"
out=$(hmp 'device_add pc-dimm,id=ghost,memdev=memghost,node=1,slot=0') || fail "device_add: $out"
virsh -q -c qemu:///system dumpxml "$g" | grep -q ghost && fail "libvirt lists the DIMM added behind it"
"$bed" wait-memtotal "$g" 1 $((n1 + 262144)) 90
dimm="$agent_dir/dimm.xml"
printf "<memory model='dimm'><target><size unit='MiB'>256</size><node>1</node></target></memory>\n" >"$dimm"
if out=$(virsh -q -c qemu:///system attach-device "$g" "$dimm" --live 2>&1); then
	fail "libvirt's own attach did not meet the busy slot: $out"
fi
echo "$out" | grep -q "slot 0 is busy" || fail "libvirt's attach failed otherwise: $out"
log "ok: QEMU holds slot 0 behind libvirt; virsh attach-device: $out"

out=$(ctl grow "$g" 256M --node 1 2>&1) || fail "grow failed: $out"
echo "$out" | grep -q "note: slot 0 is held by QEMU" || fail "the reply does not tell the operator: $out"
"$bed" wait-memtotal "$g" 1 $((n1 + 2 * 262144)) 90
slot=$(virsh -q -c qemu:///system dumpxml "$g" | grep -A6 "ua-mp-" | sed -n "s/.*slot='\([0-9]*\)'.*/\1/p" | head -n 1)
[ -n "$slot" ] && [ "$slot" != 0 ] || fail "the DIMM is in slot '$slot'"
log "ok: grow went to slot $slot: $(echo "$out" | grep note: | cut -c1-160)"

# Break 7: destroyed while releasing.
virsh -q -c qemu:///system suspend "$g" >/dev/null || fail "suspend"
alias=$(virsh -q -c qemu:///system dumpxml "$g" | sed -n "s/.*alias name='\(ua-mp-[^']*\)'.*/\1/p" | head -n 1)
t0=$(date +%s)
ctl shrink "$g" 256M --node 1 >"$agent_dir/shrink.out" 2>&1 &
shrink_pid=$!
i=0
until grep '"event":"intent"' "$agent_audit" | grep -q "$alias"; do
	i=$((i + 1))
	[ "$i" -le 100 ] || fail "no shrink intent for $alias"
	sleep 0.1
done
sleep 1 # the detach call has gone out; the paused guest cannot answer
virsh -q -c qemu:///system destroy "$g" >/dev/null || fail "destroy"
wait "$shrink_pid" && fail "the shrink reported success: $(cat "$agent_dir/shrink.out")"
t=$(($(date +%s) - t0))
out=$(cat "$agent_dir/shrink.out")
[ "$t" -lt 15 ] || fail "the reply took $t s: $out"
echo "$out" | grep -q "stopped while the guest was releasing" || fail "the reply does not say the domain stopped: $out"
echo "$out" | grep -q "has not released" && fail "the reply blames the guest: $out"
virsh -q -c qemu:///system dumpxml --inactive "$g" | grep -q "$alias" &&
	fail "$alias is still in the persistent definition"
log "ok: reply after $t s: $out"
log PASS
