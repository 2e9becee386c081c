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

have_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

# How libvirtd runs here, to start it the same way again.
libvirtd_pid=$(pgrep -x libvirtd | head -n 1) || fail "libvirtd is not running"
libvirtd_cmd=$(tr '\0' ' ' <"/proc/$libvirtd_pid/cmdline")
case " $libvirtd_cmd " in
*" -d "* | *" --daemon "*) ;;
*) have_systemd || fail "libvirtd runs as '$libvirtd_cmd', not daemonized: cannot restart it" ;;
esac

ensure_libvirtd() {
	pgrep -x libvirtd >/dev/null && return 0
	echo "[$test_name] starting libvirtd again: $libvirtd_cmd" >&2
	if have_systemd; then systemctl start libvirtd; else $libvirtd_cmd; fi
}
# Runs before lib.sh tears the guests down, which needs libvirtd.
on_cleanup() {
	st=${rc:-1}
	ensure_libvirtd || st=1
	stop_agent
	[ "$st" -eq 0 ] || { echo "[$test_name] memplugd log:" >&2; tail -n 40 "$agent_dir/memplugd.log" >&2; }
	rm -rf "$agent_dir"
	[ "$st" -eq 0 ]
}

restart_libvirtd() {
	if have_systemd; then
		systemctl restart libvirtd
		return
	fi
	kill "$libvirtd_pid"
	i=0
	while kill -0 "$libvirtd_pid" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -le 150 ] || fail "libvirtd $libvirtd_pid did not stop within 15 s"
		sleep 0.1
	done
	$libvirtd_cmd
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
