#!/bin/sh
# e2e: the audit log across the things that go wrong. A DIMM attached with
# virsh behind memplugd's back shows up as an unsolicited libvirt event;
# memplugd killed with SIGKILL between the intent and the outcome of a shrink
# writes, on restart, a `reconciled` record that matches what the guest
# really has; seq continues across the restart and the chain verifies.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"

# The window between the shrink's intent and its outcome to kill the agent
# in: an exec point holds the worker right after the detach call (the guest,
# non-movable, then refuses the unplug while the agent is dead). Timing it
# instead lost the race once: the refusal came before the test looked.
need_test_build
start_guest guest-nonmovable audit
export MEMPLUG_TEST_EXEC_AT=shrink:after-detach-call MEMPLUG_TEST_EXEC='sleep 20'
start_agent
unset MEMPLUG_TEST_EXEC_AT MEMPLUG_TEST_EXEC
n0=$("$bed" memtotal "$g" 0)
ctl grow "$g" 256M --node 0 || fail "grow failed"
"$bed" wait-memtotal "$g" 0 $((n0 + 262144)) 90
alias=$(ctl --json log --domain "$g" --event attach | sed -n 's/.*"alias":"\(ua-mp-[^"]*\)".*/\1/p' | head -n 1)
[ -n "$alias" ] || fail "no attach record with an alias"
log "memplugd attached $alias"

"$bed" attach-dimm "$g" 1 128 ua-e2e-behind
i=0
until ctl log --domain "$g" --event device_added | grep -q 'alias="ua-e2e-behind" solicited=false'; do
	i=$((i + 1))
	[ "$i" -le 50 ] || fail "no unsolicited device_added record for ua-e2e-behind"
	sleep 0.2
done
ctl log --domain "$g" --event device_added | grep 'ua-e2e-behind' | grep -q 'actor=libvirt' ||
	fail "the unsolicited event is not attributed to libvirt"
log "ok: virsh attach-device behind the agent's back is audited as unsolicited"

seq_before=$(tail -n 1 "$agent_audit" | sed -n 's/.*"seq":\([0-9]*\).*/\1/p')
req=$(ctl --json shrink "$g" 256M --node 0 --no-wait | sed -n 's/.*"request":"\([^"]*\)".*/\1/p')
[ -n "$req" ] || fail "shrink --no-wait printed no request id"
i=0
until grep '"event":"intent"' "$agent_audit" | grep -q "\"request\":\"$req\""; do
	i=$((i + 1))
	[ "$i" -le 100 ] || fail "no intent record for $req"
	sleep 0.05
done
grep '"event":"outcome"' "$agent_audit" | grep -q "\"request\":\"$req\"" &&
	fail "the outcome came before the kill: no window to test"
kill -9 "$agent_pid"
wait "$agent_pid" 2>/dev/null || true
agent_pid=""
log "killed memplugd between the intent and the outcome of $req"

start_agent
i=0
until grep '"event":"reconciled"' "$agent_audit" | grep -q "\"request\":\"$req\""; do
	i=$((i + 1))
	[ "$i" -le 100 ] || fail "no reconciled record for $req after the restart"
	sleep 0.1
done
found=$(grep '"event":"reconciled"' "$agent_audit" | grep "\"request\":\"$req\"" |
	sed -n 's/.*"found":"\([^"]*\)".*/\1/p')
if "$bed" has-alias "$g" "$alias"; then truth=attached; else truth="not attached"; fi
expect_eq "reconciled finding for $alias" "$found" "$truth"
seq_after=$(grep '"event":"agent_start"' "$agent_audit" | tail -n 1 | sed -n 's/.*"seq":\([0-9]*\).*/\1/p')
expect_ge "seq of the second agent_start" "$seq_after" $((seq_before + 1))
"$MEMPLUGCTL" log verify "$agent_audit" || fail "audit chain does not verify"
log PASS
