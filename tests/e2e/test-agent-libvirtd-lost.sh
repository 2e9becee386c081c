#!/bin/sh
# e2e (issue 11, break 2): libvirtd is killed during a shrink, right after
# the detach request went to QEMU (an exec point of the test build runs
# `kill -9` there, MEMPLUG_TEST_EXEC_AT=shrink:after-detach-call), so the
# guest's answer comes while libvirtd is dead and DEVICE_REMOVED is lost.
# With a 3 s detach timeout the reply comes first: it must say pending
# because the connection was lost, not blame the guest or say failed. Then
# libvirtd is started again: memplugd must re-read the device state and
# settle the request (a late outcome, source "reread"), the DIMM must leave
# both the live and the persistent definition, the guest's node-1 MemTotal
# be back to its boot value, and a later grow on that node work.
# libvirtd is left running whatever happens (QEMU guests survive it).
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"

need_exec_points
in_xml() { virsh -q -c qemu:///system dumpxml $2 "$g" | grep -q "alias name='$1'"; }

AGENT_CONFIG="$agent_dir/memplugd.conf"
printf '[memplugd]\ndetach_timeout = 3s\n' >"$AGENT_CONFIG"
start_guest guest-2cell lost
n1=$("$bed" memtotal "$g" 1)
# The exec point runs in memplugd's worker; memplugd waits for it.
export MEMPLUG_TEST_EXEC_AT=shrink:after-detach-call
export MEMPLUG_TEST_EXEC="kill -9 $libvirtd_pid; date +%s%N >'$agent_dir/killed'"
start_agent
unset MEMPLUG_TEST_EXEC_AT MEMPLUG_TEST_EXEC

ctl grow "$g" 256M --node 1 || fail "grow failed"
"$bed" wait-memtotal "$g" 1 $((n1 + 262144)) 90
alias=$(ctl --json log --domain "$g" --event attach | sed -n 's/.*"alias":"\(ua-mp-[^"]*\)".*/\1/p' | head -n 1)
[ -n "$alias" ] || fail "no attach record for the grow"
in_xml "$alias" "" && in_xml "$alias" --inactive || fail "$alias is not in both definitions after the grow"
log "ok: $alias in both definitions, node 1 MemTotal $((n1 + 262144)) kB"

t_shrink=$(date +%s%N)
st=0
out=$(ctl shrink "$g" 256M --node 1 2>&1) || st=$?
reply_ms=$(ms_since "$t_shrink")
log "shrink replied after $reply_ms ms, exit $st: $out"
grep -q "exec point shrink:after-detach-call" "$agent_dir/memplugd.log" || fail "the exec point did not run"
[ -f "$agent_dir/killed" ] || fail "the exec point did not kill libvirtd"
[ -z "$(libvirtds)" ] || fail "a libvirtd runs although this test killed it: someone else restarted it"
t_kill=$(cat "$agent_dir/killed")
log "ok: libvirtd killed $((($t_kill - $t_shrink) / 1000000)) ms after the shrink started"
# Honest at the time of the reply: libvirtd is dead, memplugd cannot know.
[ "$st" -ne 0 ] || fail "the shrink reported success while libvirtd was dead: $out"
echo "$out" | grep -q "connection to libvirt was lost" || fail "the reply does not say the connection was lost: $out"
echo "$out" | grep -qi "failed\|has not released" && fail "the reply claims what it cannot know: $out"
req=$(grep '"event":"request"' "$agent_audit" | tail -n 1 | sed -n 's/.*"request":"\([^"]*\)".*/\1/p')
[ -n "$req" ] || fail "no request record for the shrink"

# The guest answers without libvirtd: its node 1 is back to the boot size.
"$bed" wait-memtotal "$g" 1 "$n1" 60 || fail "the guest did not release $alias while libvirtd was dead"
log "ok: the guest released $alias while libvirtd was dead: node 1 MemTotal $n1 kB"
# The answer never reached memplugd: the event is really lost.
grep '"event":"device_removed"' "$agent_audit" | grep -q "$alias\|\"dimm0\"" &&
	fail "DEVICE_REMOVED reached memplugd before libvirtd died: the race was lost, nothing tested"
grep "\"request\":\"$req\"" "$agent_audit" | grep -q '"event":"outcome".*"late":true' &&
	fail "a late outcome before libvirtd came back"
log "ok: no device_removed and no late outcome while libvirtd is dead"

sleep 1 # time for a settle that should not happen before the restart
start_libvirtd
t_up=$(date +%s%N)
log "libvirtd started again ($libvirtd_cmd): now pid $(libvirtds | tr '\n' ' ')"

i=0
records() { grep "\"request\":\"$req\"" "$agent_audit"; }
until records | grep '"event":"outcome"' | grep -q '"late":true'; do
	i=$((i + 1))
	# memplugd's reconnect backoff doubles up to 30 s: its next try may
	# come about 30 s after the restart.
	[ "$i" -le 600 ] || fail "60 s after the restart, no late outcome for $req: $(ctl log --request "$req")"
	sleep 0.1
done
settled_ms=$(ms_since "$t_up")
# The audit log's own clock: the reconnect record, then the outcome.
ts_ms() { date -d "$(echo "$1" | sed -n 's/.*"ts":"\([^"]*\)".*/\1/p')" +%s%3N; }
recon=$(grep '"event":"reconnect"' "$agent_audit" | tail -n 1)
[ -n "$recon" ] || fail "no reconnect record in the audit log"
late=$(records | grep '"event":"outcome"' | grep '"late":true' | tail -n 1)
echo "$late" | grep -q '"result":"ok"' || fail "the late outcome is not ok: $late"
echo "$late" | grep -q '"source":"reread"' || fail "the late outcome does not come from the re-read: $late"
recon_ms=$(($(ts_ms "$recon") - t_up / 1000000))
after_recon_ms=$(($(ts_ms "$late") - $(ts_ms "$recon")))
log "ok: settled $settled_ms ms after the restart: $(ctl log --request "$req" --event outcome | tail -n 1 | cut -c1-140)"
log "trail of $req: $(records | sed -n 's/.*"event":"\([^"]*\)".*"result":"\([^"]*\)".*/\1:\2/p' | tr '\n' ' ')"

# What libvirt shows after its own reconnect to QEMU, and the config.
in_xml "$alias" "" && fail "$alias is still in the live XML after libvirtd's restart"
log "ok: libvirt's live XML no longer lists $alias"
if grep '"event":"device_removed"' "$agent_audit" | grep -q "$alias\|\"dimm0\""; then
	log "libvirt sent DEVICE_REMOVED for $alias after the reconnect"
else
	log "libvirt sent no DEVICE_REMOVED for $alias after the reconnect: the re-read settled it"
fi
i=0
while in_xml "$alias" --inactive; do
	i=$((i + 1))
	[ "$i" -le 50 ] || fail "$alias is still in the persistent definition after the late outcome"
	sleep 0.1
done
log "ok: $alias left the persistent definition"
expect_eq "guest node 1 MemTotal" "$("$bed" memtotal "$g" 1)" "$n1"

# No stuck slot or queue: a later grow on the same node works.
ctl grow "$g" 256M --node 1 || fail "a later grow on node 1 failed"
"$bed" wait-memtotal "$g" 1 $((n1 + 262144)) 90
log "ok: a later grow on node 1 works: MemTotal $((n1 + 262144)) kB"
log "timings: kill $((($t_kill - $t_shrink) / 1000000)) ms after the shrink began; reply after $reply_ms ms; libvirtd restarted; memplugd reconnected $recon_ms ms later (its backoff), the outcome $after_recon_ms ms after the reconnect ($settled_ms ms after the restart)"
log PASS
