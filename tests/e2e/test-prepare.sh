#!/bin/sh
# e2e: a single-cell guest prepared offline with `prepare --cells 2 --max 3G`
# (this host's topology, read locally) is defined and boots with two NUMA
# nodes; `grow --node 1` through memplugd shows up in the guest's own node-1
# MemTotal. Then `prepare DOMAIN --define` through memplugd: refused for a
# caller outside the admin group, and for root it changes the persistent
# definition only (the guest runs on, the reply says a restart applies it)
# and is audited as a request with root's uid.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"
command -v jq >/dev/null || fail "needs jq"
virsh_() { virsh -q -c qemu:///system "$@"; }

BED_FILTER="'$MEMPLUGCTL' prepare --xml - --cells 2 --max 3G --print-xml" \
	start_guest guest-1cell prep
xml=$(virsh_ dumpxml "$g")
expect_eq "cells defined" "$(echo "$xml" | grep -c '<cell id=')" 2
echo "$xml" | grep -q "<maxMemory slots='20' unit='KiB'>3145728</maxMemory>" ||
	fail "no 3 GiB <maxMemory> with 20 slots: $(echo "$xml" | grep maxMemory)"
n0=$("$bed" memtotal "$g" 0)
n1=$("$bed" memtotal "$g" 1)
log "the guest boots with node0=$n0 node1=$n1 kB"

start_agent
ctl grow "$g" 256M --node 1 || fail "grow failed"
"$bed" wait-memtotal "$g" 1 $((n1 + 262144)) 90
expect_eq "node1 MemTotal after grow" "$("$bed" memtotal "$g" 1)" $((n1 + 262144))
expect_eq "node0 MemTotal after grow" "$("$bed" memtotal "$g" 0)" "$n0"

# Through the agent: showing is read-only, defining needs the admin group.
ctl prepare "$g" --cells 2 --slots 8 >/dev/null || fail "prepare (show) through memplugd failed"
chmod 0711 "$agent_dir" # uid 65534 must reach the socket inside
rc=0
nobody "$MEMPLUGCTL" --socket "$agent_sock" prepare "$g" --cells 2 --define >/dev/null 2>&1 || rc=$?
expect_eq "exit code of --define by uid 65534" "$rc" 1
live_before=$(virsh_ dumpxml "$g" | grep -c "slots='20'")
reply=$(ctl --json prepare "$g" --cells 2 --slots 8 --define) || fail "--define failed: $reply"
expect_eq "reply defined" "$(echo "$reply" | jq -r .defined)" true
expect_eq "reply active (a restart applies it)" "$(echo "$reply" | jq -r .active)" true
ctl prepare "$g" --cells 2 --slots 8 --define | grep -q "a restart applies" ||
	fail "the text reply does not say that a restart applies the definition"
virsh_ dumpxml --inactive "$g" | grep -q "<maxMemory slots='8' unit='KiB'>" ||
	fail "the persistent definition does not have 8 slots"
expect_eq "live definition unchanged" "$(virsh_ dumpxml "$g" | grep -c "slots='20'")" "$live_before"
expect_eq "the guest still runs" "$(virsh_ domstate "$g")" running

# Audited: a request with root's uid, and its outcome.
req=$(ctl --json log --domain "$g" --event request | jq -r '.records[] | select(.op == "prepare") | .request' | head -n 1)
[ -n "$req" ] || fail "no prepare request record for $g"
ctl log --request "$req" --event request | grep -q "actor=uid:0" ||
	fail "the prepare request does not carry root's uid"
expect_eq "outcome of $req" "$(ctl --json log --request "$req" --event outcome | jq -r '.records[0].result')" ok
"$MEMPLUGCTL" log verify "$agent_audit" || fail "audit chain does not verify"
log PASS
