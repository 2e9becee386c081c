#!/bin/sh
# The demo: sets everything up on a fresh Debian 12 machine (as root), boots
# a throwaway 3-node guest on the real libvirtd + QEMU, starts memplugd,
# shows inspect and plan, grows one guest node and shrinks it back while
# showing the guest's own per-node memory, prints the audit log, and tears
# everything down. About two minutes. What the bed's setup changed on this
# machine (tests/e2e/setup-host.sh: hugepage pool, mounts, daemons, qemu.conf
# only if libvirtd could not start a guest) is put back at the end, unless an
# earlier run (scripts/test.sh) had left the bed set up: then it stays so.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)

[ "$(id -u)" -eq 0 ] || { echo "demo.sh: run as root (it starts libvirtd and a guest)" >&2; exit 1; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
# One line per setup step; apt, dpkg and compiler output go to $setup_log.
setup_log=/tmp/memplug-demo-setup.log
: >"$setup_log"
quiet() { # WHAT COMMAND...
	what=$1
	shift
	printf '  %s ... ' "$what"
	if "$@" >>"$setup_log" 2>&1; then
		echo done
	else
		echo "FAILED (last lines of $setup_log:)"
		tail -n 20 "$setup_log" | sed 's/^/    /'
		exit 1
	fi
}

step "Installing packages and building memplug (details in $setup_log)"
quiet "Debian packages (apt-get, only what is missing)" scripts/install-deps.sh
[ -d build ] || quiet "meson setup" meson setup build
quiet "building (ninja)" ninja -C build
bed_state=${BED_STATE:-/var/lib/memplug-e2e}/host.state
restore_bed=1
[ -f "$bed_state" ] && restore_bed=0
quiet "preparing the host (libvirtd, hugepages)" tests/e2e/setup-host.sh

bed="$root/tests/e2e/bed"
guest="bed-demo-$$"
work=$(mktemp -d /tmp/memplug-demo-XXXXXX)
agent_pid=""
cleanup() {
	if [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null; then
		wait "$agent_pid" 2>/dev/null || true
		echo "  stopped memplugd (pid $agent_pid)"
	fi
	if "$bed" teardown "$guest" >/dev/null 2>&1; then
		echo "  destroyed and undefined the guest $guest, removed its files"
	fi
	rm -rf "$work" && echo "  removed $work (socket, audit log, memplugd log)"
	if [ "$restore_bed" -eq 1 ]; then
		"$bed" restore 2>&1 | sed 's/^setup-host: /  /'
	else
		echo "  the bed stays set up as an earlier run left it (tests/e2e/setup-host.sh --changes); undo: tests/e2e/bed restore"
	fi
}
trap cleanup EXIT INT TERM

memplugctl() { "$root/build/cli/memplugctl" --socket "$work/memplugd.sock" "$@"; }
# Why the guest sees less than its cells: MemTotal is what its kernel has
# left after the memory it reserves at boot (its code and data, the page
# structures for every 4 KiB page, firmware and DMA areas).
explain_memtotal() {
	memplugctl --json inspect "$guest" | jq -r '.cells[] | "\(.id) \(.memory_kib)"' |
		while read -r n kib; do
			seen=$("$bed" memtotal "$guest" "$n")
			printf '  node%s: cell %s MiB, guest MemTotal %s MiB: its kernel keeps %s MiB\n' \
				"$n" $((kib / 1024)) $((seen / 1024)) $(((kib - seen) / 1024))
		done
	echo "  The guest kernel reserves that much at boot (its own code and data, a page"
	echo "  structure for every 4 KiB page, firmware and DMA areas); MemTotal counts the"
	echo "  rest. A hot-plugged DIMM raises MemTotal by its whole size, as shown below."
}
guest_nodes() {
	printf 'guest %s sees: ' "$guest"
	for n in 0 1 2; do printf 'node%s=%s MiB  ' "$n" $(($("$bed" memtotal "$guest" "$n") / 1024)); done
	echo
}

step "Booting a throwaway guest: 3 NUMA nodes, node 2 has no CPUs and 2 MiB hugepages"
"$bed" boot guest-3cell "$guest"

step "Starting memplugd"
: >"$work/memplugd.conf"
"$root/build/agent/memplugd" --foreground --config "$work/memplugd.conf" \
	--socket "$work/memplugd.sock" --audit-log "$work/audit.jsonl" 2>"$work/memplugd.log" &
agent_pid=$!
i=0
until memplugctl status >/dev/null 2>&1; do
	i=$((i + 1)); [ "$i" -le 100 ] || { cat "$work/memplugd.log"; exit 1; }; sleep 0.1
done
run memplugctl status

step "What the guest's hotplug space looks like"
run memplugctl inspect "$guest"
echo
run memplugctl plan "$guest"

# Waits until the guest itself reports node $1 at $2 kB.
wait_node() { "$bed" wait-memtotal "$guest" "$1" "$2" 60 >/dev/null; }
n1=$("$bed" memtotal "$guest" 1)
n2=$("$bed" memtotal "$guest" 2)

step "Why the guest sees less than its cell sizes"
explain_memtotal

step "Growing guest node 1 by 512 MiB"
guest_nodes
run memplugctl grow "$guest" 512M --node 1
wait_node 1 $((n1 + 524288))
guest_nodes

step "Growing the hugepage-backed, CPU-less node 2 by 128 MiB (drawn from host node 0's pool)"
echo "host node 0 free 2 MiB hugepages: $("$bed" hugepages-free 0)"
run memplugctl grow "$guest" 128M --node 2
wait_node 2 $((n2 + 131072))
echo "host node 0 free 2 MiB hugepages: $("$bed" hugepages-free 0)"
guest_nodes

step "Requests that cannot be met are refused, and nothing changes"
run memplugctl grow "$guest" 100M || true
run memplugctl grow "$guest" 1G --node 2 || true
run memplugctl shrink "$guest" 256M --node 1 || true

step "Shrinking both nodes back"
run memplugctl shrink "$guest" 128M --node 2
run memplugctl shrink "$guest" 512M --node 1
wait_node 1 "$n1"
wait_node 2 "$n2"
guest_nodes

step "The audit log"
run memplugctl log --domain "$guest"
echo
run memplugctl log verify "$work/audit.jsonl"

step "Tearing down"
cleanup
trap - EXIT INT TERM
