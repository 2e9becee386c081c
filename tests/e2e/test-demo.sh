#!/bin/sh
# e2e: scripts/demo.sh as a newcomer sees it: it succeeds; setup prints one
# line per step (apt, dpkg and build output go to its log file); it explains
# why the guest sees less than its cells; the audit lines are short, with
# sizes in units; and it says what the teardown removed.
. "$(dirname "$0")/lib.sh"
root=$(cd "$e2e_dir/../.." && pwd)
out=/tmp/memplug-test-demo-$$.out # kept when the test fails

rc=0
"$root/scripts/demo.sh" >"$out" 2>&1 || rc=$?
sed 's/^/    /' "$out"
expect_eq "demo exit status" "$rc" 0

# Noise that belongs in the setup log, never on screen.
if grep -nE "Reading package lists|^(Get|Hit):[0-9]|Setting up |Unpacking |Selecting previously|^\[[0-9]+/[0-9]+\] |The Meson build system|ninja: " "$out"; then
	fail "apt, dpkg or build output on screen"
fi
[ -f /tmp/memplug-demo-setup.log ] || fail "no setup log"
for step in "Debian packages" "building (ninja)" "preparing the host"; do
	grep -q "^  $step.* \.\.\. done$" "$out" || fail "no one-line setup step '$step'"
done
log "ok: setup is one line per step"

for n in 0 1 2; do
	grep -qE "^  node$n: cell [0-9]+ MiB, guest MemTotal [0-9]+ MiB: its kernel keeps [0-9]+ MiB$" "$out" ||
		fail "node $n: no cell size vs MemTotal line"
done
grep -q "reserves that much at boot" "$out" || fail "the reservation is not explained"
log "ok: the cell size vs MemTotal gap is explained"

# The audit lines: sizes in units, no raw *_kib fields, short.
audit=$(grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T.* #[0-9]+ ' "$out") || fail "no audit lines"
if echo "$audit" | grep -E '_kib=|before=[0-9]+:[0-9]+[,( ]|before=[0-9]+:[0-9]+$'; then
	fail "audit lines with raw KiB"
fi
echo "$audit" | grep -qE ' size=[0-9]+(MiB|GiB)' || fail "no size in units in the audit lines"
# a refusal's own sentence (error=...) is as long as it needs to be
long=$(echo "$audit" | awk '{ sub(/ error=.*/, "") } length > 240' | wc -l)
expect_eq "audit lines longer than 240 characters (without error=...)" "$long" 0
log "ok: $(echo "$audit" | wc -l) audit lines, sizes in units"

grep -q "^  stopped memplugd (pid [0-9]*)$" "$out" || fail "the teardown does not say it stopped memplugd"
grep -q "^  destroyed and undefined the guest bed-demo-" "$out" ||
	fail "the teardown does not name the guest"
grep -q "^  removed /tmp/memplug-demo-" "$out" || fail "the teardown does not name its work dir"
log "ok: the teardown is printed"
rm -f "$out"
log PASS
