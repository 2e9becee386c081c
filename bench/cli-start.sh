#!/bin/sh
# Benchmark: what memplugctl costs to start. Counts the instructions (valgrind
# callgrind, Ir) of `memplugctl status` twice: with no agent (a socket path
# that does not exist, so the command fails right after start-up), and
# against a memplugd on libvirt's test driver (test:///default: in-process,
# touches neither libvirtd nor QEMU, needs no lock) on a private socket.
# Also the shared libraries it loads and the median wall time of 50 runs.
# Prints a markdown table for docs/benchmarks.md. Give more binaries to
# compare, e.g. one built from an older commit:
#   bench/cli-start.sh [MEMPLUGCTL...]      (default: build/cli/memplugctl)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
MEMPLUGD=${MEMPLUGD:-$root/build/agent/memplugd}
[ $# -gt 0 ] || set -- "$root/build/cli/memplugctl"
dir=$(mktemp -d /tmp/memplug-clistart-XXXXXX)
pid=""

say() { echo "[cli-start] $*" >&2; }
die() {
	say "error: $*"
	exit 1
}
cleanup() {
	[ -z "$pid" ] || { kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; }
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
command -v valgrind >/dev/null || die "needs valgrind"
[ -x "$MEMPLUGD" ] || die "no $MEMPLUGD: build first"

# Instructions of one run, from callgrind's summary line.
irefs() {
	valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
		sed -n 's/.*I *refs: *//p' | tr -d ,
}

# Median wall time of 50 runs in ms (date +%s%N around each).
wall() {
	i=0
	while [ $i -lt 50 ]; do
		t0=$(date +%s%N)
		"$@" >/dev/null 2>&1 || true
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000))
		i=$((i + 1))
	done | sort -n | sed -n 25p | awk '{printf "%.1f", $1 / 1000}'
}

"$MEMPLUGD" --foreground --socket "$dir/sock" --connect test:///default \
	--audit-log "$dir/audit.log" >"$dir/agent.log" 2>&1 &
pid=$!
i=0
until "$1" --socket "$dir/sock" status >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -le 50 ] || die "memplugd did not answer: $(cat "$dir/agent.log")"
	sleep 0.1
done

echo "| memplugctl | libraries | status, no agent (Ir) | status, agent on test:///default (Ir) | wall, no agent (ms, median of 50) |"
echo "|---|---|---|---|---|"
for ctl in "$@"; do
	libs=$(ldd "$ctl" | wc -l)
	none=$(irefs "$ctl" --socket "$dir/none" status)
	with=$(irefs "$ctl" --socket "$dir/sock" status)
	ms=$(wall "$ctl" --socket "$dir/none" status)
	echo "| $ctl | $libs | $none | $with | $ms |"
done
