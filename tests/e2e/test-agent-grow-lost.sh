#!/bin/sh
# e2e (issue 11, break 3): libvirtd is lost while a grow's attach request is
# in flight. An exec point of the test build at grow:after-intent (the last
# point before the attach call) stops libvirtd (SIGSTOP) and kills it 2 s
# later: memplugd sends the attach to a libvirtd that never reads it, and
# the connection ends with the request unanswered. QEMU never got a
# device_add, so the truth is "not attached". libvirtd is started again
# while memplugd waits for it. Checked: the reply is not ok, says the
# connection was lost and either "not attached" (what the live XML showed
# after the reconnect) or "unknown" with each source's evidence; QEMU's own
# list of memory devices, the live and persistent XML and the guest's node-1
# MemTotal show no DIMM; the audit records of the request tell the same
# story (no attach ok, no device_added, attach and outcome agree); a later
# grow on the node works and takes slot 0 (no slot left busy).
# libvirtd is left running whatever happens (agent.sh's cleanup).
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"

need_exec_points
virsh_() { virsh -q -c qemu:///system "$@"; }
in_xml() { virsh_ dumpxml $2 "$g" | grep -q "alias name='$1'"; }
# QEMU's own view: the memory devices it holds, whatever libvirt lists.
qemu_dimms() { virsh_ qemu-monitor-command "$g" --hmp 'info memory-devices' | grep -c 'Memory device \[dimm\]' || true; }
# The slot of the DIMM with alias $1 in the live XML.
slot_of() { virsh_ dumpxml "$g" | grep -A4 "alias name='$1'" | sed -n "s/.*<address type='dimm' slot='\([0-9]*\)'.*/\1/p" | head -n 1; }

start_guest guest-2cell growlost
n1=$("$bed" memtotal "$g" 1)
q0=$(qemu_dimms)
expect_eq "DIMMs QEMU holds at boot" "$q0" 0
# Once only: the later grow must go through. The exec point blocks
# memplugd's worker until the command returns (the kill runs behind it).
export MEMPLUG_TEST_EXEC_AT=grow:after-intent
export MEMPLUG_TEST_EXEC="[ -e '$agent_dir/stopped' ] && exit 0; kill -STOP $libvirtd_pid &&
date +%s%N >'$agent_dir/stopped'; (sleep 2; kill -9 $libvirtd_pid; date +%s%N >'$agent_dir/killed') >/dev/null 2>&1 &"
start_agent
unset MEMPLUG_TEST_EXEC_AT MEMPLUG_TEST_EXEC

t_grow=$(date +%s%N)
(
	st=0
	ctl grow "$g" 256M --node 1 >"$agent_dir/reply" 2>&1 || st=$?
	date +%s%N >"$agent_dir/replied"
	echo "$st" >"$agent_dir/rc"
) &
i=0
until [ -f "$agent_dir/killed" ]; do
	i=$((i + 1))
	[ "$i" -le 100 ] || fail "libvirtd was not stopped and killed within 10 s: $(tail -n 3 "$agent_dir/memplugd.log")"
	sleep 0.1
done
grep -q "exec point grow:after-intent" "$agent_dir/memplugd.log" || fail "the exec point did not run"
wait_libvirtd_gone "$libvirtd_pid" || fail "libvirtd $libvirtd_pid survived kill -9"
[ -z "$(libvirtds)" ] || fail "a libvirtd runs although this test killed it: someone else restarted it"
t_stop=$(cat "$agent_dir/stopped")
t_kill=$(cat "$agent_dir/killed")
log "libvirtd stopped $((($t_stop - $t_grow) / 1000000)) ms after the grow began, killed $((($t_kill - $t_stop) / 1000000)) ms later"
# The attach was in flight: no reply while libvirtd was stopped.
if [ -f "$agent_dir/replied" ] && [ "$(cat "$agent_dir/replied")" -lt "$t_kill" ]; then
	fail "the grow replied while libvirtd was stopped, before the kill: $(cat "$agent_dir/reply")"
fi

start_libvirtd
t_up=$(date +%s%N)
log "libvirtd started again ($libvirtd_cmd): now pid $(libvirtds | tr '\n' ' ')"
i=0
until [ -f "$agent_dir/rc" ]; do
	i=$((i + 1))
	[ "$i" -le 600 ] || fail "no reply 60 s after libvirtd's restart"
	sleep 0.1
done
st=$(cat "$agent_dir/rc")
out=$(cat "$agent_dir/reply")
t_reply=$(cat "$agent_dir/replied")
reply_ms=$((($t_reply - $t_grow) / 1000000))
log "grow replied after $reply_ms ms ($((($t_reply - $t_up) / 1000000)) ms after the restart), exit $st: $out"

# The truth, from each source, once libvirt is back.
expect_eq "DIMMs QEMU holds after the restart" "$(qemu_dimms)" 0
req=$(grep '"event":"intent"' "$agent_audit" | tail -n 1 | sed -n 's/.*"request":"\([^"]*\)".*/\1/p')
alias=$(grep '"event":"intent"' "$agent_audit" | tail -n 1 | sed -n 's/.*"alias":"\(ua-mp-[^"]*\)".*/\1/p')
[ -n "$req" ] && [ -n "$alias" ] || fail "no intent record for the grow"
in_xml "$alias" "" && fail "$alias is in the live XML: libvirt attached it"
in_xml "$alias" --inactive && fail "$alias is in the persistent definition"
log "ok: $alias is in neither definition"
sleep 2 # the guest reports its nodes every second
expect_eq "guest node 1 MemTotal" "$("$bed" memtotal "$g" 1)" "$n1"

# The reply: honest about what memplugd could know.
[ "$st" -ne 0 ] || fail "the grow reported success: $out"
echo "$out" | grep -q "connection to libvirt was lost" || fail "the reply does not say the connection was lost: $out"
if echo "$out" | grep -q "outcome unknown"; then
	verdict=unknown
	echo "$out" | grep -q "DEVICE_ADDED did not come" || fail "the unknown reply does not give the event's evidence: $out"
	echo "$out" | grep -q "the live XML" || fail "the unknown reply does not give the live XML's evidence: $out"
elif echo "$out" | grep -q "the live XML does not list it and no DEVICE_ADDED came: not attached"; then
	verdict=failed
else
	fail "the reply neither says 'not attached' with its evidence nor 'unknown': $out"
fi
log "ok: the reply says $verdict with its evidence"

# The audit trail tells the same story.
records() { grep "\"request\":\"$req\"" "$agent_audit"; }
trail=$(records | sed -n 's/.*"event":"\([^"]*\)".*"result":"\([^"]*\)".*/\1:\2/p' | tr '\n' ' ')
log "trail of $req: $trail"
echo "$trail" | grep -q "attach:$verdict outcome:$verdict" || fail "attach and outcome records do not both say $verdict: $trail"
echo "$trail" | grep -q ":ok outcome\|attach:ok" && fail "the trail claims an attach: $trail"
grep '"event":"device_added"' "$agent_audit" | grep -q "$alias" && fail "a device_added record for $alias"
log "ok: no device_added for $alias; attach and outcome agree"
recon=$(grep '"event":"reconnect"' "$agent_audit" | tail -n 1)
[ -n "$recon" ] || fail "no reconnect record in the audit log"
ts_ms() { date -d "$(echo "$1" | sed -n 's/.*"ts":"\([^"]*\)".*/\1/p')" +%s%3N; }
recon_ms=$(($(ts_ms "$recon") - t_up / 1000000))

# No stuck slot: a later grow on the node goes to slot 0.
ctl grow "$g" 256M --node 1 || fail "a later grow on node 1 failed"
"$bed" wait-memtotal "$g" 1 $((n1 + 262144)) 90
alias2=$(grep '"event":"intent"' "$agent_audit" | tail -n 1 | sed -n 's/.*"alias":"\(ua-mp-[^"]*\)".*/\1/p')
expect_eq "slot of the later grow's DIMM $alias2" "$(slot_of "$alias2")" 0
expect_eq "DIMMs QEMU holds after the later grow" "$(qemu_dimms)" 1
log "timings: libvirtd stopped $((($t_stop - $t_grow) / 1000000)) ms into the grow, killed 2 s later; restarted $((($t_up - $t_kill) / 1000000)) ms after the kill; memplugd reconnected $recon_ms ms after the restart; the reply came $reply_ms ms after the grow began"
log PASS
