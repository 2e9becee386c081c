#!/bin/sh
# e2e: memplugctl grow --config on a shut-off persistent domain changes only
# its persistent definition: the DIMM (and the memory total) appear in
# `virsh dumpxml --inactive`, nothing else there changes, and the domain
# stays shut off; --live on it is refused; the reply says that only the
# definition changed. On a running domain, --config
# adds the DIMM to the inactive XML only: not to the live XML, not to the
# guest's MemTotal.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"
command -v jq >/dev/null || fail "needs jq"
virsh_() { virsh -q -c qemu:///system "$@"; }

# Defines (without starting) a domain from TEMPLATE the way `bed boot` does;
# lib.sh's exit trap tears it down (undefines it) with the others.
define_off() {
	h="bed-$2-$$"
	started="$started $h"
	img=$("$e2e_dir/build-guest.sh")
	st=${BED_STATE:-/var/lib/memplug-e2e}
	mkdir -p "$st"
	sed -e "s|@NAME@|$h|g" -e "s|@KERNEL@|$img/vmlinuz|g" -e "s|@INITRD@|$img/initrd.img|g" \
		-e "s|@CONSOLE_LOG@|$st/$h.console.log|g" -e "s|@CMD_SOCK@|$st/$h.sock|g" \
		"$e2e_dir/templates/$1.xml" >"$st/$h.xml"
	virsh_ define "$st/$h.xml" >/dev/null
}

start_guest guest-2cell cfgrun
define_off guest-2cell cfgoff
start_agent

# Shut-off domain.
before=$(virsh_ dumpxml --inactive "$h")
rc=0
ctl grow "$h" 256M --node 1 --live >/dev/null 2>&1 || rc=$?
expect_eq "exit code of --live on a shut-off domain" "$rc" 1
reply=$(ctl --json grow "$h" 256M --node 1 --config) || fail "--config grow failed: $reply"
alias=$(echo "$reply" | jq -r '.attached[0].alias')
after=$(virsh_ dumpxml --inactive "$h")
expect_eq "state of $h" "$(virsh_ domstate "$h")" "shut off"
echo "$after" | tr -d ' \n' |
	grep -q "<memorymodel='dimm'><target><sizeunit='KiB'>262144</size><node>1</node></target><aliasname='$alias'/>" ||
	fail "the inactive XML has no 256 MiB DIMM $alias on node 1"
mem() { echo "$1" | sed -n "s/.*<memory unit='KiB'>\([0-9]*\)<.*/\1/p"; }
expect_eq "inactive <memory> KiB" "$(mem "$after")" $(($(mem "$before") + 262144))
# Apart from <memory>, <currentMemory> and the new device, nothing changed.
strip() { echo "$1" | sed -e "/<memory model='dimm'>/,/<\/memory>/d" -e '/<memory unit=/d' -e '/<currentMemory unit=/d'; }
[ "$(strip "$before")" = "$(strip "$after")" ] ||
	fail "the inactive XML changed elsewhere: $(strip "$after" | diff /dev/fd/3 - 3<<EOF2 || true
$(strip "$before")
EOF2
)"
log "ok: only the DIMM and the memory total changed in $h's definition"
# Without a scope, a shut-off domain's definition is what changes, and the
# reply says so (not "attached", which would suggest the guest has it).
out=$(ctl grow "$h" 128M --node 0) || fail "default-scope grow of shut-off $h failed: $out"
echo "$out" | grep -q "only the definition changed: the guest gets this memory when the domain next starts" ||
	fail "the reply does not say only the definition changed: $out"
if echo "$out" | grep -q " attached "; then fail "the reply says attached: $out"; fi
log "ok: $out"

# Running domain, --config only.
n1=$("$bed" memtotal "$g" 1)
reply=$(ctl --json grow "$g" 256M --node 1 --config) || fail "--config grow on $g failed: $reply"
alias=$(echo "$reply" | jq -r '.attached[0].alias')
virsh_ dumpxml --inactive "$g" | grep -q "<alias name='$alias'/>" ||
	fail "$alias is not in $g's inactive XML"
if virsh_ dumpxml "$g" | grep -q "<alias name='$alias'/>"; then fail "$alias is in $g's live XML"; fi
sleep 3 # a few guest stat lines
expect_eq "guest node1 MemTotal after --config" "$("$bed" memtotal "$g" 1)" "$n1"
log PASS
