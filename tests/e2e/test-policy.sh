#!/bin/sh
# e2e: the auto-balloon policy on a real guest. Enabled at run time
# (persisted in the domain's <metadata>), it adds memory when the guest
# consumes most of its own (the guest's MemTotal shows it) and prints the
# reaction time; after the release the guest returns to its starting size,
# DIMMs included, within settle plus a few intervals; a dry run changes
# nothing but audits the decisions it would have made.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"

AGENT_CONFIG="$agent_dir/memplugd.conf"
printf '[memplugd]\npolicy_interval = 2s\nhost_reserve = 256M\n' >"$AGENT_CONFIG"
start_guest guest-2cell policy
start_agent

dimms() { virsh -q -c qemu:///system dumpxml "$g" | grep -c "<memory model='dimm'" || true; }
now_ms() { date +%s%3N; }
# wait_for DESCRIPTION SECONDS COMMAND...: polls every 0.25 s.
wait_for() {
	what=$1 limit=$(($2 * 4))
	shift 2
	i=0
	until "$@"; do
		i=$((i + 1))
		[ "$i" -le "$limit" ] || fail "$what: not within $((limit / 4)) s"
		sleep 0.25
	done
}
total_above() { [ "$(guest_total "$g")" -gt "$1" ]; }
total_is() { [ "$(guest_total "$g")" -eq "$1" ] && [ "$(dimms)" -eq 0 ]; }

ctl policy "$g" set low_free=20% high_free=45% step=256M cooldown=3s settle=8s ||
	fail "policy set refused"
if out=$(ctl policy "$g" set low_free=50% 2>&1); then fail "low_free >= high_free accepted"; fi
echo "$out" | grep -qF "low_free (50%) must be below high_free (45%)" ||
	fail "no reason, or not both values: $out"
log "ok: refused with a reason: $out"
ctl policy "$g" enable >/dev/null || fail "policy enable refused"
virsh -q -c qemu:///system metadata "$g" https://memplug.example/policy/1 | tee /dev/stderr |
	grep -q 'enabled="yes"' || fail "the policy is not in the domain's <metadata>"

# Policy changes are audited like any request, refusals included.
ctl log --domain "$g" --event request | grep -q 'request refused .*op="policy" action="set"' ||
	fail "the refused policy change is not in the audit log"
ctl log --domain "$g" --event request | grep 'op="policy" action="enable"' |
	grep -q "actor=uid:$(id -u)" || fail "the policy enable is not audited with its caller"
log "ok: policy changes are audited with the caller"

# The agent must read the stored settings back when it starts again.
stop_agent
start_agent
ctl policy "$g" show | tee /dev/stderr | grep -q "policy of $g: enabled" ||
	fail "the settings did not survive a restart"

total0=$(guest_total "$g")
avail=$("$bed" avail "$g")
eat=$((avail / 1024 - 40))
log "before: MemTotal $total0 kB, MemAvailable $avail kB; consuming $eat MiB"
"$bed" cmd "$g" "consume $eat" 60 >/dev/null || fail "consume failed"
t0=$(now_ms)
wait_for "memory added under pressure" 60 total_above "$total0"
t1=$(now_ms)
log "ok: MemTotal $(guest_total "$g") kB after the policy acted"
log "reaction time: $((t1 - t0)) ms from the consume to added memory in the guest"
ctl --json log --domain "$g" --event policy_decision | grep -q '"action":"grow"' ||
	fail "no policy_decision grow record"

"$bed" cmd "$g" release 60 >/dev/null || fail "release failed"
t2=$(now_ms)
wait_for "back to the starting size" 90 total_is "$total0"
log "ok: back to $total0 kB, no DIMMs, $(($(now_ms) - t2)) ms after the release"
ctl --json log --domain "$g" --event policy_decision | grep -q '"action":"shrink"' ||
	fail "no policy_decision shrink record"

ctl policy "$g" set dry_run=yes >/dev/null || fail "dry_run refused"
before=$(ctl --json log --domain "$g" --event policy_decision | grep -c '"dry_run":true' || true)
"$bed" cmd "$g" "consume $eat" 60 >/dev/null || fail "consume failed"
sleep 12
expect_eq "MemTotal during the dry run" "$(guest_total "$g")" "$total0"
expect_eq "DIMMs during the dry run" "$(dimms)" 0
after=$(ctl --json log --domain "$g" --event policy_decision | grep -c '"dry_run":true' || true)
expect_ge "dry-run decisions logged" "$after" $((before + 1))
"$bed" cmd "$g" release 60 >/dev/null || true
log "the policy's decisions:"
ctl log --domain "$g" --event policy_decision | cut -c1-220
"$MEMPLUGCTL" log verify "$agent_audit" || fail "audit chain does not verify"
log PASS
