#!/bin/sh
# e2e: two memplugctl grow calls started at once on one guest both succeed,
# one after the other: in the audit log the second request's first intent
# comes after the first request's outcome, and the guest's MemTotal grows by
# the sum. The pair is retried (up to 3 times) until the second request
# reached the agent while the first was still running, so the queue is
# really exercised.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"

# seq_of REQUEST EVENT first|last: the audit sequence number of the record.
seq_of() {
	grep "\"event\":\"$2\"" "$agent_audit" | grep "\"request\":\"$1\"" |
		sed -n 's/.*"seq":\([0-9]*\).*/\1/p' | sed -n "$([ "$3" = first ] && echo 1p || echo '$p')"
}

start_guest guest-2cell conc
start_agent
t0=$(guest_total "$g")
added=0 overlapped=no try=0
while [ "$overlapped" = no ] && [ "$try" -lt 3 ]; do
	try=$((try + 1))
	ctl grow "$g" 256M --node 0 >"$agent_dir/o1" 2>&1 &
	p1=$!
	ctl grow "$g" 384M --node 1 >"$agent_dir/o2" 2>&1 &
	p2=$!
	wait "$p1" || fail "first grow failed: $(cat "$agent_dir/o1")"
	wait "$p2" || fail "second grow failed: $(cat "$agent_dir/o2")"
	added=$((added + 655360))
	r1=$(sed -n 's/^Request \([^:]*\):.*/\1/p' "$agent_dir/o1")
	r2=$(sed -n 's/^Request \([^:]*\):.*/\1/p' "$agent_dir/o2")
	[ -n "$r1" ] && [ -n "$r2" ] || fail "no request ids in: $(cat "$agent_dir/o1" "$agent_dir/o2")"
	# Whichever the agent started first is "a".
	if [ "$(seq_of "$r1" intent first)" -lt "$(seq_of "$r2" intent first)" ]; then
		a=$r1 b=$r2
	else
		a=$r2 b=$r1
	fi
	a_out=$(seq_of "$a" outcome last) b_req=$(seq_of "$b" request first)
	b_int=$(seq_of "$b" intent first)
	log "try $try: $a outcome #$a_out; $b request #$b_req, first intent #$b_int"
	[ "$b_int" -gt "$a_out" ] || fail "$b attached (#$b_int) before $a finished (#$a_out)"
	[ "$b_req" -lt "$a_out" ] && overlapped=yes
done
[ "$overlapped" = yes ] || fail "in 3 tries the second grow never arrived while the first ran"
log "ok: the second request waited for the first"
want=$((t0 + added))
i=0
until [ "$(guest_total "$g")" = "$want" ] || [ "$i" -ge 90 ]; do
	sleep 1
	i=$((i + 1))
done
expect_eq "guest total MemTotal" "$(guest_total "$g")" "$want"
log PASS
