#!/bin/sh
# e2e: memplugd as a daemon. SIGHUP with a broken config keeps the running
# one and says why; with a valid one it reloads. A second memplugd on the
# same socket refuses to start. SIGTERM stops it cleanly, with an
# agent_stop record at the end of an intact audit chain.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"

AGENT_CONFIG="$agent_dir/memplugd.conf"
printf '[memplugd]\nlog_level = info\n' >"$AGENT_CONFIG"
start_agent

printf '[memplugd]\nlog_level = loud\n' >"$AGENT_CONFIG"
kill -HUP "$agent_pid"
sleep 1
grep -q "reload refused, keeping the running configuration: .*log_level" "$agent_dir/memplugd.log" ||
	fail "a broken config on SIGHUP was not refused with a reason"
ctl status >/dev/null || fail "memplugd stopped answering after a refused reload"
log "ok: broken config refused on SIGHUP, agent still answers"

printf '[memplugd]\nlog_level = debug\nhost_reserve = 1G\nadmin_group = root\n' >"$AGENT_CONFIG"
kill -HUP "$agent_pid"
sleep 1
grep -q "configuration reloaded from $AGENT_CONFIG" "$agent_dir/memplugd.log" ||
	fail "a valid config was not reloaded"
grep -q "admin_group changed; it takes effect when memplugd restarts" "$agent_dir/memplugd.log" ||
	fail "a restart-only key changed on reload without a word"
log "ok: valid config reloaded; the restart-only key is named"

if "$MEMPLUGD" --foreground --config "$AGENT_CONFIG" --socket "$agent_sock" \
	--audit-log "$agent_dir/other.jsonl" >"$agent_dir/second.log" 2>&1; then
	fail "a second memplugd started on the same socket"
fi
grep -qi "another memplugd" "$agent_dir/second.log" ||
	fail "the second memplugd did not say why: $(cat "$agent_dir/second.log")"
ctl status >/dev/null || fail "the first memplugd stopped answering"
log "ok: a second memplugd refuses to start: $(tail -n 1 "$agent_dir/second.log")"

kill -TERM "$agent_pid"
wait "$agent_pid" || fail "memplugd exited non-zero on SIGTERM"
agent_pid=""
expect_eq "last audit event" \
	"$(tail -n 1 "$agent_audit" | sed -n 's/.*"event":"\([a-z_]*\)".*/\1/p')" agent_stop
[ -e "$agent_sock" ] && fail "the socket was left behind"
"$MEMPLUGCTL" log verify "$agent_audit" || fail "audit chain does not verify"
log PASS
