#!/bin/sh
# e2e: libvirtd is stopped and started again under a running memplugd.
# Within 15 s of the restart `status --json` shows the connection back, the
# reconnect count raised and the guest still listed; the audit log holds a
# reconnect record; and the agent's events were re-registered: a DIMM
# attached behind its back (virsh) after the restart reaches its view of
# the guest's nodes. libvirtd is left running whatever happens (QEMU guests
# survive a libvirtd restart).
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"

# How libvirtd runs here, to start it the same way again (agent.sh).
libvirtd_note systemd

restart_libvirtd() {
	if have_systemd; then
		systemctl restart libvirtd
		return
	fi
	kill "$libvirtd_pid"
	wait_libvirtd_gone "$libvirtd_pid" || fail "libvirtd $libvirtd_pid did not stop within 15 s"
	start_libvirtd
}

start_guest guest-2cell recon
start_agent
js=$(ctl --json status)
expect_eq "connected before" "$(json_field "$js" connected)" true
r0=$(json_field "$js" reconnects)
nodes0=$(json_nodes "$js" "$g")
[ -n "$nodes0" ] || fail "status does not list $g before the restart"
log "before: reconnects=$r0, $g nodes $nodes0"

restart_libvirtd
t0=$(date +%s%N)
log "libvirtd restarted ($libvirtd_cmd), was pid $libvirtd_pid, now $(pgrep -x libvirtd | tr '\n' ' ')"

while :; do
	js=$(ctl --json status) || fail "memplugd stopped answering after the libvirtd restart"
	r=$(json_field "$js" reconnects)
	[ "$(json_field "$js" connected)" = true ] && [ "$r" -gt "$r0" ] && break
	[ $(($(date +%s%N) - t0)) -lt 15000000000 ] ||
		fail "15 s after the restart: connected=$(json_field "$js" connected) reconnects=$r (was $r0)"
	sleep 0.2
done
log "ok: reconnected $((($(date +%s%N) - t0) / 1000000)) ms after the restart, reconnects $r0 -> $r"
expect_ge "reconnects after the restart" "$r" $((r0 + 1))
expect_eq "$g nodes after the restart" "$(json_nodes "$js" "$g")" "$nodes0"
grep -q '"event":"reconnect"' "$agent_audit" || fail "no reconnect record in the audit log"
log "ok: reconnect record in the audit log"

# Events flow on the new connection: an outside attach reaches the view.
"$bed" attach-dimm "$g" 1 128 ua-recon
want="${nodes0%% *} 1:$((${nodes0##*1:} + 131072))"
i=0
until [ "$(json_nodes "$(ctl --json status)" "$g")" = "$want" ]; do
	i=$((i + 1))
	[ "$i" -le 50 ] || fail "status nodes of $g: '$(json_nodes "$(ctl --json status)" "$g")', want '$want' after an attach"
	sleep 0.2
done
log "ok: $g nodes after an outside attach = $want"
ctl log --domain "$g" --event device_added | grep -q "ua-recon\|memdimm" ||
	fail "no device_added record for the outside attach"
log "ok: device_added audited on the new connection"
log PASS
