# Sourced: reads a layout file (layouts/*.conf) for the harness on this
# machine and for the tests inside L1. Every function takes the file first.
#   layout_nodes F           node ids, one a line
#   layout_field F ID KEY    cpus|mem|hugepages2m of node ID ("none" = no CPUs)
#   layout_dist F A B        SLIT value (10 when A = B)
#   layout_ncpus F           CPUs in all (highest id + 1)
#   layout_check F           exit status 0 when the file is well formed
layout_nodes() { awk '$1 == "node" { print $2 }' "$1"; }

layout_field() {
	awk -v id="$2" -v key="$3" '$1 == "node" && $2 == id {
		for (i = 3; i <= NF; i++) {
			split($i, kv, "=")
			if (kv[1] == key) { print kv[2]; found = 1 }
		}
	} END { exit !found }' "$1"
}

layout_dist() {
	[ "$2" = "$3" ] && { echo 10; return 0; }
	awk -v a="$2" -v b="$3" '$1 == "dist" && (($2 == a && $3 == b) || ($2 == b && $3 == a)) {
		print $4; found = 1 } END { exit !found }' "$1"
}

# CPU lists are "none", "N", "N-M" or comma lists of those.
layout_cpu_ids() {
	[ "$1" = none ] && return 0
	echo "$1" | tr ',' '\n' | awk -F- '{ e = NF > 1 ? $2 : $1; for (i = $1; i <= e; i++) print i }'
}

layout_ncpus() {
	max=-1
	for n in $(layout_nodes "$1"); do
		for c in $(layout_cpu_ids "$(layout_field "$1" "$n" cpus)"); do
			[ "$c" -le "$max" ] || max=$c
		done
	done
	echo $((max + 1))
}

# Every node has cpus, mem and hugepages2m; ids count up from 0; every pair
# of nodes has a distance; every CPU id up to the highest is on one node.
layout_check() {
	want=0
	for n in $(layout_nodes "$1"); do
		[ "$n" = "$want" ] || { echo "layout $1: node $n, want node $want next" >&2; return 1; }
		for k in cpus mem hugepages2m; do
			layout_field "$1" "$n" "$k" >/dev/null ||
				{ echo "layout $1: node $n has no $k=" >&2; return 1; }
		done
		for m in $(layout_nodes "$1"); do
			layout_dist "$1" "$n" "$m" >/dev/null ||
				{ echo "layout $1: no distance between $n and $m" >&2; return 1; }
		done
		want=$((want + 1))
	done
	[ "$want" -ge 1 ] || { echo "layout $1: no nodes" >&2; return 1; }
	ids=$(for n in $(layout_nodes "$1"); do layout_cpu_ids "$(layout_field "$1" "$n" cpus)"; done | sort -n)
	[ "$ids" = "$(seq 0 $(($(layout_ncpus "$1") - 1)))" ] ||
		{ echo "layout $1: CPU ids are not 0..N-1, each on one node" >&2; return 1; }
}
