#!/bin/sh
# Benchmark, no root, no libvirtd: what one command costs each side before
# any hypervisor work, against libvirt's test driver (test:///default, which
# both virsh and memplugd open in-process). Times N runs each of
# `memplugctl status`, `memplugctl inspect test` (the agent reads the XML
# and the host on a worker) and `virsh domstate test`, alternating, and
# prints the mean per command in microseconds as markdown.
#   bench/cmd-cost.sh [N] [BUILD_DIR]          defaults: 50, build
# CTL2=PATH adds a second memplugctl (same protocol), e.g. one linked without
# libvirt, against the same memplugd.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-50}
build=$(cd "${2:-$src/build}" && pwd)
work=$(mktemp -d /tmp/memplug-cmdcost-XXXXXX)
agent_pid=""
cleanup() {
	[ -z "$agent_pid" ] || { kill "$agent_pid" 2>/dev/null; wait "$agent_pid" 2>/dev/null || true; }
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

: >"$work/conf"
"$build/agent/memplugd" --foreground --socket "$work/sock" --audit-log "$work/audit.jsonl" \
	--config "$work/conf" --connect test:///default >"$work/agent.log" 2>&1 &
agent_pid=$!
i=0
until "$build/cli/memplugctl" --socket "$work/sock" status >/dev/null 2>&1; do
	i=$((i + 1)); [ "$i" -le 100 ] || { echo "memplugd did not start" >&2; exit 1; }
	sleep 0.1
done

# mean_us N COMMAND...: mean wall time per run, in microseconds
mean_us() {
	k=$1; shift
	s=$(date +%s%N)
	j=0
	while [ "$j" -lt "$k" ]; do "$@" >/dev/null; j=$((j + 1)); done
	echo $((($(date +%s%N) - s) / k / 1000))
}

ctl="$build/cli/memplugctl --socket $work/sock"
ctl2="${CTL2:+$CTL2 --socket $work/sock}"
: >"$work/rows"
for round in 1 2 3; do
	# shellcheck disable=SC2086 # word splitting of $ctl is wanted
	{
		echo "status $(mean_us "$n" $ctl status)"
		echo "inspect $(mean_us "$n" $ctl inspect test)"
		[ -z "$ctl2" ] || echo "status2 $(mean_us "$n" $ctl2 status)"
		[ -z "$ctl2" ] || echo "inspect2 $(mean_us "$n" $ctl2 inspect test)"
		echo "virsh $(mean_us "$n" virsh -q -c test:///default domstate test)"
	} >>"$work/rows"
done
val() { awk -v k="$1" '$1 == k { print $2 }' "$work/rows" | sort -n | sed -n 2p; }
echo "Command: \`bench/cmd-cost.sh $n\`${CTL2:+ with CTL2=$CTL2} ($(date -u +%Y-%m-%d), $(nproc) cores)."
echo "Mean per command over $n runs, median of 3 rounds, microseconds."
echo
echo "| command | us | shared objects |"
echo "|---|---|---|"
echo "| \`virsh -c test:///default domstate test\` | $(val virsh) | $(ldd "$(command -v virsh)" | wc -l) |"
echo "| \`memplugctl status\` | $(val status) | $(ldd "$build/cli/memplugctl" | wc -l) |"
echo "| \`memplugctl inspect test\` (XML + host read on a worker) | $(val inspect) | |"
if [ -n "$ctl2" ]; then
	echo "| \`memplugctl status\` (CTL2) | $(val status2) | $(ldd "$CTL2" | wc -l) |"
	echo "| \`memplugctl inspect test\` (CTL2) | $(val inspect2) | |"
fi
