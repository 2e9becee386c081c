#!/bin/sh
# e2e: memplugctl grow 768M --node 1 through memplugd raises the 3-cell
# guest's own node-1 MemTotal by exactly 768 MiB and leaves the other nodes
# alone; shrink 768M --node 1 brings it back; the audit log holds the
# correlated request, preflight, intent, attach/detach, libvirt event and
# outcome records with the caller's uid, and its chain verifies.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"

start_guest guest-3cell grow
start_agent
ctl status | grep -q "$g" || fail "status does not list $g"
n0=$("$bed" memtotal "$g" 0)
n1=$("$bed" memtotal "$g" 1)
n2=$("$bed" memtotal "$g" 2)
log "before: node0=$n0 node1=$n1 node2=$n2 kB"

ctl grow "$g" 768M --node 1 || fail "grow failed"
"$bed" wait-memtotal "$g" 1 $((n1 + 786432)) 90
expect_eq "node1 MemTotal after grow" "$("$bed" memtotal "$g" 1)" $((n1 + 786432))
expect_eq "node0 MemTotal after grow" "$("$bed" memtotal "$g" 0)" "$n0"
expect_eq "node2 MemTotal after grow" "$("$bed" memtotal "$g" 2)" "$n2"

ctl shrink "$g" 768M --node 1 || fail "shrink failed"
"$bed" wait-memtotal "$g" 1 "$n1" 90
expect_eq "node1 MemTotal after shrink" "$("$bed" memtotal "$g" 1)" "$n1"
expect_eq "node0 MemTotal after shrink" "$("$bed" memtotal "$g" 0)" "$n0"

# The audit trail of the grow: one request id through every step.
req=$(ctl --json log --domain "$g" --event request | sed -n 's/.*"request":"\([^"]*\)".*/\1/p' | head -n 1)
[ -n "$req" ] || fail "no request record for $g"
events=$(ctl --json log --request "$req" | sed -n 's/^ *"event":"\([a-z_]*\)".*/\1/p' | tr '\n' ' ')
log "request $req: $events"
for e in request preflight intent attach outcome; do
	echo "$events" | grep -qw "$e" || fail "request $req has no $e record"
done
ctl log --domain "$g" --event device_added | grep -q "solicited=true" ||
	fail "no solicited device_added event for $g"
ctl log --domain "$g" --event device_removed | grep -q "solicited=true" ||
	fail "no solicited device_removed event for $g"
ctl log --request "$req" --event attach | grep -q "actor=uid:$(id -u)" ||
	fail "the attach record does not carry the caller's uid"
"$MEMPLUGCTL" log verify "$agent_audit" || fail "audit chain does not verify"
log PASS
