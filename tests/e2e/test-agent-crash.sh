#!/bin/sh
# e2e (issue 11): kill -9 memplugd at five points of a grow and five of a
# shrink (crash points of the test build, MEMPLUG_TEST_CRASH_AT), restart it,
# and compare four things each time: the live XML, the persistent XML, the
# guest's own MemTotal, and the audit log's last word for the request. One
# guest serves every point.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"

[ "${MEMPLUG_THREAD_CHECKS:-0}" = 1 ] || { echo "SKIP: crash points need the test build (build-san)"; exit 77; }
start_guest guest-2cell crash
n1=$("$bed" memtotal "$g" 1)

dimms() { virsh -q -c qemu:///system dumpxml $1 "$g" | grep -o "ua-mp-[0-9a-f]*-[0-9]*-[0-9]*" | sort -u | tr '\n' ' '; }

# start_agent, then until the agent's views list the guest (the domain
# list is read on a worker after `status` already answers).
start_agent_ready() {
	start_agent
	i=0
	until ctl status 2>/dev/null | grep -q "$g"; do
		i=$((i + 1))
		[ "$i" -le 100 ] || fail "memplugd does not list $g"
		sleep 0.1
	done
}

# crash_at OP POINT: one request killed at POINT, then a restart.
crash_at() {
	op=$1 point=$2
	before=$(dimms "" | wc -w)
	export MEMPLUG_TEST_CRASH_AT="$op:$point"
	start_agent_ready
	unset MEMPLUG_TEST_CRASH_AT
	out=$(ctl "$op" "$g" 256M --node 1 2>&1) || true
	i=0 # the request reached the crash point, or it ended some other way
	while kill -0 "$agent_pid" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -le 300 ] || fail "$op did not reach $point: $out"
		sleep 0.1
	done
	wait "$agent_pid" 2>/dev/null || true
	agent_pid=""
	grep -q "crash point $op:$point" "$agent_dir/memplugd.log" || fail "$op did not stop at $point"
	req=$(grep '"event":"request"' "$agent_audit" | tail -n 1 | sed -n 's/.*"request":"\([^"]*\)".*/\1/p')
	start_agent_ready
	i=0 # reconcile runs on a worker after the first connection
	while grep '"event":"intent"' "$agent_audit" | grep -q "\"request\":\"$req\"" &&
		! grep "\"request\":\"$req\"" "$agent_audit" | tail -n 1 | grep -q '"event":"\(reconciled\|outcome\)"'; do
		i=$((i + 1))
		[ "$i" -le 100 ] || break
		sleep 0.1
	done
	last=$(grep "\"request\":\"$req\"" "$agent_audit" | tail -n 1 |
		sed -n 's/.*"event":"\([^"]*\)".*"result":"\([^"]*\)".*/\1:\2/p')
	action=$(grep "\"request\":\"$req\"" "$agent_audit" | tail -n 1 | sed -n 's/.*"action":"\([^"]*\)".*/ \1/p')
	live=$(dimms "") config=$(dimms --inactive)
	n=$(echo "$live" | wc -w)
	"$bed" wait-memtotal "$g" 1 $((n1 + n * 262144)) 90 ||
		fail "$op:$point: MemTotal $("$bed" memtotal "$g" 1) kB, live XML has $n DIMMs"
	# After after-detach-call the guest's answer may land between the two
	# reads: that point is compared once the answer came (below).
	[ "$point" = after-detach-call ] || [ "$live" = "$config" ] ||
		fail "$op:$point: live [$live] persistent [$config]"
	case "$last" in
	reconciled:ok | outcome:*) ;;
	*) fail "$op:$point: the audit log's last word is $last" ;;
	esac
	log "ok: $op:$point: $n DIMMs live = persistent, MemTotal node 1 $((n1 + n * 262144)) kB, last word $last$action"
	if [ "$point" = after-detach-call ]; then
		# The guest was asked before the kill: its answer (lost, or still
		# to come) must take the DIMM out of the persistent definition too.
		"$bed" wait-memtotal "$g" 1 $((n1 + (before - 1) * 262144)) 90 ||
			fail "$op:$point: the guest never released the DIMM"
		i=0
		until [ "$(dimms --inactive | wc -w)" -eq $((before - 1)) ] &&
			[ "$(dimms "")" = "$(dimms --inactive)" ]; do
			i=$((i + 1))
			[ "$i" -le 100 ] || fail "$op:$point: released, but persistent [$(dimms --inactive)] live [$(dimms "")]"
			sleep 0.1
		done
		log "ok: $op:$point: the guest's late answer took the DIMM out of both definitions"
	fi
	stop_agent
}

for p in after-intent after-attach after-attach-record before-outcome after-outcome; do
	crash_at grow "$p"
done
# Enough DIMMs for five shrinks.
start_agent_ready
while [ "$(dimms "" | wc -w)" -lt 5 ]; do ctl grow "$g" 256M --node 1 >/dev/null || fail "grow"; done
stop_agent
for p in after-intent after-detach-call after-live-detach after-config-detach after-outcome; do
	crash_at shrink "$p"
done
log PASS
