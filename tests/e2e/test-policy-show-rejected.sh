#!/bin/sh
# e2e (issue 11, break 9): `policy show` labels a key "runtime" only while
# its run-time value is in force. A stored override that the configuration
# now makes invalid (low_free 40% once high_free drops to 30% on reload) is
# not applied: show must give the value in force with its real source, and
# name the rejected run-time value. Uses libvirt's test driver in-process:
# no libvirtd, no guest.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"
command -v jq >/dev/null || fail "needs jq"

AGENT_CONFIG="$agent_dir/memplugd.conf"
printf '[policy]\nhigh_free = 50%%\n' >"$AGENT_CONFIG"
start_agent --connect test:///default
ctl policy test set low_free=40% >/dev/null || fail "policy set refused"
show=$(ctl --json policy test show)
expect_eq "low_free in force" "$(echo "$show" | jq -r .settings.low_free.value)" "40%"
expect_eq "low_free source" "$(echo "$show" | jq -r .settings.low_free.source)" "runtime"

printf '[policy]\nhigh_free = 30%%\n' >"$AGENT_CONFIG"
kill -HUP "$agent_pid"
i=0
until grep -q "configuration reloaded" "$agent_dir/memplugd.log"; do
	i=$((i + 1))
	[ "$i" -le 50 ] || fail "no reload within 5 s"
	sleep 0.1
done
show=$(ctl --json policy test show)
log "after reload: $(echo "$show" | jq -c '{problem, low_free: .settings.low_free}')"
echo "$show" | jq -e '.problem | test("low_free")' >/dev/null || fail "no problem reported"
expect_eq "low_free in force" "$(echo "$show" | jq -r .settings.low_free.value)" "10%"
expect_eq "low_free source" "$(echo "$show" | jq -r .settings.low_free.source)" "default"
expect_eq "rejected run-time value" "$(echo "$show" | jq -r .settings.low_free.rejected)" "40%"
text=$(ctl policy test show)
echo "$text" | grep -Eq '^low_free +10% +default' || fail "text show: $text"
log "ok"
