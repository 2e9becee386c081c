#!/bin/sh
# e2e: a grow on the hugepage-backed node 2 of guest-3cell that needs more
# 2 MiB pages than host node 0's pool has free is refused before anything is
# attached (exit 1, no new <memory> device live or persistent, no attach in
# the audit log, guest MemTotal unchanged), and the message names the host
# node, the page size and the pages needed and free. A grow that fits the
# pool then succeeds and QEMU draws it from hugepages.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"

dimms() { virsh -q -c qemu:///system dumpxml ${2:+"$2"} "$1" | grep -c "<memory model='dimm'" || true; }

start_guest guest-3cell hugeref
start_agent
live0=$(dimms "$g") conf0=$(dimms "$g" --inactive)
n2=$("$bed" memtotal "$g" 2)
free=$("$bed" hugepages-free 0)
# The smallest valid size (128 MiB steps) that needs more pages than are free.
mib=$(((free * 2 / 128 + 1) * 128))
need=$((mib / 2))
log "host node 0: $free free 2 MiB pages; asking for $mib MiB = $need pages on node 2"

rc=0
msg=$(ctl grow "$g" "${mib}M" --node 2 2>&1) || rc=$?
log "memplugctl said (exit $rc): $msg"
expect_eq "exit code of the refused grow" "$rc" 1
echo "$msg" | grep -q "host node 0 " || fail "the message does not name host node 0"
echo "$msg" | grep -q "2 MiB hugepages" || fail "the message does not name the 2 MiB page size"
echo "$msg" | grep -q "$need needed" || fail "the message does not say $need pages are needed"
said_free=$(echo "$msg" | sed -n 's/.*has \([0-9]*\) free 2 MiB hugepages.*/\1/p')
[ -n "$said_free" ] || fail "the message does not say how many pages are free"
[ "$said_free" -lt "$need" ] || fail "the message says $said_free free, which would fit $need"
expect_eq "live DIMMs after the refusal" "$(dimms "$g")" "$live0"
expect_eq "persistent DIMMs after the refusal" "$(dimms "$g" --inactive)" "$conf0"
[ -z "$(ctl --json log --domain "$g" --event intent | grep '"event"' || true)" ] ||
	fail "the refused grow left an intent record: something was about to be attached"
sleep 2 # one more guest stat line
expect_eq "guest node2 MemTotal after the refusal" "$("$bed" memtotal "$g" 2)" "$n2"

# A grow that fits the pool goes through and is backed by hugepages.
expect_ge "free 2 MiB pages for the fitting grow" "$("$bed" hugepages-free 0)" 64
h0=$(qemu_hugetlb_kb "$g")
ctl grow "$g" 128M --node 2 || fail "a grow that fits the pool failed"
"$bed" wait-memtotal "$g" 2 $((n2 + 131072)) 90
expect_eq "QEMU hugetlb kB after the fitting grow" "$(qemu_hugetlb_kb "$g")" $((h0 + 131072))
expect_eq "live DIMMs after the fitting grow" "$(dimms "$g")" $((live0 + 1))
log PASS
