#!/bin/sh
# /init of the bed's guest (busybox sh). Loads the virtio modules, then every
# second prints on the console (ttyS0) one line the host parses:
#   MEMPLUG-STAT t=<uptime s> node0=<MemTotal kB> ... avail=<MemAvailable kB> end
# and answers commands read from the second serial port (ttyS1, a UNIX socket
# on the host), one line "<id> <command> [arg]" in, one line out:
#   MEMPLUG-REPLY <id> ok|err <details>
# Commands: consume N (hold N MiB in a tmpfs), release, blocks (state, zone
# and node of every memory block), ping.
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /hog
mount -t tmpfs -o size=100% hog /hog

for m in $(cat /modules/order); do
	insmod "/modules/$m.ko" || echo "MEMPLUG-INIT insmod $m failed"
done
# Runtime kernel messages (hotplug, offline failures) go to the console too.
dmesg -n 7

stat_line() {
	line="MEMPLUG-STAT t=$(cut -d' ' -f1 /proc/uptime)"
	for n in /sys/devices/system/node/node[0-9]*; do
		kb=$(awk '/MemTotal/ { print $(NF-1) }' "$n/meminfo")
		line="$line ${n##*/}=$kb"
	done
	echo "$line avail=$(awk '/MemAvailable/ { print $2 }' /proc/meminfo) end"
}

blocks() {
	out=""
	for b in /sys/devices/system/memory/memory[0-9]*; do
		node=$(ls -d "$b"/node[0-9]* 2>/dev/null | head -n 1)
		zone=$(tr ' ' '/' 2>/dev/null <"$b/valid_zones")
		out="$out ${b##*/}=$(cat "$b/state"):${zone:-none}:${node##*/}"
	done
	echo "$out"
}

run_cmd() {
	case "$1" in
	consume)
		rm -f /hog/fill
		if dd if=/dev/zero of=/hog/fill bs=1M count="$2" 2>/dev/null; then
			echo "ok consumed=$2"
		else
			echo "err consume $2 failed"
		fi
		;;
	release) rm -f /hog/fill && echo "ok released" ;;
	blocks) echo "ok$(blocks)" ;;
	ping) echo "ok pong" ;;
	*) echo "err unknown command '$1'" ;;
	esac
}

# The port stays open on fd 3 from before the first stat line on, so a
# command the host sends once the guest has reported is never lost.
serve() {
	exec 3<>/dev/ttyS1
	stty raw -echo <&3
	: >/tmp/serving
	while :; do
		while read -r id cmd arg <&3; do
			[ -n "$id" ] || continue
			echo "MEMPLUG-REPLY $id $(run_cmd "$cmd" "$arg")" >&3
		done
		sleep 1
	done
}

echo "MEMPLUG-INIT up kernel=$(uname -r) cmdline=$(cat /proc/cmdline)"
serve &
i=0
while [ ! -e /tmp/serving ]; do
	i=$((i + 1))
	[ "$i" -le 100 ] || { echo "MEMPLUG-INIT no command port (ttyS1)"; break; }
	sleep 0.1
done
while :; do
	stat_line
	sleep 1
done
