#!/bin/sh
# Benchmark, run by hand as root on a prepared bed (tests/e2e/setup-host.sh):
# memplugctl grow/shrink of 256 MiB through a virtio-mem device against the
# raw libvirt way (virsh update-memory-device --requested-size, then waiting
# for MEMORY_DEVICE_SIZE_CHANGE with the new size), side by side, alternating
# which side goes first, on one throwaway guest-vmem guest (guest node 0's
# device). Prints the medians and ratios as markdown for docs/benchmarks.md
# (or writes $OUT).
#   bench/vmem-bench.sh [ROUNDS] [BUILD_DIR]      defaults: 10, build
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-10}
build=$(cd "${2:-$src/build}" && pwd)
out=${OUT:-/dev/stdout}
bed=$src/tests/e2e/bed
ctl_bin=${CTL:-$build/cli/memplugctl}
uri=qemu:///system
g=bed-vbench-$$
work=$(mktemp -d /tmp/memplug-vbench-XXXXXX)
agent_pid=""
[ -x "$ctl_bin" ] && [ -x "$build/agent/memplugd" ] || { echo "build first: ninja -C $build" >&2; exit 2; }

cleanup() {
	[ -z "$agent_pid" ] || { kill "$agent_pid" 2>/dev/null; wait "$agent_pid" 2>/dev/null || true; }
	for _ in 1 2 3 4 5; do "$bed" teardown "$g" >/dev/null 2>&1 && break; sleep 2; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

ms() { echo $(($(date +%s%N) / 1000000)); }
ctl() { "$ctl_bin" --socket "$work/sock" "$@"; }

# The raw side: the watcher is connected before the clock starts (as the
# agent's is); the clock stops at the arrival of the event that reports the
# new size (virsh event --timestamp), not at the watcher's exit. QEMU sends
# at most one event per second per device, the last one with the final size.
raw_resize() { # $1 = new requested size in KiB, $2 = scope flags
	virsh -q -c "$uri" event "$g" --event memory-device-size-change --loop \
		--timeout 60 --timestamp >"$work/ev" 2>&1 &
	w=$!
	sleep 0.5
	t=$(ms)
	virsh -q -c "$uri" update-memory-device "$g" --alias virtiomem0 \
		--requested-size "${1}KiB" $2 >/dev/null
	i=0
	# virsh prints "TIME: event 'memory-device-size-change' for domain ...",
	# then "alias: ..." and "size: KIB" lines: the event line of that size
	until ev=$(awk -v want="$1" '/memory-device-size-change/ { line = $0 }
		/^size: / && $2 == want { print line; exit }' "$work/ev") && [ -n "$ev" ]; do
		i=$((i + 1))
		[ "$i" -le 600 ] || { echo "no size change to $1 KiB" >&2; kill "$w"; exit 1; }
		sleep 0.1
	done
	kill "$w" 2>/dev/null || true
	wait "$w" 2>/dev/null || true
	e=$(date -d "$(echo "$ev" | sed 's/^\([0-9-]* [0-9:.]*\)\([+-][0-9]*\):.*/\1 \2/')" +%s%N)
	echo $((e / 1000000 - t))
}
agent_op() {
	t=$(ms)
	ctl "$@" >/dev/null
	echo $(($(ms) - t))
}

"$bed" boot guest-vmem "$g" >/dev/null 2>&1
: >"$work/conf"
"$build/agent/memplugd" --foreground --socket "$work/sock" --audit-log "$work/audit.jsonl" \
	--config "$work/conf" >"$work/agent.log" 2>&1 &
agent_pid=$!
i=0
until ctl status >/dev/null 2>&1; do
	i=$((i + 1)); [ "$i" -le 100 ] || { echo "memplugd did not start" >&2; exit 1; }
	sleep 0.1
done
sleep 2 # let the guest settle after boot

for r in $(seq 1 "$rounds"); do
	for side in $([ $((r % 2)) -eq 0 ] && echo "raw agent" || echo "agent raw"); do
		if [ "$side" = raw ]; then
			raw_resize 262144 --live >>"$work/raw-grow"
			sleep 1
			raw_resize 0 --live >>"$work/raw-shrink"
			sleep 1
		else
			agent_op grow "$g" 256M --node 0 --live >>"$work/agent-grow"
			sleep 1
			agent_op shrink "$g" 256M --node 0 --live >>"$work/agent-shrink"
			sleep 1
		fi
	done
	echo "round $r/$rounds done" >&2
done

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { sort -n "$1" | awk 'NR == 1 { a = $1 } { b = $1 } END { print a "-" b }'; }
row() {
	ma=$(median "$work/$3") mr=$(median "$work/$2")
	ratio=$(awk -v a="$ma" -v r="$mr" 'BEGIN { printf "%.2f", a / r }')
	over=$(awk -v a="$ma" -v r="$mr" 'BEGIN { printf "%+.0f%%", (a / r - 1) * 100 }')
	echo "| $1 | $mr ($(range "$work/$2")) | $ma ($(range "$work/$3")) | $ratio ($over) |"
}

{
	echo "## Benchmark: virtio-mem, memplugctl against raw libvirt"
	echo
	echo "Command: \`bench/vmem-bench.sh $rounds\` (as root, $(date -u +%Y-%m-%d), $rounds rounds,"
	echo "$(nproc) cores, $(virsh -c "$uri" version 2>/dev/null | sed -n 's/^Running hypervisor: //p'),"
	echo "libvirt $(virsh -c "$uri" version 2>/dev/null | sed -n 's/^Using library: libvirt //p'), TCG guest guest-vmem)."
	echo
	echo "256 MiB on guest node 0 through its virtio-mem device (2 MiB blocks), time"
	echo "from the command's start until the guest's new size is known, in ms:"
	echo "median (min-max). Raw = \`virsh update-memory-device --alias virtiomem0"
	echo "--requested-size\` until \`virsh event --event memory-device-size-change\`"
	echo "(connected beforehand) reports the new size; \`memplugctl\` returns after the"
	echo "same event and a re-read of the live <current>. Sides alternate order each"
	echo "round; every step is followed by the same 1 s pause."
	echo
	echo "| Operation | raw libvirt (virsh) | memplugctl | ratio (agent overhead) |"
	echo "|---|---|---|---|"
	row "update --requested-size 256MiB + event vs grow --live" raw-grow agent-grow
	row "update --requested-size 0 + event vs shrink --live" raw-shrink agent-shrink
} >"$out"
