#!/bin/sh
# e2e: drift between the running guest and its persistent definition. A grow
# through memplugd changes both: no drift. Then, behind the agent's back,
# `virsh detach-device-alias --live` takes that DIMM out of the running guest
# only, and `virsh attach-device --live` plugs another into it only: status
# and inspect (text and --json) show each of them, on the side it is on,
# with its alias, node and size, and the guest itself agrees (its node
# MemTotal). Last, the policy's min and max are checked against the domain
# (boot memory 512 MiB, maxMemory 8 GiB) and `policy unset` removes a
# run-time value from the domain's <metadata>.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"

virsh_q() { virsh -q -c qemu:///system "$@"; }

start_guest guest-2cell drift
start_agent

# in_sync and the sides' aliases from `inspect --json`, on one line.
drift_json() {
	ctl --json inspect "$g" | tr -d ' \n' | sed -n 's/.*"drift":\({.*}\)}$/\1/p'
}

n0=$("$bed" memtotal "$g" 0)
n1=$("$bed" memtotal "$g" 1)
ctl grow "$g" 256M --node 1 || fail "grow failed"
"$bed" wait-memtotal "$g" 1 $((n1 + 262144)) 90
alias=$(virsh_q dumpxml "$g" | sed -n "s/.*<alias name='\(ua-mp-[^']*\)'.*/\1/p" | head -n 1)
[ -n "$alias" ] || fail "no memplug DIMM in the live XML of $g"
virsh_q dumpxml --inactive "$g" | grep -q "$alias" || fail "$alias is not in the definition"
d=$(drift_json)
echo "$d" | grep -q '"in_sync":true' || fail "drift after memplug's own grow: $d"
ctl status | awk -v g="$g" '$1 == g { print $NF }' | grep -qx none ||
	fail "status does not show 'none' in DRIFT for $g: $(ctl status)"
log "ok: a grow through memplugd leaves no drift ($alias in both definitions)"

# Behind the agent's back: out of the running guest only.
virsh_q detach-device-alias "$g" "$alias" --live || fail "virsh detach-device-alias failed"
wait_alias "$g" "$alias" gone 60
"$bed" wait-memtotal "$g" 1 "$n1" 90
virsh_q dumpxml --inactive "$g" | grep -q "$alias" || fail "$alias left the definition too"
d=$(drift_json)
echo "$d" | grep -q '"in_sync":false' || fail "no drift after the live detach: $d"
echo "$d" | grep -q "\"only_config\":\[{\"model\":\"dimm\",\"alias\":\"$alias\",\"node\":1,\"size_kib\":262144," ||
	fail "inspect --json does not list $alias as only in the definition: $d"
echo "$d" | grep -q '"only_live":\[\]' || fail "inspect --json lists a live-only device: $d"
txt=$(ctl inspect "$g")
echo "$txt" | grep -qF "only in the definition (back at the next start): dimm 256 MiB on guest node 1 as $alias" ||
	fail "text inspect does not show $alias: $txt"
txt=$(ctl status)
echo "$txt" | awk -v g="$g" '$1 == g { print $NF }' | grep -qx yes || fail "DRIFT is not yes: $txt"
echo "$txt" | grep -q "^Drift in $g: " || fail "status does not say what drifted in $g: $txt"
echo "$txt" | grep -qF "dimm 256 MiB on guest node 1 as $alias" || fail "status lacks $alias: $txt"
log "ok: virsh detach-device-alias --live shows as $alias only in the definition"

# Behind the agent's back: into the running guest only; libvirt names it.
cat >"$agent_dir/dimm.xml" <<EOF
<memory model='dimm'><target><size unit='MiB'>128</size><node>0</node></target></memory>
EOF
virsh_q attach-device "$g" "$agent_dir/dimm.xml" --live || fail "virsh attach-device --live failed"
"$bed" wait-memtotal "$g" 0 $((n0 + 131072)) 90
live=$(virsh_q dumpxml "$g" | sed -n "s/.*<alias name='\(dimm[0-9]*\)'.*/\1/p" | head -n 1)
[ -n "$live" ] || fail "libvirt gave the live DIMM no dimmN alias"
d=$(drift_json)
echo "$d" | grep -q "\"only_live\":\[{\"model\":\"dimm\",\"alias\":\"$live\",\"node\":0,\"size_kib\":131072," ||
	fail "inspect --json does not list $live as only in the guest: $d"
echo "$d" | grep -q "\"only_config\":\[{\"model\":\"dimm\",\"alias\":\"$alias\"" ||
	fail "the definition-only DIMM is gone from the drift: $d"
st=$(ctl --json status | tr -d ' \n')
echo "$st" | grep -q "\"only_live\":\[{\"model\":\"dimm\",\"alias\":\"$live\"" ||
	fail "status --json does not list $live: $st"
ctl status | grep -qF "only in the running guest (gone when it stops): dimm 128 MiB on guest node 0 as $live" ||
	fail "text status does not show $live: $(ctl status)"
log "ok: virsh attach-device --live shows as $live only in the running guest"

# The policy's bounds are the domain's: boot 512 MiB, maxMemory 8 GiB.
st=0
out=$(ctl policy "$g" set max=16G 2>&1) || st=$?
expect_eq "policy set max=16G: exit" "$st" 2
echo "$out" | grep -qF "max 16G is above the maxMemory of $g (8G)" || fail "the refusal said: $out"
echo "$out" | grep -qF "set max between 512M and 8G" || fail "the refusal gives no range: $out"
st=0
out=$(ctl policy "$g" set min=256M 2>&1) || st=$?
expect_eq "policy set min=256M: exit" "$st" 2
echo "$out" | grep -qF "min 256M is below the boot memory of $g (512M)" || fail "the refusal said: $out"
ctl policy "$g" set max=8G min=1G >/dev/null || fail "policy set max=8G min=1G refused"
virsh_q metadata "$g" https://memplug.example/policy/1 | grep -q 'max="8G"' ||
	fail "max is not in the domain's <metadata>"
ctl policy "$g" unset max | grep -E '^max +maxMemory +default' >/dev/null ||
	fail "policy unset max does not show max back at its default: $(ctl policy "$g" show)"
meta=$(virsh_q metadata "$g" https://memplug.example/policy/1)
echo "$meta" | grep -q 'max=' && fail "max is still in the <metadata>: $meta"
echo "$meta" | grep -q 'min="1G"' || fail "unset max took min too: $meta"
st=0
out=$(ctl policy "$g" unset max 2>&1) || st=$?
expect_eq "policy unset max twice: exit" "$st" 2
echo "$out" | grep -qF "no run-time value of max" || fail "the second unset said: $out"
log PASS
