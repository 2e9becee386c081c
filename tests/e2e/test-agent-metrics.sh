#!/bin/sh
# e2e (issue 15, metrics): memplugd --metrics-listen on the real bed. After
# `grow 256M --node 1` a scrape shows that domain's DIMM on guest node 1
# (its size, one device), the grow counted as ok with its latency, and the
# host's nodes as the policy tick read them; the page parses with
# Prometheus's own parser.
. "$(dirname "$0")/lib.sh"
. "$e2e_dir/agent.sh"
. "$e2e_dir/metrics.sh"

start_guest guest-3cell metrics
port=$(free_port)
url="http://127.0.0.1:$port/metrics"
start_agent --metrics-listen "127.0.0.1:$port"
wait_metrics "$url" "memplug_domain_active{domain=$g}=1" 'memplug_host_sample_timestamp_seconds'
metrics_check "$url" "memplug_domain_plugged_bytes{domain=$g,guest_node=1,model=dimm}=0" ||
	fail "the guest has a DIMM before the grow"

ctl grow "$g" 256M --node 1 || fail "grow failed"
metrics_check "$url" \
	"memplug_domain_plugged_bytes{domain=$g,guest_node=1,model=dimm}=268435456" \
	"memplug_domain_plugged_bytes{domain=$g,guest_node=0,model=dimm}=0" \
	"memplug_domain_memory_devices{domain=$g,guest_node=1,model=dimm}=1" \
	"memplug_domain_boot_memory_bytes{domain=$g,guest_node=1}>=1" \
	'memplug_operations_total{kind=grow,result=ok}=1' \
	'memplug_operation_duration_seconds_count{kind=grow}=1' \
	'memplug_libvirt_connected=1' \
	'memplug_host_memory_total_bytes{node=0}>=1' \
	'memplug_host_memory_free_bytes{node=0}>=1' \
	'memplug_host_hugepages_free{node=0,page_size=2048kB}>=0' ||
	fail "the scrape after the grow lacks the domain's series"
# The latency is the agent's own figure: under a minute, above nothing.
metrics_check "$url" 'memplug_operation_duration_seconds_bucket{kind=grow,le=60}=1' \
	'memplug_operation_duration_seconds_sum{kind=grow}>=0.001' || fail "latency not recorded"
log PASS
