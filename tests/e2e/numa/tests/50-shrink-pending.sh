#!/bin/sh
# numa (d): the L2 guest runs no kernel, so nothing acknowledges an unplug.
# The shrink reply is an honest "pending" (exit 1, the message says the
# guest has not released it), the audit log says the same, and the DIMM and
# its hugepages stay where they are.
. "$NUMA_DIR/l1-lib.sh"

l2_start l2-hugepages numa-shrink
out=$(ctl grow numa-shrink 128M --node 1 2>&1) || fail "grow 128M --node 1: $out"
free1=$(free_pages 1)
rc=0
out=$(ctl shrink numa-shrink 128M --node 1 2>&1) || rc=$?
log "memplugctl shrink (exit $rc): $out"
expect_eq "exit code of the pending shrink" "$rc" 1
echo "$out" | grep -q "has not released it" || fail "the reply does not say pending: $out"
req=$(ctl --json log --domain numa-shrink --event request |
	sed -n 's/.*"request":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -n "$req" ] || fail "no request record for the shrink in the audit log"
rec=$(ctl log --request "$req" --event outcome)
log "audit outcome of $req: $rec"
echo "$rec" | grep -q pending || fail "the audit outcome of $req does not say pending: $rec"
expect_eq "DIMMs in the live XML after the pending shrink" "$(l2_dimms numa-shrink)" 1
expect_eq "node 1 free pages after the pending shrink" "$(free_pages 1)" "$free1"
pass "shrink pending, audited as such; DIMM and pages kept"
