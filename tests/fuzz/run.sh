#!/bin/sh
# run.sh [TARGET...] - runs each libFuzzer target (default: the Makefile's FUZZ_TARGETS) (build/fuzz/fuzz_TARGET, made
# by `make fuzz-build`) for FUZZ_SECONDS (default 60) on its committed seeds
# (tests/fuzz/TARGET/corpus, never written to) plus its working corpus
# (build/fuzz/corpus/TARGET, kept between runs), and prints one line per
# target: executions, executions/s, coverage, corpus size, crashes. A crash,
# leak, timeout or out-of-memory fails the run; the input that did it is
# saved as build/fuzz/artifacts/TARGET-crash-* (replay: build/fuzz/fuzz_TARGET FILE).
# FUZZ_JOBS=N runs N targets at once. Extra libFuzzer flags: FUZZ_FLAGS.
cd "$(dirname "$0")/../.." || exit 2
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-1}
export KINDLING_FUZZ_ROOT="$PWD"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# KINDLING_FUZZ_SKIP_KNOWN=1: the targets skip checks of reported bugs, and
# reported leaks are suppressed (tests/fuzz/known-leaks.supp)
case ${KINDLING_FUZZ_SKIP_KNOWN:-0} in
0 | "") ;;
*) export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$PWD/tests/fuzz/known-leaks.supp" ;;
esac
# no TARGET: the Makefile's FUZZ_TARGETS (what make fuzz-build builds)
targets=${*:-$(env -u MAKEFLAGS -u MFLAGS make -s --no-print-directory print-fuzz-targets)}
mkdir -p build/fuzz/logs build/fuzz/artifacts

# max input length per target (bytes)
max_len() {
	case $1 in
	subst) echo 8192 ;;
	accept) echo 1024 ;;
	cluster) echo 16384 ;;
	discovery) echo 4096 ;;
	http) echo 8192 ;;
	grpc) echo 4096 ;;
	report) echo 8192 ;;
	*) echo 4096 ;;
	esac
}

run_one() {
	t=$1
	bin=build/fuzz/fuzz_$t
	log=build/fuzz/logs/$t.log
	if [ ! -x "$bin" ]; then
		echo "FAIL fuzz_$t: $bin is missing (make fuzz-build)"
		return 1
	fi
	mkdir -p "build/fuzz/corpus/$t"
	dict=""
	[ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -timeout=10 \
		-rss_limit_mb=2048 -max_len="$(max_len "$t")" $dict \
		-artifact_prefix="build/fuzz/artifacts/$t-" $FUZZ_FLAGS \
		"build/fuzz/corpus/$t" "tests/fuzz/$t/corpus" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	last=$(grep -E '^#[0-9]+' "$log" | tail -1)
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
	crashes=$(grep -ac 'Test unit written to' "$log")
	line="$t: ${execs:-0} executions in ${FUZZ_SECONDS}s (${rate:-0}/s), cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, crashes $crashes"
	if [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ]; then
		echo "PASS fuzz_$line"
	else
		echo "FAIL fuzz_$line (exit $rc; log $log)"
		grep -aE 'ERROR|SUMMARY|^fuzz_[a-z]*:|^problem|^an accepted|Test unit written|^    #[0-9] ' "$log" | head -20
		return 1
	fi
}

failed=0
if [ "$FUZZ_JOBS" -gt 1 ]; then
	out=$(mktemp -d)
	i=0
	for t in $targets; do
		(run_one "$t" >"$out/$t" 2>&1; echo $? >"$out/$t.rc") &
		i=$((i + 1))
		if [ $((i % FUZZ_JOBS)) -eq 0 ]; then wait; fi
	done
	wait
	for t in $targets; do
		cat "$out/$t"
		[ "$(cat "$out/$t.rc")" = 0 ] || failed=$((failed + 1))
	done
	rm -rf "$out"
else
	for t in $targets; do
		run_one "$t" || failed=$((failed + 1))
	done
fi
echo "fuzz: $(echo "$targets" | wc -w) targets, $failed failed"
[ "$failed" -eq 0 ]
