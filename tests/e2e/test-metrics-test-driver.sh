#!/bin/sh
# e2e (issue 15, metrics): memplugd --metrics-listen on libvirt's test
# driver, in-process (no libvirtd, no guest). The page parses with
# Prometheus's own parser (python3-prometheus-client) and shows the
# domain, the host the policy tick read, a refused client and a failed
# grow; a broken page fails the same check; bad addresses are refused
# before the agent starts; a reload that changes metrics_listen says a
# restart is needed and the endpoint stays where it was; every family the
# Grafana dashboard (etc/grafana-memplug.json) queries is served.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"
. "$e2e_dir/metrics.sh"

# Refused at once, with the reason, from the command line and the file.
st=0
out=$("$MEMPLUGD" --foreground --metrics-listen localhost:9464 2>&1) || st=$?
expect_eq "exit status for a host name" "$st" 2
echo "$out" | grep -q "not a numeric IPv4 address" || fail "no reason given: $out"
printf '[memplugd]\nmetrics_listen = ::1:9464\n' >"$agent_dir/bad.conf"
st=0
out=$("$MEMPLUGD" --foreground --config "$agent_dir/bad.conf" 2>&1) || st=$?
[ "$st" -ne 0 ] || fail "memplugd started with metrics_listen = ::1:9464"
echo "$out" | grep -q "metrics_listen.*brackets" || fail "no reason given: $out"

# The checker itself fails on a page Prometheus cannot read.
printf '# TYPE x counter\nx{a="b} 1\n' >"$agent_dir/broken.txt"
if metrics_check "$agent_dir/broken.txt" >/dev/null 2>&1; then
	fail "metrics-check accepted a broken page"
fi

port=$(free_port)
url="http://127.0.0.1:$port/metrics"
AGENT_CONFIG="$agent_dir/memplugd.conf"
conf() { printf '[memplugd]\nsocket_mode = 0666\npolicy_interval = 200ms\nmetrics_listen = %s\n' "$1"; }
conf "127.0.0.1:$port" >"$AGENT_CONFIG" # the file's key here, the option in test-agent-metrics
start_agent --connect test:///default
chmod 0711 "$agent_dir" # uid 65534 must reach the socket inside
grep -q "metrics: serving http://127.0.0.1:$port/metrics (no authentication" \
	"$agent_dir/memplugd.log" || fail "no serving line in the log"

# A non-administrator's change is refused; a grow fails (the test driver
# cannot attach); both are counted.
nobody "$MEMPLUGCTL" --socket "$agent_sock" grow test 128M >/dev/null 2>&1 &&
	fail "uid 65534 could grow"
ctl grow test 128M >/dev/null 2>&1 && fail "a grow worked on the test driver"

wait_metrics "$url" 'memplug_host_sample_timestamp_seconds' \
	'memplug_operation_duration_seconds_count{kind=grow}=1'
metrics_check "$url" \
	"memplug_build_info{version=$("$MEMPLUGD" --version | cut -d' ' -f2)}=1" \
	'memplug_libvirt_connected=1' \
	'memplug_libvirt_reconnects_total=0' \
	'memplug_domains=1' \
	'memplug_domain_active{domain=test}=1' \
	'memplug_host_memory_total_bytes{node=0}>=1' \
	'memplug_host_memory_free_bytes{node=1}>=1' \
	'memplug_host_hugepages_total{node=1,page_size=2048kB}>=0' \
	'memplug_control_refused_total{reason=unauthorized}=1' \
	'memplug_control_refused_total{reason=busy}=0' \
	'memplug_operations_total{kind=shrink,result=ok}=0' \
	'memplug_operation_duration_seconds_bucket{kind=grow,le=+Inf}=1' \
	'memplug_policy_decisions_total{action=grow}=0' \
	'memplug_audit_write_errors_total=0' ||
	fail "the page lacks a series"
ok=$(metrics_check "$url" 'memplug_operations_total{kind=grow,result=ok}=0' 2>&1) ||
	fail "a grow on the test driver counted as ok: $ok"

# Only /metrics; GET and HEAD only.
code=$("$metrics_py" -c "import urllib.request, urllib.error, sys
try: urllib.request.urlopen('http://127.0.0.1:$port/', timeout=5)
except urllib.error.HTTPError as e: print(e.code)")
expect_eq "status of /" "$code" 404

# Every family the Grafana dashboard queries is served.
"$metrics_py" -c "import sys, urllib.request
sys.stdout.write(urllib.request.urlopen('$url', timeout=5).read().decode())" >"$agent_dir/page.txt"
names=$("$metrics_py" "$e2e_dir/../check-dashboard.py" "$e2e_dir/../../etc/grafana-memplug.json" --names)
[ -n "$names" ] || fail "no series names from the dashboard"
for n in $names; do
	grep -q "^# TYPE $n " "$agent_dir/page.txt" || fail "the dashboard queries $n; the agent has no such family"
done
log "the dashboard's $(echo "$names" | wc -l) families are all served"

# A reload that moves the endpoint: restart needed, old address kept.
conf "127.0.0.1:$(free_port)" >"$AGENT_CONFIG"
kill -HUP "$agent_pid"
i=0
until grep -q "configuration reloaded" "$agent_dir/memplugd.log"; do
	i=$((i + 1))
	[ "$i" -le 50 ] || fail "no reload within 5 s"
	sleep 0.1
done
grep -q "reload: metrics_listen changed; it takes effect when memplugd restarts" \
	"$agent_dir/memplugd.log" || fail "the reload did not say a restart is needed"
metrics_check "$url" 'memplug_libvirt_connected=1' >/dev/null || fail "the endpoint moved"
log ok
