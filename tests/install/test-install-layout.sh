#!/bin/sh
# install suite: `meson install --destdir` of this build puts exactly the
# expected files at the configured places: memplugd and memplugctl (they
# run), the systemd unit with ExecStart at the installed memplugd and
# --config at the installed memplugd.conf, memplugd.conf (the one in etc/),
# the three man pages, the bash completion and the Grafana dashboard. Where systemd-analyze exists,
# the installed unit passes `systemd-analyze verify` under the destdir.
# Environment (from tests/install/meson.build): BUILD_DIR, SOURCE_DIR, PREFIX,
# SBINDIR, SYSCONFDIR, MANDIR, UNITDIR, COMPLETIONSDIR, DASHBOARDDIR.
set -u
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

meson install -C "$BUILD_DIR" --destdir "$dest" --no-rebuild --quiet ||
	{ echo "FAIL: meson install --destdir"; exit 1; }

unit=$UNITDIR/memplugd.service
conf=$SYSCONFDIR/memplug/memplugd.conf
want=$(printf '%s\n' "$SBINDIR/memplugd" "$SBINDIR/memplugctl" "$unit" "$conf" \
	"$MANDIR/man8/memplugd.8" "$MANDIR/man8/memplugctl.8" "$MANDIR/man5/memplugd.conf.5" \
	"$COMPLETIONSDIR/memplugctl" "$DASHBOARDDIR/grafana-memplug.json" | sort)
got=$(cd "$dest" && find . -type f -o -type l | sed 's|^\.||' | sort)
[ "$got" = "$want" ] || fail "installed files differ from the expected set:
$(printf '%s\n' "$want" | diff - "$(printf '%s\n' "$got" >"$dest.got" && echo "$dest.got")")"
rm -f "$dest.got"

for b in memplugd memplugctl; do
	[ -x "$dest$SBINDIR/$b" ] || fail "$SBINDIR/$b is not executable"
done
"$dest$SBINDIR/memplugd" --version >/dev/null 2>&1 || fail "installed memplugd --version fails"
"$dest$SBINDIR/memplugctl" help | grep -q '^  memplugctl grow ' || fail "installed memplugctl help lists no grow"

exec_start=$(sed -n 's/^ExecStart=//p' "$dest$unit" 2>/dev/null)
[ "$exec_start" = "$SBINDIR/memplugd --foreground --config $conf" ] ||
	fail "unit ExecStart is '$exec_start'"
grep -q '@' "$dest$unit" 2>/dev/null && fail "unit keeps an unreplaced @...@: $(grep '@' "$dest$unit")"
cmp -s "$dest$conf" "$SOURCE_DIR/etc/memplugd.conf" || fail "$conf is not etc/memplugd.conf"
for m in man8/memplugd.8 man8/memplugctl.8 man5/memplugd.conf.5; do
	grep -q '^\.TH ' "$dest$MANDIR/$m" 2>/dev/null || fail "$MANDIR/$m has no .TH header"
done
cmp -s "$dest$DASHBOARDDIR/grafana-memplug.json" "$SOURCE_DIR/etc/grafana-memplug.json" ||
	fail "$DASHBOARDDIR/grafana-memplug.json is not etc/grafana-memplug.json"
grep -q '^complete -F _memplugctl memplugctl' "$dest$COMPLETIONSDIR/memplugctl" 2>/dev/null ||
	fail "$COMPLETIONSDIR/memplugctl registers no completion"

# verify checks that ExecStart's program exists on this machine, so the
# copy it reads names the memplugd under the destdir; the rest is the unit as
# installed. (With --root it would look for systemd's own units there too.)
if command -v systemd-analyze >/dev/null; then
	mkdir "$dest.unit"
	sed "s|^ExecStart=$SBINDIR/|ExecStart=$dest$SBINDIR/|" "$dest$unit" >"$dest.unit/memplugd.service"
	out=$(systemd-analyze verify --man=no "$dest.unit/memplugd.service" 2>&1) ||
		fail "systemd-analyze verify: $out"
	[ -z "$out" ] || fail "systemd-analyze verify warns: $out"
	rm -rf "$dest.unit"
else
	echo "systemd-analyze not found: unit not verified"
fi
[ "$fails" -eq 0 ] && echo "install layout under $PREFIX: ok"
[ "$fails" -eq 0 ]
