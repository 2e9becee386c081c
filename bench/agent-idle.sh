#!/bin/sh
# Benchmark: memplugd's idle cost. Starts the agent on a private socket and
# audit log against qemu:///system, then measures over a window (60 s by
# default) first with no bed guest and then with 3 bed guests (guest-2cell)
# booted and settled: RSS (VmRSS, sampled every 5 s: first, max, last) and CPU
# time (utime + stime from /proc/PID/stat, as a share of one core). Prints a
# markdown table for docs/benchmarks.md. Needs root and a prepared bed host
# (tests/e2e/setup-host.sh). The agent watches every domain of the host, so
# the "watched" column says how many it really had; guests that other runs
# own count too. Run by hand, not in CI:
#   bench/agent-idle.sh [SECONDS]    (as root; uses build/ for the binaries)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bed="$root/tests/e2e/bed"
MEMPLUGD=${MEMPLUGD:-$root/build/agent/memplugd}
MEMPLUGCTL=${MEMPLUGCTL:-$root/build/cli/memplugctl}
window=${1:-60}
dir=$(mktemp -d /tmp/memplug-bench-XXXXXX)
sock="$dir/memplugd.sock"
pid=""
guests=""

say() { echo "[agent-idle] $*" >&2; }
die() {
	say "error: $*"
	exit 1
}
cleanup() {
	trap - EXIT INT TERM HUP
	[ -z "$pid" ] || { kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; }
	for g in $guests; do "$bed" teardown "$g" >/dev/null 2>&1 || true; done
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
[ "$(id -u)" -eq 0 ] || die "needs root (libvirtd + QEMU)"
[ -x "$MEMPLUGD" ] || die "no $MEMPLUGD: build first (meson setup build && ninja -C build)"

ctl() { "$MEMPLUGCTL" --socket "$sock" "$@"; }
watched() { ctl --json status | grep -c '^      "name":'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
# utime + stime of the agent (all threads), in clock ticks.
cpu_ticks() { sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }'; }
# Run time of the live threads in ns (schedstat): finer than clock ticks.
cpu_ns() { cat /proc/"$pid"/task/*/schedstat | awk '{ s += $1 } END { printf "%d", s }'; }

# measure LABEL: one markdown row over the window.
measure() {
	hz=$(getconf CLK_TCK)
	n=$(watched)
	c0=$(cpu_ticks) ns0=$(cpu_ns)
	first=$(rss_kb) max=$first t=0
	while [ "$t" -lt "$window" ]; do
		step=$((window - t < 5 ? window - t : 5))
		sleep "$step"
		t=$((t + step))
		r=$(rss_kb)
		if [ "$r" -gt "$max" ]; then max=$r; fi
	done
	c1=$(cpu_ticks) ns1=$(cpu_ns)
	awk -v l="$1" -v n="$n" -v w="$window" -v f="$first" -v m="$max" -v last="$r" \
		-v c=$((c1 - c0)) -v hz="$hz" -v ns=$((ns1 - ns0)) 'BEGIN {
		printf "| %s | %d | %d s | %.1f / %.1f / %.1f MiB | %d ticks (%.2f s) | %.1f ms | %.4f %% |\n",
		       l, n, w, f / 1024, m / 1024, last / 1024, c, c / hz, ns / 1e6, 100 * ns / 1e9 / w }'
}

printf '[memplugd]\nlog_level = warning\n' >"$dir/memplugd.conf"
"$MEMPLUGD" --foreground --config "$dir/memplugd.conf" --socket "$sock" \
	--audit-log "$dir/audit.jsonl" >"$dir/memplugd.log" 2>&1 &
pid=$!
i=0
until ctl status >/dev/null 2>&1; do
	i=$((i + 1))
	[ "$i" -le 100 ] || die "memplugd did not answer: $(tail -n 5 "$dir/memplugd.log")"
	sleep 0.1
done
say "memplugd $pid, $(watched) domains on the host; settling 10 s"
sleep 10

echo "| guests booted by the bench | domains watched | window | RSS first / max / last | CPU utime+stime | CPU run time (schedstat) | CPU (one core) |"
echo "|---|---|---|---|---|---|---|"
measure "0"
for i in 1 2 3; do
	g="bed-bench$i-$$"
	guests="$guests $g"
	"$bed" boot guest-2cell "$g" >&2
done
sleep 10 # boot events and the first balloon statistics settle
for g in $guests; do
	ctl status | grep -q "^$g " || die "status does not list $g"
done
measure "3 (guest-2cell)"
say "done; memplugd log: $(wc -l <"$dir/memplugd.log") lines"
