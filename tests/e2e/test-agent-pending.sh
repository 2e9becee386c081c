#!/bin/sh
# e2e: a shrink whose guest answers after the detach timeout is reported as
# pending (exit 1, the message says so, nothing else is touched); when the
# guest then releases the DIMM, memplugd audits the real outcome for that
# request and only then removes the DIMM from the persistent definition.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"

AGENT_CONFIG="$agent_dir/memplugd.conf"
printf '[memplugd]\ndetach_timeout = 1ms\n' >"$AGENT_CONFIG"
start_guest guest-2cell pending
start_agent
n1=$("$bed" memtotal "$g" 1)
ctl grow "$g" 256M --node 1 || fail "grow failed"
"$bed" wait-memtotal "$g" 1 $((n1 + 262144)) 90
alias=$(ctl --json log --domain "$g" --event attach | sed -n 's/.*"alias":"\(ua-mp-[^"]*\)".*/\1/p' | head -n 1)
virsh -q -c qemu:///system dumpxml --inactive "$g" | grep -q "$alias" ||
	fail "the grow did not reach the persistent definition"

if out=$(ctl shrink "$g" 256M --node 1 2>&1); then
	fail "a 1 ms detach timeout did not report pending: $out"
fi
echo "$out" | grep -q "has not released it" || fail "the message does not say pending: $out"
log "ok: reported as pending: $out"
req=$(ctl --json log --domain "$g" --event request | sed -n 's/.*"request":"\([^"]*\)".*/\1/p' | tail -n 1)

"$bed" wait-memtotal "$g" 1 "$n1" 90
i=0
until ctl log --request "$req" --event outcome | grep -q 'outcome ok .*late=true'; do
	i=$((i + 1))
	[ "$i" -le 100 ] || fail "no late outcome for $req: $(ctl log --request "$req")"
	sleep 0.1
done
log "ok: $(ctl log --request "$req" --event outcome | tail -n 1 | cut -c1-120)"
if virsh -q -c qemu:///system dumpxml --inactive "$g" | grep -q "$alias"; then
	fail "$alias is still in the persistent definition after the guest released it"
fi
log "ok: $alias left the persistent definition after the guest released it"
log PASS
