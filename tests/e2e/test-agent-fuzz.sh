#!/bin/sh
# e2e: 10,000 random and malformed frames on memplugd's control socket
# (tests/e2e/fuzz-frames.c: random and oversized lengths, random bytes,
# broken JSON, wrong versions, schema violations, truncated frames, clients
# that leave without reading, more clients than the agent takes), 8,000 from
# root and 2,000 from uid 65534. Every reply must be a well-formed frame and
# every connection answered or closed; afterwards the agent still answers
# `status`, and its RSS grew by less than 2 MiB over a warm-up round.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"
: "${FUZZ_FRAMES:?run through meson test (FUZZ_FRAMES unset)}"

RSS_SLACK_KB=2048
# AddressSanitizer's allocator keeps per-size-class regions and shadow pages
# that RSS counts; there, leaks are caught by LeakSanitizer at the agent's
# exit instead (checked below), and RSS gets more room.
if ldd "$MEMPLUGD" | grep -q libasan; then RSS_SLACK_KB=6144; fi
seed=${FUZZ_SEED:-$$}
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$agent_pid/status"; }
fuzz() { "$FUZZ_FRAMES" "$agent_sock" "$1" "$2" 120 || fail "fuzz-frames $* failed (seed $2)"; }

AGENT_CONFIG="$agent_dir/memplugd.conf"
printf '[memplugd]\nsocket_mode = 0666\n' >"$AGENT_CONFIG"
# Under AddressSanitizer (scripts/test.sh runs e2e on that build) freed
# memory sits in a quarantine of up to 256 MiB, which RSS would count as
# growth: without the quarantine, RSS measures the agent's own memory.
# Plain builds ignore ASAN_OPTIONS.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0" start_agent
chmod 0711 "$agent_dir" # uid 65534 must reach the socket inside
log "seed $seed (FUZZ_SEED=$seed reproduces this run)"

fuzz 2000 $((seed + 1)) # warm-up: allocator pools, json-c, libevent buffers
ctl status >/dev/null || fail "no status after the warm-up"
rss0=$(rss)
log "RSS after the warm-up: $rss0 kB"

t0=$(date +%s%N)
fuzz 8000 "$seed"
nobody "$FUZZ_FRAMES" "$agent_sock" 2000 $((seed + 2)) 120 ||
	fail "fuzz-frames as uid 65534 failed (seed $((seed + 2)))"
log "10000 frames in $((($(date +%s%N) - t0) / 1000000)) ms"

kill -0 "$agent_pid" 2>/dev/null || fail "memplugd died under the fuzzer"
grep -q "^State:.*Z" "/proc/$agent_pid/status" && fail "memplugd died under the fuzzer"
js=$(ctl --json status) || fail "memplugd does not answer status after the fuzzer"
echo "$js" | grep -q '^  "connected":true,$' || fail "status after the fuzzer: $js"
log "ok: memplugd $agent_pid still answers status"
rss1=$(rss)
log "RSS after 10000 frames: $rss1 kB (warm-up $rss0 kB, slack $RSS_SLACK_KB kB)"
[ $((rss1 - rss0)) -lt "$RSS_SLACK_KB" ] ||
	fail "RSS grew by $((rss1 - rss0)) kB over 10000 frames"
grep -q "refused 'grow' from uid 65534" "$agent_dir/memplugd.log" ||
	fail "no grow from uid 65534 was refused"
kill -TERM "$agent_pid"
wait "$agent_pid" || fail "memplugd exited with status $? after the fuzzer (a sanitizer report?)"
agent_pid=""
log "ok: memplugd exited cleanly (no LeakSanitizer report)"
# Every dropped client is counted, but the log stays bounded: at most a
# burst of warnings a second, then one line saying how many were held back
# (the last count is written when the agent stops).
shown=$(grep -c "dropping client" "$agent_dir/memplugd.log" || true)
held=$(sed -n 's/.*: \([0-9]*\) similar messages suppressed$/\1/p' "$agent_dir/memplugd.log" |
	awk '{ s += $1 } END { print s + 0 }')
expect_ge "clients the agent dropped (logged + held back)" $((shown + held)) 1000
[ "$(wc -l <"$agent_dir/memplugd.log")" -lt 400 ] ||
	fail "the fuzzer flooded the log: $(wc -l <"$agent_dir/memplugd.log") lines"
log "ok: $shown drop warnings logged, $held held back by the rate limit"
log PASS
