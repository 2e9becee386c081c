#!/bin/sh
# Every definition `memplugctl prepare` writes must validate against
# libvirt's schema (virt-xml-validate, package libvirt-clients), and `plan`
# must lay out slots over the new cells.
#   prepare-validate.sh MEMPLUGCTL
set -u
ctl=$1
data=$(cd "$(dirname "$0")" && pwd)/data
command -v virt-xml-validate >/dev/null || {
	echo "prepare-validate: virt-xml-validate missing (scripts/install-deps.sh)" >&2
	exit 1
}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
failed=0 passed=0

# guest | host option | mode and options | cells the result must have
while IFS='|' read -r guest host opts cells; do
	# shellcheck disable=SC2086
	if ! "$ctl" prepare --xml "$data/$guest" $host $opts --print-xml >"$tmp"; then
		echo "prepare-validate: $guest $opts: prepare failed" >&2
		failed=$((failed + 1))
		continue
	fi
	got=$("$ctl" plan --xml "$tmp" --json | grep -c '"boot_kib"')
	if ! virt-xml-validate "$tmp" domain >/dev/null 2>"$tmp.err"; then
		echo "prepare-validate: $guest $opts: invalid:" >&2
		cat "$tmp.err" >&2
		failed=$((failed + 1))
	elif [ "$got" != "$cells" ]; then
		echo "prepare-validate: $guest $opts: plan shows $got cells, want $cells" >&2
		failed=$((failed + 1))
	else
		passed=$((passed + 1))
	fi
	rm -f "$tmp.err"
done <<CASES
prepare-16vcpu.xml|--host-caps $data/caps-8node.xml|--mirror-host|8
prepare-16vcpu.xml|--host-caps $data/caps-8node.xml|--mirror-host --no-pin|8
prepare-16vcpu.xml|--host-caps $data/caps-8node.xml|--cells 12|12
prepare-16vcpu.xml|--host-caps $data/caps-2ddr-2hbm.xml|--mirror-host|4
prepare-16vcpu.xml|--host-caps $data/caps-1node.xml|--cells 2|2
guest-2cell.xml|--host-caps $data/caps-2ddr-2hbm.xml|--mirror-host --cpuless 512M|4
guest-2cell.xml|--host-caps $data/caps-2ddr-2hbm.xml|--cells 2 --cpuless 256M --slots 7|4
guest-2cell.xml|--host-caps $data/caps-8node.xml|--cells 3|3
prepare-hugepages.xml|--host-caps $data/caps-2ddr-2hbm.xml|--mirror-host|4
prepare-1g.xml|--host-caps $data/caps-2ddr-2hbm.xml|--mirror-host --cpuless 0|2
prepare-rich.xml|--host-caps $data/caps-2ddr-2hbm.xml|--mirror-host|4
prepare-rich.xml|--host-caps $data/caps-8node.xml|--cells 4 --max 64G|4
prepare-nocells.xml|--host-caps $data/caps-8node.xml|--cells 2 --max 3G|2
prepare-bigmax.xml|--host-caps $data/caps-8node.xml|--cells 2|2
prepare-prealloc.xml|--host-caps $data/caps-8node.xml|--cells 2|2
with-dimms.xml|--host-caps $data/caps-2ddr-2hbm.xml|--mirror-host --cpuless 0|2
numatune-auto.xml|--host-caps $data/caps-8node.xml|--cells 2|2
prepare-16vcpu.xml|--host-sysfs $data/host-place|--cells 2|2
prepare-hugepages.xml|--host-sysfs $data/host-place|--cells 3 --cpuless 128M|4
CASES
# The XML goldens too (tests/golden/run.sh; not the prepare-bad-* refusals).
for out in "$data"/../golden/prepare-[!b]*xml.out "$data"/../golden/prepare-stdin.out; do
	sed '/^exit=/,$d' "$out" >"$tmp"
	if virt-xml-validate "$tmp" domain >/dev/null 2>"$tmp.err"; then
		passed=$((passed + 1))
	else
		echo "prepare-validate: $(basename "$out"): invalid:" >&2
		cat "$tmp.err" >&2
		failed=$((failed + 1))
	fi
	rm -f "$tmp.err"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
