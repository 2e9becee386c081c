# Sourced after lib.sh by the tests that drive memplugd: starts the agent
# built by meson ($MEMPLUGD) on a private socket and audit log, gives `ctl`
# for the matching memplugctl ($MEMPLUGCTL), and stops the agent when the
# test exits. The agent's own log is printed when the test fails.
: "${MEMPLUGD:?run through meson test (MEMPLUGD unset)}"
: "${MEMPLUGCTL:?run through meson test (MEMPLUGCTL unset)}"
agent_dir=$(mktemp -d /tmp/memplug-e2e-XXXXXX)
agent_sock="$agent_dir/memplugd.sock"
agent_audit="$agent_dir/audit.jsonl"
agent_pid=""

libvirtd_cmd=""

on_cleanup() {
	st=${rc:-1} # set by lib.sh (cleanup, or on_signal: 1); 77: skipped
	ok=0
	# Before lib.sh tears the guests down, which needs libvirtd.
	[ -z "$libvirtd_cmd" ] || ensure_libvirtd || ok=1
	stop_agent
	[ "$st" -eq 0 ] || [ "$st" -eq 77 ] ||
		{ echo "[$test_name] memplugd log:" >&2; tail -n 40 "$agent_dir/memplugd.log" >&2; }
	rm -rf "$agent_dir"
	return "$ok"
}

# For the tests that stop or kill libvirtd. libvirtd_note records how it
# runs ($libvirtd_pid, $libvirtd_cmd) so that ensure_libvirtd can start it
# the same way again; from then on the test's cleanup does so whatever
# happened (QEMU guests survive a libvirtd restart). Under systemd only
# with `libvirtd_note systemd` (systemd restarts a killed libvirtd itself).
have_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }
libvirtd_note() {
	libvirtd_pid=$(pgrep -x -o libvirtd) || fail "libvirtd is not running"
	libvirtd_cmd=$(tr '\0' ' ' <"/proc/$libvirtd_pid/cmdline")
	case " $libvirtd_cmd " in
	*" -d "* | *" --daemon "*) ;;
	*) [ "${1:-}" = systemd ] && have_systemd ||
		fail "libvirtd runs as '$libvirtd_cmd', not daemonized: cannot restart it" ;;
	esac
}
# Crash and exec points (agent/crashpoint.c) exist in the test build only.
need_test_build() {
	[ "${MEMPLUG_THREAD_CHECKS:-0}" = 1 ] || { echo "SKIP: exec points need the test build (build-san)"; exit 77; }
}
# For the tests that kill libvirtd at an exec point (agent/crashpoint.c):
# those exist in the test build only, and systemd would restart libvirtd by
# itself. Then notes how libvirtd runs.
need_exec_points() {
	need_test_build
	[ ! -d /run/systemd/system ] || { echo "SKIP: libvirtd under systemd would be restarted by it"; exit 77; }
	libvirtd_note
}
# Milliseconds since $1 (a `date +%s%N`).
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
# Running libvirtd processes (not zombies waiting for their reaper).
libvirtds() {
	for p in $(pgrep -x libvirtd); do
		grep -q '^State:[[:space:]]*Z' "/proc/$p/status" 2>/dev/null || echo "$p"
	done
}
# Starts libvirtd as libvirtd_note saw it, unless one runs (a stopped one,
# e.g. by kill -STOP, is killed first: it would never answer).
ensure_libvirtd() {
	for p in $(libvirtds); do
		grep -q '^State:[[:space:]]*T' "/proc/$p/status" 2>/dev/null || return 0
		echo "[$test_name] libvirtd $p is stopped: killing it" >&2
		kill -9 "$p"
		wait_libvirtd_gone "$p" || return 1
	done
	echo "[$test_name] starting libvirtd again: $libvirtd_cmd" >&2
	if have_systemd; then systemctl start libvirtd; else start_libvirtd; fi
}
# Starts libvirtd as libvirtd_note saw it run, from / and without the test's
# descriptors 3-9 (a libvirtd that kept the e2e lock's descriptor would hold
# the lock for good), as setup-host.sh starts it.
start_libvirtd() {
	(
		cd /
		fd=3
		while [ "$fd" -le 9 ]; do
			eval "exec $fd>&-"
			fd=$((fd + 1))
		done
		# shellcheck disable=SC2086 # the command line as libvirtd_note read it
		exec $libvirtd_cmd
	)
}
# Waits until process $1 is gone or a zombie; 1 if still there after 15 s.
wait_libvirtd_gone() {
	i=0
	while kill -0 "$1" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -le 150 ] || return 1
		sleep 0.1
	done
}

# start_agent [extra memplugd options]: waits until `status` answers and
# lists every guest the test started (the agent reads the domain list on a
# worker after connecting, so the first answer may come before it).
start_agent() {
	[ -n "${AGENT_CONFIG:-}" ] || { AGENT_CONFIG="$agent_dir/memplugd.conf"; : >"$AGENT_CONFIG"; }
	"$MEMPLUGD" --foreground --socket "$agent_sock" --audit-log "$agent_audit" \
		--config "$AGENT_CONFIG" "$@" >>"$agent_dir/memplugd.log" 2>&1 &
	agent_pid=$!
	i=0
	until ctl status >/dev/null 2>&1; do
		i=$((i + 1))
		kill -0 "$agent_pid" 2>/dev/null || fail "memplugd exited: $(tail -n 5 "$agent_dir/memplugd.log")"
		[ "$i" -le 100 ] || fail "memplugd did not answer within 10 s"
		sleep 0.1
	done
	for sg in ${started:-}; do
		i=0
		until ctl status 2>/dev/null | grep -q "^$sg "; do
			i=$((i + 1))
			[ "$i" -le 100 ] || fail "memplugd does not list $sg after 10 s"
			sleep 0.1
		done
	done
	log "memplugd $agent_pid on $agent_sock"
}

stop_agent() {
	[ -n "$agent_pid" ] || return 0
	kill "$agent_pid" 2>/dev/null || true
	wait "$agent_pid" 2>/dev/null || true
	agent_pid=""
}

ctl() {
	"$MEMPLUGCTL" --socket "$agent_sock" "$@"
}

# The guest's total MemTotal over all its nodes, in kB.
guest_total() {
	"$bed" stat "$1" | tr ' ' '\n' | awk -F= '/^node[0-9]+=/ { s += $2 } END { print s }'
}

# Runs a command as uid/gid 65534 with no supplementary groups.
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# The same "ID:KIB ..." from `status --json` for domain $2 (JSON in $1).
json_nodes() {
	echo "$1" | tr -d ' \n' |
		sed -n "s/.*{\"name\":\"$2\",[^]]*\"nodes\":\[\([^]]*\)\].*/\1/p" |
		sed 's/{"id":\([0-9]*\),"kib":\([0-9]*\)}/\1:\2/g; s/,/ /g'
}

# One JSON number or string field at the top level of a reply.
json_field() {
	echo "$1" | sed -n "s/^  \"$2\":\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p"
}

