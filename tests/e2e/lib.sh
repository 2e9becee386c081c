# Sourced by the bed's shell tests: starts guests through ./bed, removes every
# guest the test started when the test exits (pass, fail or signal), and
# gives small checks that print what they compared.
set -eu
e2e_dir=$(cd "$(dirname "$0")" && pwd)
bed="$e2e_dir/bed"
test_name=$(basename "$0" .sh)
started=""

log() { echo "[$test_name] $*"; }
fail() {
	echo "[$test_name] FAIL: $*" >&2
	exit 1
}

# Tests may define on_cleanup (e.g. agent.sh stops memplugd); it runs first.
cleanup() {
	rc=$?
	trap - EXIT INT TERM HUP
	if command -v on_cleanup >/dev/null 2>&1; then on_cleanup || rc=1; fi
	for g in $started; do
		if [ "$rc" -ne 0 ]; then
			echo "[$test_name] console of $g (last 25 lines):" >&2
			"$bed" console "$g" 2>/dev/null | tail -n 25 >&2 || true
		fi
		"$bed" teardown "$g" || rc=1
	done
	exit "$rc"
}
# meson's timeout sends SIGTERM to the test's process group and SIGKILL
# 0.5 s later: the teardowns run in their own sessions to outlive that.
on_signal() {
	rc=1 # agent.sh's on_cleanup reads it: a signalled test failed
	trap - EXIT INT TERM HUP
	if command -v on_cleanup >/dev/null 2>&1; then on_cleanup || true; fi
	for g in $started; do
		setsid -f "$bed" teardown "$g" </dev/null >/dev/null 2>&1
	done
	exit 130
}
trap cleanup EXIT
trap on_signal INT TERM HUP

[ "$(id -u)" -eq 0 ] || fail "needs root (libvirtd + QEMU)"

# Boots TEMPLATE as a guest named after TAG and this process, so runs from
# several checkouts do not collide; sets $g to its name. Not to be called in
# a subshell: the exit trap must see the name.
start_guest() {
	g="bed-$2-$$"
	started="$started $g"
	"$bed" boot "$1" "$g"
}

expect_eq() {
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
	log "ok: $1 = $2"
}

expect_ge() {
	[ "$2" -ge "$3" ] || fail "$1: got $2, want >= $3"
	log "ok: $1 = $2 (>= $3)"
}

# Waits until the DIMM alias leaves (gone) or stays in (present) the live XML.
wait_alias() {
	i=0
	while :; do
		if "$bed" has-alias "$1" "$2"; then now=present; else now=gone; fi
		[ "$now" = "$3" ] && return 0
		i=$((i + 1))
		[ "$i" -le "${4:-60}" ] || fail "$1: DIMM $2 is $now after ${4:-60}s, want $3"
		sleep 1
	done
}

# The hugetlb memory (kB) the QEMU process of guest $1 has mapped.
qemu_hugetlb_kb() {
	pid=$(cat "/run/libvirt/qemu/$1.pid")
	awk '/^(Private|Shared)_Hugetlb:/ { s += $2 } END { print s + 0 }' "/proc/$pid/smaps"
}
