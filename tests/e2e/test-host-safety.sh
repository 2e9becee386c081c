#!/bin/sh
# e2e: the bed's setup leaves a working host as it is, and --restore puts
# back what a setup changed.
# 1. On this host (libvirtd already works): setup-host.sh leaves qemu.conf
#    byte for byte (sha256), the hugepage pool, the hugetlbfs mounts, the
#    accounts and the state file as they were.
# 2. A setup asked for a bigger pool grows it and records that; --restore
#    shrinks it back.
# 3. With qemu.conf broken on purpose (security_driver = "selinux" on a host
#    without SELinux), setup changes qemu.conf until libvirtd starts a guest,
#    and --restore puts back the broken file (same sha256). The test then
#    puts back its own copy of the working file and restarts libvirtd.
# Parts 2 and 3 record into their own state folders, so the changes the
# suite's own setup recorded stay.
. "$(dirname "$0")/lib.sh"
setup=$e2e_dir/setup-host.sh
conf=/etc/libvirt/qemu.conf
pool=/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages
[ -f "$pool" ] || pool=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
main_state=${BED_STATE:-/var/lib/memplug-e2e}/host.state
work=$(mktemp -d)
cp -p "$conf" "$work/qemu.conf.working"
conf_hash() { sha256sum "$conf" | cut -d' ' -f1; }
working_hash=$(conf_hash)

# Whatever happens, the suite continues on the working qemu.conf.
on_cleanup() {
	if [ "$(conf_hash)" != "$working_hash" ]; then
		cp -p "$work/qemu.conf.working" "$conf"
		"$setup" --restart-libvirtd || return 1
	fi
	rm -rf "$work"
}

snapshot() {
	echo "qemu.conf $(conf_hash)"
	echo "pool $(cat "$pool")"
	grep hugetlbfs /proc/mounts || true
	getent passwd libvirt-qemu || true
	getent group libvirt-qemu kvm || true
	echo "state $(cat "$main_state" 2>/dev/null | sha256sum)"
}

log "1. setup on a working host"
before=$(snapshot)
"$setup" 2>"$work/setup1.log" || { cat "$work/setup1.log"; fail "setup failed on a working host"; }
after=$(snapshot)
[ "$before" = "$after" ] || fail "setup changed a working host:
$(echo "$before" | diff - "$(echo "$after" >"$work/after" && echo "$work/after")")"
grep -q 'qemu.conf untouched' "$work/setup1.log" || fail "setup did not say qemu.conf stays: $(cat "$work/setup1.log")"
log "qemu.conf sha256 $working_hash before and after; pool, mounts, accounts, state unchanged"

log "2. a bigger pool, then --restore"
pages=$(cat "$pool")
BED_STATE=$work/s2 BED_HUGEPAGES=$((pages + 8)) "$setup" 2>"$work/setup2.log" ||
	{ cat "$work/setup2.log"; fail "setup with a bigger pool failed"; }
[ "$(cat "$pool")" -eq $((pages + 8)) ] || fail "pool is $(cat "$pool"), not $((pages + 8))"
grep -q "^hugepages $pool $pages\$" "$work/s2/host.state" ||
	fail "state does not record the pool: $(cat "$work/s2/host.state")"
BED_STATE=$work/s2 "$setup" --restore 2>"$work/restore2.log" || fail "restore failed: $(cat "$work/restore2.log")"
[ "$(cat "$pool")" -eq "$pages" ] || fail "pool is $(cat "$pool") after restore, not $pages"
[ "$(snapshot)" = "$before" ] || fail "restore left the host different"
log "pool $pages -> $((pages + 8)) -> $(cat "$pool") pages"

log "3. a qemu.conf that cannot start guests, setup, then --restore"
if [ -d /sys/fs/selinux ]; then
	log "SELinux is present: security_driver = \"selinux\" would work; part 3 skipped"
	exit 0
fi
sed -i -E 's/^([[:space:]]*security_driver[[:space:]]*=)/# test-host-safety: \1/' "$conf"
echo 'security_driver = "selinux"' >>"$conf"
broken_hash=$(conf_hash)
"$setup" --restart-libvirtd 2>/dev/null || log "libvirtd does not answer with the broken file"
"$bed" probe 2>/dev/null && fail "the probe starts a guest with security_driver = selinux: nothing to test"
BED_STATE=$work/s3 "$setup" 2>"$work/setup3.log" || { cat "$work/setup3.log"; fail "setup could not repair qemu.conf"; }
sed 's/^/    /' "$work/setup3.log"
grep -q "^qemu_conf $conf\$" "$work/s3/host.state" || fail "state does not record qemu.conf"
[ "$(conf_hash)" != "$broken_hash" ] || fail "setup says it repaired qemu.conf, the file is unchanged"
grep -q '^security_driver = "none" # memplug-e2e$' "$conf" || fail "setup did not set security_driver: $(cat "$conf")"
"$bed" probe || fail "the probe fails after setup"
BED_STATE=$work/s3 "$setup" --restore 2>"$work/restore3.log" || fail "restore failed: $(cat "$work/restore3.log")"
sed 's/^/    /' "$work/restore3.log"
[ "$(conf_hash)" = "$broken_hash" ] || fail "restore did not put back qemu.conf: $(cat "$conf")"
log "qemu.conf sha256 ${broken_hash%"${broken_hash#????????????????}"} before setup and after restore"
cp -p "$work/qemu.conf.working" "$conf"
"$setup" --restart-libvirtd || fail "libvirtd does not come back with the working file"
"$bed" probe || fail "the probe fails with the working file back"
log "ok"
