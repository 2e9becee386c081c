#!/bin/sh
# e2e: the guest cell backed by 2 MiB hugepages (guest-3cell, cell 2 bound to
# host node 0) draws from the host pool: host node 0's free_hugepages drops
# by the cell's size at start and by the DIMM's size when a 256 MiB DIMM is
# attached to guest node 2, QEMU holds exactly that much hugetlb memory, and
# the guest sees the DIMM in its node 2.
. "$(dirname "$0")/lib.sh"


free0=$("$bed" hugepages-free 0)
expect_ge "host node0 free 2 MiB pages before boot" "$free0" 192
start_guest guest-3cell huge
free1=$("$bed" hugepages-free 0)
log "free_hugepages on host node 0: $free0 -> $free1 at start"
# Pages taken by other users meanwhile can only make the drop larger.
expect_ge "pages taken by the 128 MiB cell" $((free0 - free1)) 64
expect_eq "QEMU hugetlb kB after start" "$(qemu_hugetlb_kb "$g")" 131072

node2=$("$bed" memtotal "$g" 2)
"$bed" attach-dimm "$g" 2 256 ua-e2e-huge1
"$bed" wait-memtotal "$g" 2 $((node2 + 262144)) 90
free2=$("$bed" hugepages-free 0)
log "free_hugepages on host node 0: $free1 -> $free2 after the DIMM"
expect_ge "pages taken by the 256 MiB DIMM" $((free1 - free2)) 128
expect_eq "QEMU hugetlb kB after attach" "$(qemu_hugetlb_kb "$g")" 393216
log PASS
