#!/bin/sh
# e2e: memplugctl status (text and --json) lists two running bed guests with
# the per-node memory of their live XML; inspect and plan by domain name ask
# the agent and agree with that XML; an unknown domain is exit 1 with a
# clear error; a non-root caller (uid 65534) may read the status but its
# grow is refused as unauthorized, and nothing changes in the guest.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"

command -v setpriv >/dev/null || fail "setpriv (util-linux) is missing"
command -v xmllint >/dev/null || fail "xmllint (libxml2-utils) is missing"
virsh_q() { virsh -q -c qemu:///system "$@"; }

# "ID:KIB ..." for every NUMA cell of the live XML (plus hot-plugged DIMMs,
# as the agent counts them; the bed boots none).
xml_nodes() {
	xml=$(virsh_q dumpxml "$1")
	n=$(echo "$xml" | xmllint --xpath 'count(//cpu/numa/cell)' -)
	i=1 out=""
	while [ "$i" -le "$n" ]; do
		id=$(echo "$xml" | xmllint --xpath "string(//cpu/numa/cell[$i]/@id)" -)
		kib=$(echo "$xml" | xmllint --xpath "string(//cpu/numa/cell[$i]/@memory)" -)
		unit=$(echo "$xml" | xmllint --xpath "string(//cpu/numa/cell[$i]/@unit)" -)
		[ "$unit" = KiB ] || fail "$1: cell $id memory unit is '$unit' in the live XML"
		dimms=$(echo "$xml" | xmllint --xpath \
			"sum(//devices/memory[target/node=$id]/target/size)" -)
		out="$out${out:+ }$id:$((kib + ${dimms%.*}))"
		i=$((i + 1))
	done
	echo "$out"
}

# What the text table shows per node, e.g. "0:256 MiB 1:256 MiB".
text_nodes() {
	out=""
	for nk in $1; do
		out="$out${out:+ }${nk%%:*}:$((${nk#*:} / 1024)) MiB"
	done
	echo "$out"
}

start_guest guest-3cell st3
g3=$g
start_guest guest-2cell st2
g2=$g
AGENT_CONFIG="$agent_dir/memplugd.conf"
printf '[memplugd]\nsocket_mode = 0666\n' >"$AGENT_CONFIG"
start_agent
chmod 0711 "$agent_dir" # uid 65534 must reach the socket inside

js=$(ctl --json status) || fail "status --json failed"
txt=$(ctl status) || fail "status failed"
expect_eq "connected" "$(json_field "$js" connected)" true
for g in $g3 $g2; do
	want=$(xml_nodes "$g")
	expect_eq "$g per-node KiB in status --json" "$(json_nodes "$js" "$g")" "$want"
	row=$(echo "$txt" | awk -v g="$g" '$1 == g')
	[ -n "$row" ] || fail "status does not list $g: $txt"
	echo "$row" | grep -q " running " || fail "$g is not shown running: $row"
	echo "$row" | grep -qF "$(text_nodes "$want")" ||
		fail "$g row '$row' lacks '$(text_nodes "$want")'"
	log "ok: status row of $g shows $(text_nodes "$want")"
done
expect_eq "node count of $g3" "$(xml_nodes "$g3" | wc -w)" 3

# inspect and plan by name go through the agent (no --xml, no --connect).
ins=$(ctl --json inspect "$g3") || fail "inspect $g3 failed"
expect_eq "inspect uuid" "$(json_field "$ins" uuid)" "$(virsh_q domuuid "$g3" | tr -d ' \n')"
xml=$(virsh_q dumpxml "$g3")
mem=$(echo "$xml" | xmllint --xpath 'string(/domain/memory)' -)
max=$(echo "$xml" | xmllint --xpath 'string(/domain/maxMemory)' -)
expect_eq "inspect memory_kib" "$(json_field "$ins" memory_kib)" "$mem"
pl=$(ctl --json plan "$g3") || fail "plan $g3 failed"
expect_eq "plan domain" "$(json_field "$pl" domain)" "$g3"
expect_eq "plan headroom_kib" "$(json_field "$pl" headroom_kib)" $((max - mem))
ctl plan "$g2" | grep -q "^Domain $g2: " || fail "text plan of $g2 does not name it"

# An unknown domain: exit 1 and a sentence naming it.
for cmd in inspect plan; do
	st=0
	out=$(ctl $cmd bed-no-such-domain-$$ 2>&1) || st=$?
	expect_eq "$cmd of an unknown domain: exit" "$st" 1
	echo "$out" | grep -q "no domain 'bed-no-such-domain-$$'" ||
		fail "$cmd of an unknown domain said: $out"
done

# A non-root caller reads, but may not change anything.
nobody "$MEMPLUGCTL" --socket "$agent_sock" status | grep -q "^$g2 " ||
	fail "status as uid 65534 does not list $g2"
log "ok: uid 65534 reads the status"
n1=$("$bed" memtotal "$g2" 1)
st=0
out=$(nobody "$MEMPLUGCTL" --json --socket "$agent_sock" grow "$g2" 128M 2>/dev/null) || st=$?
expect_eq "grow as uid 65534: exit" "$st" 1
# --json errors are the protocol's error object: {"error": {"code", "message"}}
echo "$out" | tr -d ' \n' | grep -q '"error":{"code":"unauthorized","message":"' ||
	fail "grow as uid 65534: no unauthorized error object: $out"
st=0
out=$(nobody "$MEMPLUGCTL" --socket "$agent_sock" grow "$g2" 128M 2>&1) || st=$?
expect_eq "text grow as uid 65534: exit" "$st" 1
echo "$out" | grep -q "needs root.*uid 65534" || fail "the refusal does not say why: $out"
grep -q "refused 'grow' from uid 65534" "$agent_dir/memplugd.log" ||
	fail "the agent did not log the refusal"
sleep 3 # a grow that slipped through would have plugged its DIMM by now
expect_eq "DIMMs in $g2 after the refused grow" \
	"$(virsh_q dumpxml "$g2" | xmllint --xpath 'count(//devices/memory)' -)" 0
expect_eq "node1 MemTotal of $g2 after the refused grow" "$("$bed" memtotal "$g2" 1)" "$n1"
expect_eq "status --json nodes of $g2 after the refused grow" \
	"$(json_nodes "$(ctl --json status)" "$g2")" "$(xml_nodes "$g2")"
grep -q '"event":"attach"' "$agent_audit" && fail "the audit log holds an attach"
log PASS
