# Sourced after lib.sh by the metrics tests: a python3 that has
# prometheus_client (Debian: python3-prometheus-client), a free port, and
# metrics_check SOURCE EXPECT... (tests/e2e/metrics-check.py).
metrics_py=""
for p in /usr/bin/python3 python3; do
	if "$p" -c 'import prometheus_client.parser' 2>/dev/null; then
		metrics_py=$p
		break
	fi
done
[ -n "$metrics_py" ] || fail "needs python3-prometheus-client (scripts/install-deps.sh)"

# A TCP port on 127.0.0.1 that the kernel just handed out.
free_port() {
	"$metrics_py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

metrics_check() {
	"$metrics_py" "$e2e_dir/metrics-check.py" "$@"
}

# wait_metrics URL EXPECT...: until the expectations hold, or 10 s.
wait_metrics() {
	i=0
	until metrics_check "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -le 100 ] || { metrics_check "$@"; fail "metrics did not show $* within 10 s"; }
		sleep 0.1
	done
}
