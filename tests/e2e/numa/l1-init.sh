#!/bin/sh
# /init of the numa bed's host VM (L1), run by busybox from the initramfs:
# loads the modules (order in /modules/order), mounts this machine's root
# read-only over 9p (tag hostroot) under an overlay whose upper layer is a
# tmpfs, so L1 can write anywhere and nothing reaches this machine; then
# runs the stage given by numabed.stage2= in a chroot. Powers off at the end.
export PATH=/bin
port=""
# Each step goes to the console and, once virtio_console is loaded, to the
# result channel as "NUMABED BOOT ...": the harness names the last one when
# L1 stops short of READY.
say() {
	echo "NUMABED-INIT $*"
	[ -z "$port" ] || echo "NUMABED BOOT $(cut -d' ' -f1 /proc/uptime) $*" >"$port"
}
halt_now() { say "$*"; sync; echo o >/proc/sysrq-trigger; sleep 5; }
find_port() {
	for p in /sys/class/virtio-ports/*; do
		[ "$(cat "$p/name" 2>/dev/null)" = numabed ] && [ -c "/dev/${p##*/}" ] && port=/dev/${p##*/}
	done
	[ -n "$port" ]
}

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do
	insmod "/modules/$m.ko" || say "insmod $m failed"
done
i=0
until find_port; do
	i=$((i + 1))
	[ "$i" -le 50 ] || break
	sleep 0.1
done
say "modules loaded (result channel ${port:-missing})"
stage2="" run=""
for a in $(cat /proc/cmdline); do
	case "$a" in
	numabed.stage2=*) stage2=${a#*=} ;;
	numabed.run=*) run=${a#*=} ;;
	esac
done
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose hostroot /lower ||
	halt_now "9p mount of hostroot failed"
mount -t tmpfs -o mode=755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
	halt_now "overlay mount failed"
mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mount -t devtmpfs dev /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
# Fresh scratch folders, except one that holds the checkout (a clone in
# /tmp, say): a tmpfs there would hide the stage and the build. The overlay
# keeps such a folder writable without reaching this machine.
for d in /run /tmp /dev/shm; do
	case "$stage2" in
	"$d"/*) say "keeping $d from the root: the checkout is there" ;;
	*) mount -t tmpfs -o mode=1777 tmpfs "/newroot$d" ;;
	esac
done
say "root mounted; stage2 $stage2"
[ -n "$stage2" ] || halt_now "no numabed.stage2= on the command line"
[ -f "/newroot$stage2" ] || halt_now "stage2 $stage2 is not in the 9p root"
[ -f "/newroot$run" ] || halt_now "run file $run is not in the 9p root"
chroot /newroot /bin/sh "$stage2" "$run"
halt_now "stage2 exited with $?"
