#!/bin/sh
# Replays a corpus, then runs a fixed number of new inputs from seed 1:
# the same inputs on every run, so a failure here is a real regression.
#   run.sh FUZZER CORPUS_DIR RUNS [DICT]
# New inputs the run finds go to a scratch directory, never the corpus.
set -eu
fuzzer=$1 corpus=$2 runs=$3 dict=${4:-}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir "$scratch/new"
status=0
"$fuzzer" -seed=1 -runs="$runs" -max_len=65536 -timeout=10 -rss_limit_mb=1024 \
	${dict:+-dict="$dict"} -print_final_stats=1 "$scratch/new" "$corpus" >"$scratch/log" 2>&1 || status=$?
# Progress lines are noise; the stats, and a crash report, are not.
grep -v '^#[0-9]' "$scratch/log" | tail -n 60
exit "$status"
