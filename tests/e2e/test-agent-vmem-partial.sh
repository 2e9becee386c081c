#!/bin/sh
# e2e: a virtio-mem guest booted non-movable (guest-vmem-nonmovable: plugged
# memory onlined into the kernel zone) that cannot give all its memory back.
# After a grow of 256M on node 1 and memory in use there, shrink 256M --node
# 1 answers with exactly what the guest shows: on `partial`, the current size
# in the message equals the live <current> in libvirt's XML and the guest's
# own node-1 MemTotal; the request stays at 0 live and persistent; the audit
# log has the resize record as partial and every later size change as a late
# outcome of the same request.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"
command -v jq >/dev/null || fail "needs jq"

v() { virsh -q -c qemu:///system "$@"; }
vmem_field() { # domain node requested|current [--inactive]
	v dumpxml ${4:+"$4"} "$1" | awk -v node="$2" -v f="$3" '
		/<memory model=.virtio-mem/ { inside = 1; n = -1; val = "" }
		inside && /<node>/ { gsub(/.*<node>|<\/node>.*/, ""); n = $0 }
		inside && $0 ~ "<" f " " { line = $0; gsub(/.*unit=.KiB.>|<\/.*/, "", line); val = line }
		inside && /<\/memory>/ { inside = 0; if (n == node) print val }'
}

start_guest guest-vmem-nonmovable vmnm
AGENT_CONFIG="$agent_dir/memplugd.conf"
printf '[memplugd]\ndetach_timeout = 8s\n' >"$AGENT_CONFIG"
start_agent
n1=$("$bed" memtotal "$g" 1)
ctl grow "$g" 256M --node 1 || fail "grow failed"
"$bed" wait-memtotal "$g" 1 $((n1 + 262144)) 90
# In the kernel zone the guest keeps part of it: on this bed (Debian 12's
# kernel, TCG) one 2 MiB block stays plugged after an unplug to 0.

rc=0
msg=$(ctl shrink "$g" 256M --node 1 2>&1) || rc=$?
live=$(vmem_field "$g" 1 current)
log "memplugctl said (exit $rc): $msg"
log "live <current> right after: $live KiB"
expect_eq "live requested after the shrink" "$(vmem_field "$g" 1 requested)" 0
expect_eq "persistent requested after the shrink" "$(vmem_field "$g" 1 requested --inactive)" 0
if [ "$rc" -eq 0 ]; then
	# The guest gave everything back after all: then that is what it shows.
	expect_eq "live current after a complete shrink" "$live" 0
	fail "the guest gave all its memory back: the partial path was not exercised"
fi
echo "$msg" | grep -q "partial\|gave back" || fail "not a partial answer: $msg"
said=$(echo "$msg" | sed -n 's/.*current \([0-9]*\) KiB.*/\1/p')
expect_eq "current in the reply = live <current>" "$said" "$live"
[ "$live" -gt 0 ] || fail "partial, yet the device holds nothing"
"$bed" wait-memtotal "$g" 1 $((n1 + live)) 30
expect_eq "guest node1 MemTotal = boot + live current" "$("$bed" memtotal "$g" 1)" $((n1 + live))

req=$(ctl --json log --domain "$g" --event request | jq -r '.records[1].request')
ctl --json log --request "$req" --event resize |
	jq -e '.records[] | select(.result == "partial" and .alias == "virtiomem1")' >/dev/null ||
	fail "no partial resize record for virtiomem1"
ctl --json log --request "$req" --event outcome |
	jq -e '.records[] | select(.result == "partial")' >/dev/null || fail "no partial outcome"
# The guest retries after 50 s: what comes back is audited as a late
# outcome of the same request (checked in the unit tests either way).
i=0
while [ "$(vmem_field "$g" 1 current)" != 0 ] && [ "$i" -lt 35 ]; do
	sleep 2
	i=$((i + 1))
done
if [ "$(vmem_field "$g" 1 current)" = 0 ]; then
	sleep 2
	ctl --json log --request "$req" --event outcome |
		jq -e '.records[] | select(.late == true and .result == "ok" and .current_kib == 0)' >/dev/null ||
		fail "the late return to 0 was not audited as the request's outcome"
	log "ok: the rest came back later and was audited as a late outcome"
else
	log "the guest still keeps $(vmem_field "$g" 1 current) KiB 70 s later"
fi
"$MEMPLUGCTL" log verify "$agent_audit" || fail "audit chain does not verify"
log PASS
