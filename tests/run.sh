#!/bin/sh
# run.sh [unit|e2e|FILE...] - runs the unit-test programs and the end-to-end
# scripts, prints their PASS/FAIL lines, and ends with "N passed, N failed".
# Exits non-zero when anything failed. KINDLING_BIN picks the binary under
# test (default: the ASan+UBSan build).
cd "$(dirname "$0")/.." || exit 2
export KINDLING_BIN="${KINDLING_BIN:-build/asan/kindling}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
logs=$(mktemp -d /tmp/kindling-tests.XXXXXX)
passed=0
failed=0

# run_one NAME COMMAND... - runs one program, counts its PASS/FAIL lines.
run_one() {
	name=$1
	shift
	log="$logs/$(echo "$name" | tr '/' '_').log"
	start=$(date +%s)
	"$@" >"$log" 2>&1
	rc=$?
	p=$(grep -c '^PASS ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	grep -E '^(PASS|FAIL) ' "$log"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $name: exited $rc without a FAIL line"
		f=$((f + 1))
	fi
	if [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $name: ran no test"
		f=$((f + 1))
	fi
	if [ "$f" -ne 0 ]; then
		echo "---- output of $name (last 60 lines; full log $log) ----"
		grep -vE '^(PASS|FAIL) ' "$log" | tail -60
		echo "----"
	fi
	echo "# $name: $p passed, $f failed, $(( $(date +%s) - start ))s"
	passed=$((passed + p))
	failed=$((failed + f))
}

what=${1:-all}
if [ "$what" = all ] || [ "$what" = unit ]; then
	for t in build/asan/tests/test_*; do
		[ -x "$t" ] && run_one "$t" "$t"
	done
	for t in tests/unit/*.sh; do
		[ -f "$t" ] && run_one "$t" sh "$t"
	done
fi
if [ "$what" = all ] || [ "$what" = e2e ]; then
	for t in tests/e2e/test_*.sh; do
		[ -f "$t" ] && run_one "$t" bash "$t"
	done
fi
if [ "$what" != all ] && [ "$what" != unit ] && [ "$what" != e2e ]; then
	for t in "$@"; do
		case "$t" in
		*.sh) run_one "$t" bash "$t" ;;
		*) run_one "$t" "$t" ;;
		esac
	done
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && rm -rf "$logs"
[ "$failed" -eq 0 ]
