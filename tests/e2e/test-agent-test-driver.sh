#!/bin/sh
# e2e: an agent connected to libvirt's test driver (test:///default) plans
# against that host, not this machine: `memplugctl inspect --json` gives
# the driver's 2-node host (cells 0 and 1, CPUs 0-7 and 8-15, 2 and 4 GiB,
# no memory tiers: those come from this machine's kernel only for a local
# connection) with source "libvirt", read through the agent's backend from the
# capabilities, while this machine's sysfs says something else. The driver's
# oddities are reported, not fatal: no keepalive, no distances, pools whose
# free counts do not fit. `policy show` reads the domain's <metadata> on a
# worker. A plan whose weights the domain cannot take is the agent's
# bad_request, and memplugctl exits 2 on it. When the build has the thread
# checks (the sanitizer build), the agent says so at start, and any blocking
# call on its loop thread would have aborted it: it must still answer and
# exit cleanly. No guest, no libvirtd: the test driver lives inside the agent.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"

command -v jq >/dev/null || fail "needs jq"

start_agent --connect test:///default
status=$(ctl --json status)
expect_eq "status uri" "$(echo "$status" | jq -r .uri)" "test:///default"
expect_eq "status connected" "$(echo "$status" | jq -r .connected)" "true"
expect_eq "domains" "$(echo "$status" | jq -r '[.domains[].name] | join(",")')" "test"

host=$(ctl --json inspect test | jq -c .host)
expect_eq "host source" "$(echo "$host" | jq -r .source)" "libvirt"
expect_eq "host node ids" "$(echo "$host" | jq -r '[.nodes[].id] | join(",")')" "0,1"
expect_eq "host CPUs" "$(echo "$host" | jq -r '[.nodes[].cpus] | join(" ")')" "0-7 8-15"
expect_eq "host totals (KiB)" "$(echo "$host" | jq -r '[.nodes[].total_kib] | join(" ")')" \
	"2097152 4194304"
expect_eq "free memory read per call" \
	"$(echo "$host" | jq -r '[.nodes[].free_kib | type] | join(" ")')" "number number"
expect_ge "oddities reported" "$(echo "$host" | jq '.warnings | length')" 1
# This machine's memory tiers are not the test driver's: none are added.
expect_eq "no local tiers on a made-up host" "$(echo "$host" | jq -c '[.nodes[].tier] | unique')" \
	"[null]"

# Not this machine's host: its node list differs from the driver's.
local_nodes=$(ls -d /sys/devices/system/node/node[0-9]* | sed 's/.*node//' | sort -n |
	paste -sd, -)
log "this machine's nodes: $local_nodes; the agent planned against 0,1 of test:///default"
[ "$local_nodes" != "0,1" ] || log "note: this machine has two nodes too; CPUs and totals decide"
local_cpus=$(cat /sys/devices/system/node/node0/cpulist)
[ "$local_cpus" != "0-7" ] || [ "$local_nodes" != "0,1" ] ||
	fail "this machine looks like the test driver's host: the test proves nothing here"

# The metadata read for `policy show` runs on a worker.
expect_eq "policy show" "$(ctl --json policy test show | jq -r .domain)" "test"

# A strategy the domain cannot take: the agent says bad_request, memplugctl
# exits 2 (a usage error, as offline) and passes the agent's reason on.
cells=$(ctl --json inspect test | jq '.cells | length')
out=$(ctl plan test --strategy weights:1,2,3,4,5,6,7,8,9 2>&1) && st=0 || st=$?
expect_eq "plan --strategy with the wrong weight count exits" "$st" 2
case "$out" in
*"9 weights for $cells guest cell"*"give one per cell"*) log "ok: $out" ;;
*) fail "plan --strategy with 9 weights on $cells cells said: $out" ;;
esac
out=$(ctl --json plan test --strategy weights:1,2,3,4,5,6,7,8,9 2>/dev/null) && st=0 || st=$?
expect_eq "the same with --json exits" "$st" 2
expect_eq "its error code" "$(echo "$out" | jq -r .error.code)" "bad_request"

grep -q "no keepalive on test:///default" "$agent_dir/memplugd.log" ||
	fail "the missing keepalive was not reported"
if [ "${MEMPLUG_THREAD_CHECKS:-0}" = 1 ]; then
	grep -q "thread checks: on" "$agent_dir/memplugd.log" ||
		fail "this build should assert the thread rule"
	log "ok: the agent runs with the thread checks on"
fi
kill "$agent_pid"
wait "$agent_pid" && st=0 || st=$?
agent_pid=""
expect_eq "memplugd exit status" "$st" 0
