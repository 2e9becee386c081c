#!/bin/sh
# numa (f): `memplugctl prepare --mirror-host` of a guest on the emulated
# host gives pins and memnodes that match L1's nodes, and the guest starts.
# TODO(prepare): the command is branch prepare's feature; this slot runs
# once it is merged. Until then it is the one test here that may skip.
. "$NUMA_DIR/l1-lib.sh"

ctl prepare --help >/dev/null 2>&1 || "$MEMPLUGCTL" 2>&1 | grep -q 'prepare' ||
	skip "memplugctl has no prepare command yet (branch prepare)"
fail "prepare exists now: write this test (pins and memnodes against L1's layout)"
