#!/bin/bash
# install suite: the bash completion of memplugctl (etc/memplugctl.bash-completion)
# against the built memplugctl and a live memplugd on libvirt's test driver
# (test:///default holds one domain, "test"), on a private socket.
# Each case: the words typed so far (the last one is being completed) and the
# exact completions expected, sorted, space-separated.
#   MEMPLUGD=... MEMPLUGCTL=... COMPLETION=... tests/install/test-completion.sh
set -u
work=$(mktemp -d)
agent_pid=""
cleanup() {
	[ -z "$agent_pid" ] || kill "$agent_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

: >"$work/memplugd.conf"
"$MEMPLUGD" --foreground --config "$work/memplugd.conf" --socket "$work/s" \
	--connect test:///default --audit-log "$work/audit.jsonl" 2>"$work/log" &
agent_pid=$!
for _ in $(seq 100); do
	"$MEMPLUGCTL" --socket "$work/s" status >/dev/null 2>&1 && break
	sleep 0.1
done
"$MEMPLUGCTL" --socket "$work/s" status >/dev/null || { cat "$work/log"; exit 1; }

# shellcheck source=/dev/null
. "$COMPLETION"
complete -p memplugctl >/dev/null || { echo "no completion registered"; exit 1; }

fails=0 n=0
check() {
	local want=$1 got
	shift
	COMP_WORDS=("$MEMPLUGCTL" "$@")
	COMP_CWORD=$#
	COMPREPLY=()
	_memplugctl
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//')
	n=$((n + 1))
	if [ "$got" != "$want" ]; then
		echo "FAIL: memplugctl $* <TAB>: got '$got', want '$want'"
		fails=$((fails + 1))
	fi
}

s="$work/s"
check "grow help inspect log plan policy prepare resize shrink status" ""
check "grow" gr
check "--connect --help --json --socket" --
check "--host --host-caps --host-sysfs --inactive-xml --json --socket --xml" inspect --
check "--config --dry-run --json --live --no-wait --node --socket" grow --
check "--config --dry-run --json --live --no-wait --node --socket" --socket "$s" shrink test 1G --node 1 --
check "test" --socket "$s" grow ""
check "test" --socket="$s" policy t
check "disable enable set show unset" --socket "$s" policy test ""
check "set show" --socket "$s" policy test s
check "" --socket "$s" grow test ""
check "test" --socket "$s" inspect --host ""
check "test" --socket "$s" grow --node 1 ""
check "test" --socket "$s" plan --strategy even ""
check "even proportional weights:" plan --strategy ""
check "test" --socket "$s" log --domain ""
check "verify" log ""
check "--domain --event --file --follow --json --limit --request --since --socket --until" log --
check "" --socket "$work/none" grow ""
check "$work/memplugd.conf" log verify "$work/memplugd."
echo "$n cases, $fails failed"
[ "$fails" -eq 0 ]
