#!/bin/sh
# One memplugd per audit log and per socket: a second one on either exits
# with a clear error (before it daemonizes, so its exit status says so)
# instead of serving with an unwritable log. Uses libvirt's in-process test
# driver (test:///default): no libvirtd, no guest, no root needed.
#   single-agent.sh MEMPLUGD MEMPLUGCTL
set -u
memplugd=$1 ctl=$2
tmp=$(mktemp -d)
first=
fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() {
	[ -n "$first" ] && kill "$first" 2>/dev/null
	# a regression could leave a daemon behind: only ours, by its unique socket path
	for pid in $(pgrep -f -- "--socket $tmp/" 2>/dev/null); do kill "$pid"; done
	rm -rf "$tmp"
}
trap cleanup EXIT
: >"$tmp/empty.conf"
agent() { # SOCKET LOG [more memplugd options]; one that keeps serving is stopped after 10 s
	s=$1 l=$2
	shift 2
	timeout 10 "$memplugd" --config "$tmp/empty.conf" --connect test:///default --socket "$tmp/$s" \
		--audit-log "$tmp/$l" "$@"
}

"$memplugd" --config "$tmp/empty.conf" --connect test:///default --socket "$tmp/s1" \
	--audit-log "$tmp/a.log" --foreground 2>"$tmp/first.err" &
first=$!
i=0
until "$ctl" --socket "$tmp/s1" status >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "the first memplugd does not answer: $(cat "$tmp/first.err")"
	sleep 0.1
done
echo "ok: the first memplugd serves $tmp/s1"

# Same audit log, another socket.
rc=0
agent s2 a.log --foreground 2>"$tmp/second.err" || rc=$?
[ "$rc" -eq 1 ] || fail "a second memplugd on the same audit log exited $rc (124: still serving after 10 s)"
grep -q "another memplugd writes the audit log $tmp/a.log" "$tmp/second.err" ||
	fail "no clear error: $(cat "$tmp/second.err")"
[ ! -e "$tmp/s2" ] || fail "the second memplugd created its socket"
echo "ok: same audit log refused, exit $rc: $(tail -1 "$tmp/second.err")"

# Same again, daemonizing as it would in production: the exit status must
# still say so (the check runs before daemon()).
rc=0
agent s3 a.log 2>"$tmp/third.err" || rc=$?
[ "$rc" -eq 1 ] || fail "a second daemonizing memplugd on the same audit log exited $rc (124: still serving after 10 s)"
echo "ok: same audit log refused before daemonizing, exit $rc"

# Same socket, another audit log: refused before that log is even created.
rc=0
agent s1 b.log --foreground 2>"$tmp/fourth.err" || rc=$?
[ "$rc" -eq 1 ] || fail "a second memplugd on the same socket exited $rc (124: still serving after 10 s)"
grep -q "another memplugd serves $tmp/s1" "$tmp/fourth.err" ||
	fail "no clear error: $(cat "$tmp/fourth.err")"
[ ! -e "$tmp/b.log" ] || fail "the refused memplugd created its audit log"
"$ctl" --socket "$tmp/s1" status >/dev/null || fail "the first memplugd no longer answers"
echo "ok: same socket refused, exit $rc; the first one still answers"

# The first one's log holds only its own records, chained.
kill "$first"
wait "$first" 2>/dev/null
first=
"$ctl" log verify "$tmp/a.log" || fail "the audit log's chain is broken"
n=$("$ctl" --json log --file "$tmp/a.log" --event agent_start | grep -c '"event":"agent_start"')
[ "$n" -eq 1 ] || fail "$n agent_start records: another memplugd wrote to the log"
echo "ok: one agent_start in the log, chain intact"
