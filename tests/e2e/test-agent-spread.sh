#!/bin/sh
# e2e: memplugctl grow without --node spreads the request over the 3-cell
# guest's nodes as the layout says. The expected split is recomputed here
# from the plan's per-node shares (`plan --json` planned_kib, D'Hondt by
# alignment unit, docs/select.md) and compared with what memplugctl reports
# (data.attached[]) and with what the guest itself sees per node. Done twice,
# so the second grow checks the re-planned layout.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"
command -v jq >/dev/null || fail "needs jq"

# expected_split PLAN_JSON SIZE_KIB HUGE_FREE_KIB: "node=kib ..." for the
# nodes that get memory. Ties go to the node whose host can supply more (a
# hugepage pool supplies less than the host's free memory here), then to the
# lower id; a node is skipped once its pool is used up.
expected_split() {
	echo "$1" | jq -r '.nodes[] | "\(.id) \(.planned_kib) \(.align_kib) \(.page_size_kib)"' |
		awk -v size="$2" -v hfree="$3" 'BEGIN { n = 0; hused = 0 }
		{ id[n] = $1; p[n] = $2; al[n] = $3; huge[n] = ($4 > 4); g[n] = 0; n++ }
		END {
			u = al[0]
			for (i = 1; i < n; i++) if (al[i] != u) { print "mixed-alignment"; exit }
			for (k = 0; k < size / u; k++) {
				b = -1
				for (i = 0; i < n; i++) {
					if (p[i] == 0 || (huge[i] && hused + u > hfree)) continue
					if (b < 0) { b = i; continue }
					l = (g[i] + u) * p[b]; r = (g[b] + u) * p[i]
					if (l < r || (l == r && huge[b] && !huge[i])) b = i
				}
				if (b < 0) { print "unplaceable"; exit }
				g[b] += u; if (huge[b]) hused += u
			}
			for (i = 0; i < n; i++) if (g[i]) printf "%s=%s ", id[i], g[i]
		}'
}

# grow_and_check SIZE: one spread grow, checked three ways.
grow_and_check() {
	size_kib=$(($1 * 1024))
	plan=$(ctl --json plan "$g") || fail "plan failed"
	hfree=$(($("$bed" hugepages-free 0) * 2048))
	want=$(expected_split "$plan" "$size_kib" "$hfree")
	log "plan shares: $(echo "$plan" | jq -c '[.nodes[] | {id, planned_kib}]')"
	b0=$("$bed" memtotal "$g" 0) b1=$("$bed" memtotal "$g" 1) b2=$("$bed" memtotal "$g" 2)
	reply=$(ctl --json grow "$g" "$((size_kib / 1024))M") || fail "grow failed: $reply"
	got=$(echo "$reply" | jq -r '[.attached[] | {node, size_kib}] | group_by(.node) |
		map("\(.[0].node)=\(map(.size_kib) | add)") | join(" ")')
	expect_eq "split reported by memplugctl" "$got" "$(echo "$want" | sed 's/ $//')"
	expect_eq "sum of attached DIMMs" "$(echo "$reply" | jq '[.attached[].size_kib] | add')" "$size_kib"
	n=0
	for b in "$b0" "$b1" "$b2"; do
		add=$(echo "$reply" | jq "[.attached[] | select(.node == $n) | .size_kib] | add // 0")
		"$bed" wait-memtotal "$g" "$n" $((b + add)) 90
		expect_eq "guest node$n MemTotal" "$("$bed" memtotal "$g" "$n")" $((b + add))
		n=$((n + 1))
	done
}

start_guest guest-3cell spread
start_agent
grow_and_check 1024
grow_and_check 768
log PASS
