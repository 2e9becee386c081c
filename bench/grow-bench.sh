#!/bin/sh
# Benchmark, run by hand as root on a prepared bed (tests/e2e/setup-host.sh):
# memplugctl grow/shrink of one 256 MiB DIMM against the raw libvirt calls
# (virsh attach-device; virsh detach-device-alias plus waiting for
# DEVICE_REMOVED), side by side in one run, on one throwaway guest-2cell
# guest. Prints the medians and ratios as markdown for docs/benchmarks.md (or writes $OUT).
# A last pair of rows times one command that changes nothing (virsh domstate
# vs memplugctl status): what each side pays per command before any work.
#   bench/grow-bench.sh [ROUNDS] [BUILD_DIR]      defaults: 10, build
# CTL=PATH uses another memplugctl (same protocol) against BUILD_DIR's memplugd,
# e.g. a build that links less, to see what the client's start costs.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-10}
build=$(cd "${2:-$src/build}" && pwd)
out=${OUT:-/dev/stdout}
bed=$src/tests/e2e/bed
ctl_bin=${CTL:-$build/cli/memplugctl}
uri=qemu:///system
g=bed-bench-$$
work=$(mktemp -d /tmp/memplug-bench-XXXXXX)
agent_pid=""
[ -x "$ctl_bin" ] && [ -x "$build/agent/memplugd" ] || { echo "build first: ninja -C $build" >&2; exit 2; }

cleanup() {
	[ -z "$agent_pid" ] || { kill "$agent_pid" 2>/dev/null; wait "$agent_pid" 2>/dev/null || true; }
	# Retried: a libvirtd restart by someone else makes one teardown fail.
	for _ in 1 2 3 4 5; do "$bed" teardown "$g" >/dev/null 2>&1 && break; sleep 2; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

ms() { echo $(($(date +%s%N) / 1000000)); }
ctl() { "$ctl_bin" --socket "$work/sock" "$@"; }
dimm_xml() {
	printf "<memory model='dimm'><target><size unit='MiB'>256</size><node>0</node></target><alias name='%s'/></memory>\n" "$1" >"$work/dimm.xml"
}

# Each timer prints its milliseconds; the result lines go to $work/NAME.
raw_attach() {
	dimm_xml "$1"
	t=$(ms)
	virsh -q -c "$uri" attach-device "$g" "$work/dimm.xml" $2 >/dev/null
	echo $(($(ms) - t))
}
# The event watcher is connected before the clock starts, as the agent's is;
# the clock stops at the event's arrival (virsh event --timestamp), not at
# the watcher's exit.
raw_detach() {
	virsh -q -c "$uri" event "$g" --event device-removed --timeout 30 --timestamp >"$work/ev" 2>&1 &
	w=$!
	sleep 0.5
	t=$(ms)
	virsh -q -c "$uri" detach-device-alias "$g" "$1" $2 >/dev/null
	wait "$w"
	ev=$(grep device-removed "$work/ev") || { echo "no DEVICE_REMOVED for $1" >&2; exit 1; }
	e=$(date -d "$(echo "$ev" | sed 's/^\([0-9-]* [0-9:.]*\)\([+-][0-9]*\):.*/\1 \2/')" +%s%N)
	echo $((e / 1000000 - t))
}
agent_op() {
	t=$(ms)
	ctl "$@" >/dev/null
	echo $(($(ms) - t))
}
raw_noop() {
	t=$(ms)
	virsh -q -c "$uri" domstate "$g" >/dev/null
	echo $(($(ms) - t))
}

"$bed" boot guest-2cell "$g" >/dev/null 2>&1
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
	# Alternate which side goes first, so drift hits both alike.
	for side in $([ $((r % 2)) -eq 0 ] && echo "raw agent" || echo "agent raw"); do
		# The same pause after every attach: the guest onlines the memory
		# (and may start using it) before the unplug, on both sides.
		if [ "$side" = raw ]; then
			raw_attach "ua-bench-$r" --live >>"$work/raw-attach"
			sleep 1
			raw_detach "ua-bench-$r" --live >>"$work/raw-detach"
			raw_attach "ua-benchc-$r" "--live --config" >>"$work/raw-attach-lc"
			sleep 1
			raw_detach "ua-benchc-$r" "--live --config" >>"$work/raw-detach-lc"
			raw_noop >>"$work/raw-noop"
		else
			agent_op grow "$g" 256M --node 0 --live >>"$work/agent-grow"
			sleep 1.5
			agent_op shrink "$g" 256M --node 0 --live >>"$work/agent-shrink"
			agent_op grow "$g" 256M --node 0 >>"$work/agent-grow-lc"
			sleep 1.5
			agent_op shrink "$g" 256M --node 0 >>"$work/agent-shrink-lc"
			agent_op status >>"$work/agent-noop"
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

# Inside the agent, from its audit log (ms timestamps): before the libvirt
# call (request -> intent: model read, host snapshot, selection, fsyncs),
# the call (intent -> attach/detach record), after it (-> outcome).
phases() {
	jq -r 'select(.request != null and (.event == "request" or .event == "intent" or
		.event == "attach" or .event == "detach" or .event == "outcome")) |
		"\(.request) \(.event) \(.ts[11:23])"' "$work/audit.jsonl" |
		awk '{ split($3, t, ":"); v = (t[1] * 3600 + t[2] * 60 + t[3]) * 1000
			if ($2 == "request") r[$1] = v; else if ($2 == "intent") i[$1] = v
			else if ($2 == "outcome") o[$1] = v; else c[$1] = v }
		END { for (k in r) if (k in o) printf "%.0f %.0f %.0f\n", i[k] - r[k], c[k] - i[k], o[k] - c[k] }' >"$work/phases"
	for f in 1 2 3; do cut -d' ' -f"$f" "$work/phases" >"$work/phase$f"; done
	echo "Inside memplugd, medians over all $(wc -l <"$work/phases") operations, from the audit"
	echo "log timestamps (1 ms resolution): before the libvirt call (model read, the host's"
	echo "free memory and pages from libvirt, selection, audit fsyncs) $(median "$work/phase1") ms; the libvirt call"
	echo "(attach, or detach until DEVICE_REMOVED) $(median "$work/phase2") ms; after it"
	echo "(re-read of the domain, outcome record) $(median "$work/phase3") ms."
}

{
	echo "# Benchmark: memplugctl grow/shrink against raw libvirt"
	echo
	echo "Command, as root: \`${CTL:+CTL=$CTL }bench/grow-bench.sh $rounds\` ($(date -u +%Y-%m-%d), $rounds rounds,"
	echo "$(nproc) cores, $(virsh -c "$uri" version 2>/dev/null | sed -n 's/^Running hypervisor: //p'),"
	echo "libvirt $(virsh -c "$uri" version 2>/dev/null | sed -n 's/^Using library: libvirt //p'), TCG guest guest-2cell)."
	echo "memplugctl links $(ldd "$ctl_bin" | wc -l) shared objects; memplugd's host source:"
	echo "libvirt (capabilities once per connection, free memory and pages per grow)."
	echo
	echo "One 256 MiB DIMM on guest node 0, time from the command's start to its"
	echo "return, in ms: median (min-max). Raw detach = \`virsh detach-device-alias\`"
	echo "until \`virsh event --event device-removed\` (connected beforehand) reports"
	echo "the removal; \`memplugctl shrink\` returns after the same event. Both sides"
	echo "pay one process start and one connection per command (virsh: to libvirtd;"
	echo "memplugctl: to memplugd, which keeps its libvirt connection open)."
	echo "Sides alternate order each round. Every attach is followed by the same"
	echo "1.5 s pause (raw: 1 s + the event watcher's 0.5 s start) before the unplug."
	echo
	echo "| Operation | raw libvirt (virsh) | memplugctl | ratio (agent overhead) |"
	echo "|---|---|---|---|"
	row "attach --live vs grow --live" raw-attach agent-grow
	row "detach --live + wait vs shrink --live" raw-detach agent-shrink
	row "attach --live --config vs grow (default scope)" raw-attach-lc agent-grow-lc
	row "detach --live --config + wait vs shrink (default scope)" raw-detach-lc agent-shrink-lc
	row "per command, no change: virsh domstate vs memplugctl status" raw-noop agent-noop
	echo
	echo "Goal (issue 10): grow through the agent takes at most 0.9x as long as raw"
	echo "virsh (rows 1 and 3)."
	echo
	phases
} >"$out"
