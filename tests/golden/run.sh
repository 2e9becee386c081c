#!/bin/sh
# Golden-file tests for what people and programs read from memplugctl: each
# case runs the CLI on a fixture (stdin: the optional third field, a file in
# tests/data, else /dev/null) and compares stdout and the exit code with
# tests/golden/NAME.out (stderr after a '--- stderr' line). `run.sh --update CLI` rewrites the golden files.
# Paths into tests/data read DATA and meson's project version (MEMPLUG_VERSION,
# set by tests/meson.build) reads VERSION.
#   MEMPLUG_VERSION=X.Y.Z run.sh [--update] MEMPLUGCTL
set -u
version=${MEMPLUG_VERSION:?set it to the project version, as tests/meson.build does}
version_re=$(printf '%s' "$version" | sed 's/[.[\*^$#]/\\&/g')
update=false
[ "${1:-}" = "--update" ] && { update=true; shift; }
ctl=$1
here=$(cd "$(dirname "$0")" && pwd)
data=$here/../data
failed=0 passed=0

# name | arguments (word-split; fixture paths are relative to tests/data) | stdin
cases() {
	cat <<CASES
plan-2cell|plan --xml $data/guest-2cell.xml
plan-2cell-json|plan --xml $data/guest-2cell.xml --json
plan-anuma|plan --xml $data/anuma-8cell.xml
plan-anuma-json|--json plan --xml $data/anuma-8cell.xml
plan-anuma-even|plan --strategy even --xml $data/anuma-8cell.xml
plan-hbm|plan --xml $data/hbm-cpuless.xml
plan-hugepages|plan --xml $data/hugepages-mixed.xml --json
plan-with-dimms|plan --xml $data/with-dimms.xml
plan-3cell|plan --xml $data/guest-3cell-hugepage.xml
inspect-3cell|inspect --xml $data/guest-3cell-hugepage.xml
inspect-with-dimms|inspect --xml $data/with-dimms.xml
inspect-hugepages-json|inspect --json --xml $data/hugepages-mixed.xml
inspect-numatune-auto|inspect --xml $data/numatune-auto.xml
inspect-numatune-restrictive|inspect --xml $data/numatune-restrictive.xml
inspect-host|inspect --xml $data/guest-3cell-hugepage.xml --host-sysfs $data/host-4node
inspect-host-tiers-json|inspect --json --xml $data/guest-2cell.xml --host-sysfs $data/sysfs-tiers/devices/system/node
inspect-caps-8node|inspect --xml $data/anuma-8cell.xml --host-caps $data/caps-8node.xml
inspect-caps-hbm-json|inspect --json --xml $data/hbm-cpuless.xml --host-caps $data/caps-2ddr-2hbm.xml
inspect-caps-test-driver|inspect --xml $data/guest-2cell.xml --host-caps $data/caps-test-driver.xml
inspect-caps-not-caps|inspect --xml $data/guest-2cell.xml --host-caps $data/guest-2cell.xml
inspect-caps-missing|inspect --xml $data/guest-2cell.xml --host-caps $data/no-such-caps.xml
inspect-drift|inspect --xml $data/drift-live.xml --inactive-xml $data/drift-inactive.xml
inspect-drift-json|--json inspect --xml $data/drift-live.xml --inactive-xml $data/drift-inactive.xml
inspect-drift-vmem|inspect --xml $data/drift-vmem-live.xml --inactive-xml $data/drift-vmem-inactive.xml
inspect-drift-none|inspect --xml $data/drift-inactive.xml --inactive-xml $data/drift-inactive.xml
inspect-drift-name|inspect web01 --inactive-xml $data/drift-inactive.xml
inspect-drift-missing|inspect --xml $data/drift-live.xml --inactive-xml $data/no-such-drift.xml
inspect-caps-and-sysfs|inspect --xml $data/guest-2cell.xml --host-caps $data/caps-1node.xml --host-sysfs $data/host-4node
plan-nomax|plan --xml $data/nomax.xml
plan-host-short|plan --xml $data/guest-3cell-hugepage.xml --host-sysfs $data/host-4node
plan-host-pools|plan --xml $data/hugepages-mixed.xml --host-sysfs $data/host-4node
plan-host-json|plan --json --xml $data/guest-3cell-hugepage.xml --host-sysfs $data/host-4node
plan-host-fits|plan --xml $data/guest-2cell.xml --host-sysfs $data/host-4node
plan-caps-short|plan --xml $data/guest-3cell-hugepage.xml --host-caps $data/caps-1node.xml
plan-caps-short-json|plan --json --xml $data/guest-3cell-hugepage.xml --host-caps $data/caps-1node.xml
plan-caps-unchecked|plan --xml $data/guest-3cell-hugepage.xml --host-caps $data/caps-8node.xml
plan-caps-unchecked-json|plan --json --xml $data/guest-3cell-hugepage.xml --host-caps $data/caps-8node.xml
plan-caps-pools|plan --xml $data/hugepages-mixed.xml --host-caps $data/caps-2ddr-2hbm.xml
inspect-virtio-mem|inspect --xml $data/virtio-mem-2cell.xml
inspect-virtio-mem-json|inspect --json --xml $data/virtio-mem-2cell.xml
inspect-virtio-mem-inactive-json|inspect --json --xml $data/drift-vmem-inactive.xml
plan-virtio-mem|plan --xml $data/virtio-mem-2cell.xml
plan-virtio-mem-json|plan --json --xml $data/virtio-mem-2cell.xml
plan-virtio-mem-inactive|plan --xml $data/drift-vmem-inactive.xml
plan-virtio-mem-mixed|plan --xml $data/virtio-mem-mixed.xml
plan-virtio-mem-mixed-json|plan --json --xml $data/virtio-mem-mixed.xml
plan-virtio-mem-force-dimm|plan --model dimm --xml $data/virtio-mem-2cell.xml
plan-virtio-mem-force-nodevice|plan --model virtio-mem --xml $data/guest-2cell.xml
plan-bad-model|plan --model auto --xml $data/guest-2cell.xml
plan-bad-xml|plan --xml $data/bad-malformed.xml
plan-bad-strategy|plan --strategy weights:1 --xml $data/guest-2cell.xml
plan-bad-weights-3cell|plan --strategy weights:1,2 --xml $data/guest-3cell-hugepage.xml
plan-bad-weights-1cell|plan --strategy weights:1,2 --xml $data/prepare-16vcpu.xml
plan-bad-strategy-name|plan --strategy bogus --xml $data/guest-2cell.xml
usage-unknown|frobnicate
usage-json|--json grow web01 1.5G
usage-json-unknown|frobnicate --json
grow-negative|grow web01 -128M --node 1
shrink-negative|shrink web01 -128M
grow-zero|grow web01 0M
shrink-zero|shrink web01 0G
grow-fraction|grow web01 1.5G
grow-decimal-mb|grow web01 128MB
resize-negative|resize web01 -2G
resize-zero|resize web01 0M --node 1
version|--version
policy-unset-none|policy web01 unset
policy-unset-value|policy web01 unset min=2G
policy-show-extra|policy web01 show min
log-verify-missing|--socket /nonexistent/memplugd.sock --agent-config $data/memplugd-log.conf log verify
log-missing|log --socket /nonexistent/memplugd.sock --agent-config=$data/memplugd-log.conf --domain web01
grow-config-scope|--socket /nonexistent/memplugd.sock grow web01 128M --config
log-file-missing|log --agent-config $data/memplugd-log.conf --file /nonexistent/audit.jsonl
log-file-missing-json|--json log --agent-config $data/memplugd-log.conf --file /nonexistent/audit.jsonl
log-file-missing-configured|log --agent-config $data/memplugd-log.conf --file /nonexistent/memplug/audit.jsonl
log-verify-file-missing|log --agent-config $data/memplugd-log.conf verify /nonexistent/audit.jsonl
log-bad-event|log --event bogus
log-bad-event-json|--json log --event bogus --file /nonexistent/audit.jsonl
version-json|--json --version
usage-both|plan --xml $data/guest-2cell.xml somedomain
prepare-8node|prepare --xml $data/prepare-16vcpu.xml --host-caps $data/caps-8node.xml --mirror-host
prepare-8node-xml|prepare --xml $data/prepare-16vcpu.xml --host-caps $data/caps-8node.xml --mirror-host --print-xml
prepare-8node-json|prepare --json --xml $data/prepare-16vcpu.xml --host-caps $data/caps-8node.xml --mirror-host --no-pin
prepare-hbm|prepare --xml $data/guest-2cell.xml --host-caps $data/caps-2ddr-2hbm.xml --mirror-host
prepare-hbm-xml|prepare --xml $data/guest-2cell.xml --host-caps $data/caps-2ddr-2hbm.xml --mirror-host --cpuless 512M --print-xml
prepare-hbm-cpuless0|prepare --xml $data/guest-2cell.xml --host-caps $data/caps-2ddr-2hbm.xml --mirror-host --cpuless 0
prepare-hbm-cells|prepare --xml $data/guest-2cell.xml --host-caps $data/caps-2ddr-2hbm.xml --cells 2 --cpuless 256M
prepare-hugepages|prepare --xml $data/prepare-hugepages.xml --host-caps $data/caps-2ddr-2hbm.xml --mirror-host
prepare-hugepages-xml|prepare --xml $data/prepare-hugepages.xml --host-caps $data/caps-2ddr-2hbm.xml --mirror-host --print-xml
prepare-rich-xml|prepare --xml $data/prepare-rich.xml --host-caps $data/caps-2ddr-2hbm.xml --mirror-host --print-xml
prepare-vmem|prepare --xml $data/guest-2cell.xml --host-caps $data/caps-2ddr-2hbm.xml --mirror-host --model virtio-mem
prepare-vmem-xml|prepare --xml $data/guest-2cell.xml --host-caps $data/caps-8node.xml --cells 2 --model virtio-mem --print-xml
prepare-nocells-xml|prepare --xml $data/prepare-nocells.xml --host-caps $data/caps-8node.xml --cells 2 --max 3G --print-xml
prepare-place|prepare --xml $data/prepare-16vcpu.xml --host-sysfs $data/host-place --cells 2
prepare-place-hugepages|prepare --xml $data/prepare-hugepages.xml --host-sysfs $data/host-place --cells 2
prepare-place-shared|prepare --xml $data/prepare-16vcpu.xml --host-sysfs $data/host-place --cells 6 --cpuless 512M
prepare-sysfs-threads|prepare --xml $data/prepare-16vcpu.xml --host-sysfs $data/sysfs-tiers/devices/system/node --mirror-host --cpuless 0
prepare-bad-vcpus|prepare --xml $data/guest-2cell.xml --host-caps $data/caps-8node.xml --mirror-host
prepare-bad-align|prepare --xml $data/prepare-1g.xml --host-caps $data/caps-8node.xml --cells 4
prepare-bad-prealloc|prepare --xml $data/prepare-prealloc.xml --host-caps $data/caps-2ddr-2hbm.xml --mirror-host
prepare-bad-mixed|prepare --xml $data/hugepages-mixed.xml --host-caps $data/caps-2ddr-2hbm.xml --mirror-host
prepare-bad-max|prepare --xml $data/prepare-nocells.xml --host-caps $data/caps-8node.xml --cells 2 --max 1G
prepare-bad-cpuless|prepare --xml $data/guest-2cell.xml --host-caps $data/caps-2ddr-2hbm.xml --mirror-host --cpuless 1000K
prepare-bad-mode|prepare --xml $data/guest-2cell.xml --host-caps $data/caps-8node.xml --mirror-host --cells 2
prepare-bad-nomode|prepare --xml $data/guest-2cell.xml --host-caps $data/caps-8node.xml
prepare-bad-define-xml|prepare --xml $data/guest-2cell.xml --mirror-host --define
prepare-bad-hmat|prepare --xml $data/prepare-hmat.xml --host-caps $data/caps-8node.xml --cells 2
prepare-stdin|prepare --xml - --host-caps $data/caps-8node.xml --cells 2 --print-xml|guest-2cell.xml
prepare-rich|prepare --xml $data/prepare-rich.xml --host-caps $data/caps-2ddr-2hbm.xml --mirror-host
prepare-rich-nopin|prepare --xml $data/prepare-rich.xml --host-caps $data/caps-2ddr-2hbm.xml --mirror-host --no-pin
prepare-bigmax|prepare --xml $data/prepare-bigmax.xml --host-caps $data/caps-8node.xml --cells 2
prepare-bigmax-json|prepare --json --xml $data/prepare-bigmax.xml --host-caps $data/caps-8node.xml --cells 2
prepare-bad-max-host|prepare --xml $data/guest-2cell.xml --host-caps $data/caps-2ddr-2hbm.xml --mirror-host --max 1T
prepare-bad-slots|prepare --xml $data/guest-2cell.xml --host-caps $data/caps-8node.xml --cells 2 --slots 300
plan-stdin|plan --xml -|guest-2cell.xml
inspect-stdin-json|inspect --json --xml - --host-sysfs $data/host-4node|guest-3cell-hugepage.xml
plan-stdin-bad|plan --xml -|bad-malformed.xml
plan-stdin-empty|plan --xml -
connect-hint|--connect qemu+ssh://host2/system plan web
CASES
}

tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.err"' EXIT
while IFS='|' read -r name args input; do
	in=/dev/null
	[ -z "$input" ] || in=$data/$input
	# shellcheck disable=SC2086
	"$ctl" $args <"$in" >"$tmp" 2>"$tmp.err"
	echo "exit=$?" >>"$tmp"
	if [ -s "$tmp.err" ]; then
		echo "--- stderr" >>"$tmp"
		cat "$tmp.err" >>"$tmp"
	fi
	sed -i -e "s#$data#DATA#g" -e "s#^memplugctl $version_re\$#memplugctl VERSION#" \
		-e "s#^  \"version\":\"$version_re\"\$#  \"version\":\"VERSION\"#" "$tmp"
	if $update; then
		cp "$tmp" "$here/$name.out"
	elif diff -u "$here/$name.out" "$tmp" >&2; then
		passed=$((passed + 1))
	else
		echo "golden: $name differs (memplugctl $args)" >&2
		failed=$((failed + 1))
	fi
done <<EOF2
$(cases)
EOF2
$update && exit 0
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
