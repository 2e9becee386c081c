#!/bin/sh
# e2e: memplugctl resize reaches a total exactly as the guest sees it (its own
# MemTotal moves by the difference), for one node with --node and for the
# whole domain; a resize to what the domain has changes nothing; and
# grow/shrink --dry-run show the chosen DIMMs and change nothing (the shrink
# both refused on a node without DIMMs and, after the resize up, naming the
# DIMMs it would detach while both definitions, the guest's node and the
# audit log's change records stay as they were).
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"
command -v jq >/dev/null || fail "needs jq"
virsh_() { virsh -q -c qemu:///system "$@"; }
dimms() { virsh_ dumpxml "$@" "$g" | grep -c "<memory model='dimm'" || true; }
# memplug's DIMM aliases in the live (or, with --inactive, persistent) XML.
aliases() { virsh_ dumpxml "$@" "$g" | sed -n "s/.*<alias name='\(ua-mp-[^']*\)'.*/\1/p" | sort | paste -sd, -; }
# Audit records of a change being made: none may follow a dry run.
changes() {
	ctl --json log --domain "$g" |
		jq '[.records[] | select(.event | IN("intent", "attach", "detach", "rollback"))] | length'
}

start_guest guest-3cell resize
start_agent
n0=$("$bed" memtotal "$g" 0)
n1=$("$bed" memtotal "$g" 1)
n2=$("$bed" memtotal "$g" 2)
total=$(guest_total "$g")
cell1=$(ctl --json inspect "$g" | jq '.cells[1].memory_kib')
boot=$(ctl --json inspect "$g" | jq '[.cells[].memory_kib] | add')
log "guest sees node0=$n0 node1=$n1 node2=$n2 kB; cell 1 is $cell1 KiB, boot $boot KiB"

# Dry runs: the choice is shown, nothing is attached or detached.
out=$(ctl grow "$g" 512M --node 1 --dry-run) || fail "dry-run grow failed: $out"
log "$out"
echo "$out" | grep -q "^Dry run .*: grow 512 MiB passes the pre-flight; nothing changed$" ||
	fail "the dry run does not say so"
echo "$out" | grep -q "would attach .* on guest node 1" || fail "the dry run shows no DIMM"
rc=0
out=$(ctl shrink "$g" 128M --node 1 --dry-run 2>&1) || rc=$?
expect_eq "dry-run shrink of a node without DIMMs: exit" "$rc" 1
sleep 3
expect_eq "DIMMs (live) after the dry runs" "$(dimms)" 0
expect_eq "DIMMs (config) after the dry runs" "$(dimms --inactive)" 0
expect_eq "node1 MemTotal after the dry runs" "$("$bed" memtotal "$g" 1)" "$n1"

# One node to an absolute size: only that node moves, by exactly the difference.
ctl resize "$g" $((cell1 / 1024 + 512))M --node 1 || fail "resize --node 1 up failed"
"$bed" wait-memtotal "$g" 1 $((n1 + 524288)) 90
expect_eq "node1 MemTotal after resize up" "$("$bed" memtotal "$g" 1)" $((n1 + 524288))
expect_eq "node0 MemTotal after resize up" "$("$bed" memtotal "$g" 0)" "$n0"
expect_eq "node2 MemTotal after resize up" "$("$bed" memtotal "$g" 2)" "$n2"

# A dry-run shrink with DIMMs to take names the DIMMs it would detach, and
# changes nothing: both definitions, the guest's node, no change records.
live_aliases=$(aliases)
config_aliases=$(aliases --inactive)
[ -n "$live_aliases" ] || fail "resize up left no memplug DIMM in the live XML"
changes_before=$(changes)
out=$(ctl shrink "$g" 512M --node 1 --dry-run) || fail "dry-run shrink failed: $out"
log "$out"
echo "$out" | grep -q "^Dry run .*: shrink 512 MiB passes the pre-flight; nothing changed$" ||
	fail "the dry-run shrink does not say so"
would=$(echo "$out" | sed -n 's/^  would detach .* on guest node 1 as \([^ ]*\) .*/\1/p' | sort |
	paste -sd, -)
[ -n "$would" ] || fail "the dry-run shrink names no DIMM to detach"
for a in $(echo "$would" | tr , ' '); do
	case ",$live_aliases," in *",$a,"*) ;; *) fail "would detach $a: not a live DIMM ($live_aliases)" ;; esac
done
log "ok: the dry-run shrink would detach $would"
req=$(echo "$out" | sed -n 's/^Dry run \([^:]*\):.*/\1/p')
expect_eq "the dry-run shrink's records" \
	"$(ctl --json log --request "$req" | jq -r '[.records[].event] | join(",")')" \
	"request,preflight,outcome"
sleep 3
expect_eq "live DIMMs after the dry-run shrink" "$(aliases)" "$live_aliases"
expect_eq "persistent DIMMs after the dry-run shrink" "$(aliases --inactive)" "$config_aliases"
expect_eq "node1 MemTotal after the dry-run shrink" "$("$bed" memtotal "$g" 1)" $((n1 + 524288))
expect_eq "change records after the dry-run shrink" "$(changes)" "$changes_before"
out=$(ctl resize "$g" $((cell1 / 1024 + 512))M --node 1) || fail "resize to the same failed"
echo "$out" | grep -q "already there: nothing changed" || fail "no 'already there': $out"
ctl resize "$g" $((cell1 / 1024))M --node 1 || fail "resize --node 1 down failed"
"$bed" wait-memtotal "$g" 1 "$n1" 90
expect_eq "node1 MemTotal after resize down" "$("$bed" memtotal "$g" 1)" "$n1"

# The whole domain: the guest's total moves by exactly the difference.
ctl resize "$g" $((boot / 1024 + 256))M || fail "resize of the domain up failed"
i=0
until [ "$(guest_total "$g")" -eq $((total + 262144)) ]; do
	i=$((i + 1))
	[ "$i" -le 90 ] || fail "guest total $(guest_total "$g") kB, want $((total + 262144))"
	sleep 1
done
log "ok: the guest's total rose by exactly 256 MiB"
ctl resize "$g" $((boot / 1024))M || fail "resize of the domain down failed"
i=0
until [ "$(guest_total "$g")" -eq "$total" ]; do
	i=$((i + 1))
	[ "$i" -le 90 ] || fail "guest total $(guest_total "$g") kB, want $total"
	sleep 1
done
expect_eq "DIMMs after resizing back" "$(dimms)" 0
ctl --json log --domain "$g" --event request | grep -q '"dry_run":true' ||
	fail "the dry runs are not in the audit log as such"
"$MEMPLUGCTL" log verify "$agent_audit" || fail "audit chain does not verify"
log PASS
