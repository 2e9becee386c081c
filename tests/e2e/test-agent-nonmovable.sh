#!/bin/sh
# e2e: in guest-nonmovable (hot-added memory onlined into the kernel zone) a
# grow works, but the shrink of that DIMM is reported as refused by the
# guest (exit 1), the DIMM stays in the live XML and in the persistent
# definition, and the guest's MemTotal keeps it.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"
command -v jq >/dev/null || fail "needs jq"

has() { virsh -q -c qemu:///system dumpxml ${3:+"$3"} "$1" | grep -q "<alias name='$2'/>"; }

start_guest guest-nonmovable nmov
virsh -q -c qemu:///system dominfo "$g" | grep -q '^Persistent: *yes' ||
	fail "$g is not persistent: the config half cannot be checked"
start_agent
n1=$("$bed" memtotal "$g" 1)
reply=$(ctl --json grow "$g" 256M --node 1) || fail "grow failed: $reply"
alias=$(echo "$reply" | jq -r '.attached[0].alias')
log "attached $alias"
"$bed" wait-memtotal "$g" 1 $((n1 + 262144)) 90
has "$g" "$alias" --inactive || fail "the grow did not reach the persistent definition"
conf=$(virsh -q -c qemu:///system dumpxml --inactive "$g")

rc=0
msg=$(ctl shrink "$g" 256M --node 1 2>&1) || rc=$?
log "memplugctl said (exit $rc): $msg"
expect_eq "exit code of the refused shrink" "$rc" 1
echo "$msg" | grep -q "guest refused" || fail "the message does not say the guest refused"
sleep 5 # a late, successful retry would show up here
has "$g" "$alias" || fail "$alias left the live XML"
[ "$(virsh -q -c qemu:///system dumpxml --inactive "$g")" = "$conf" ] ||
	fail "the persistent definition changed after the refused shrink"
log "ok: $alias is still live and the persistent definition is unchanged"
expect_eq "guest node1 MemTotal after the refused shrink" "$("$bed" memtotal "$g" 1)" $((n1 + 262144))
ctl log --domain "$g" --event detach | grep -q "detach refused" ||
	fail "no refused detach record in the audit log"
log PASS
