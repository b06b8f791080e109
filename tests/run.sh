#!/bin/sh
# run.sh [unit|e2e|e2e-pg|FILE|pg:FILE...] - runs the unit-test programs and
# the end-to-end scripts, then the scripts that touch storage (PG_E2E) once
# more on PostgreSQL (KINDLING_TEST_DB=pg; pg:FILE runs one that way), prints
# their PASS/FAIL/SKIP lines, and ends with "N passed, N failed, N skipped"
# and the same per backend. Exits non-zero when anything failed.
# KINDLING_BIN picks the binary under test (default: the ASan+UBSan build).
# One throw-away PostgreSQL (tests/pg.sh) serves the whole run, each test on
# databases of its own; KINDLING_TEST_PG_URL set beforehand names another.
#
# Rules for every program it runs (see README, "Tests"):
#  - a time limit: TEST_TIMEOUT seconds (default 600), or the script's own
#    "# timeout: N" line (a unit program: "timeout: N" in its .c file). Past
#    it the program's process group gets SIGTERM, 30 s later SIGKILL, and
#    that is a FAIL;
#  - it must print its end line ("# end NAME: ..." from tests/report.sh or
#    tests/unit/test.h): a program that ends without one (killed, crashed,
#    exited past its trap) FAILs;
#  - a script declares its plan (tests/report.sh: plan N) and runs exactly N
#    checks; report.sh FAILs "no plan" or "planned N checks, ran M";
#  - a sanitizer report anywhere in its output FAILs, unless one of its own
#    FAIL lines names it (kindling logs are scanned by the scripts
#    themselves, tests/e2e/lib.sh);
#  - a non-zero exit without a FAIL line, or no check at all, FAILs.
# A SKIP line counts one skipped check, or N when it ends "[N checks]".
cd "$(dirname "$0")/.." || exit 2
export KINDLING_BIN="${KINDLING_BIN:-build/asan/kindling}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
TEST_TIMEOUT=${TEST_TIMEOUT:-600}
logs=$(mktemp -d /tmp/kindling-tests.XXXXXX)
passed=0
failed=0
skipped=0
pg_passed=0
pg_failed=0
pg_skipped=0
# The end-to-end scripts that touch storage: run again on PostgreSQL.
# (about 3 minutes more on 2 cores)
PG_E2E=${PG_E2E:-"tests/e2e/test_clusters.sh tests/e2e/test_discovery.sh tests/e2e/test_vars.sh
	tests/e2e/test_member_states.sh
	tests/e2e/test_security.sh tests/e2e/test_storage.sh tests/e2e/test_crash.sh
	tests/e2e/test_ignition.sh tests/e2e/test_pages.sh tests/e2e/test_upstream.sh
	tests/e2e/test_badinput.sh tests/e2e/test_grpc.sh tests/e2e/test_grpc_join.sh
	tests/e2e/test_discovery_etcd.sh tests/e2e/test_reports.sh tests/e2e/test_replicas.sh
	tests/e2e/test_generations.sh tests/e2e/test_replicas_storm.sh tests/e2e/test_scenario.sh"}
SANITIZER_RE='ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|SUMMARY: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|\.[ch]:[0-9]+:[0-9]+: runtime error: '

# time_limit SOURCE - the "timeout: N" a source file declares in its first 40
# lines, else TEST_TIMEOUT.
time_limit() {
	l=$(head -40 "$1" 2>/dev/null | sed -n 's/^.*[#*] timeout: \([0-9][0-9]*\).*/\1/p' | head -1)
	echo "${l:-$TEST_TIMEOUT}"
}

# run_one NAME SOURCE COMMAND... - runs one program under its time limit,
# counts its PASS/FAIL/SKIP lines.
run_one() {
	name=$1
	src=$2
	shift 2
	log="$logs/$(echo "$name" | tr '/' '_').log"
	limit=$(time_limit "$src")
	start=$(date +%s)
	# timeout(1) puts the program in a process group of its own and signals
	# the whole group; stdin is not the terminal's (a background group).
	timeout -k 30 "$limit" "$@" >"$log" 2>&1 </dev/null
	rc=$?
	touch "$log"
	p=$(grep -c '^PASS ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	s=$(awk '/^SKIP / { n += match($0, /\[[0-9]+ checks\]$/) ? substr($0, RSTART + 1, RLENGTH - 9) : 1 } END { print n + 0 }' "$log")
	grep -E '^(PASS|FAIL|SKIP) ' "$log"
	extra=""
	took=$(($(date +%s) - start))
	if { [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; } && [ "$took" -ge "$limit" ]; then
		extra="timed out after ${limit}s (its limit; \"# timeout: N\" sets another): its process group was killed"
	elif ! grep -q '^# end ' "$log"; then
		extra="ended without its end line (exit $rc): killed, crashed, or not using tests/report.sh / tests/unit/test.h"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		extra="exited $rc without a FAIL line"
	elif [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
		extra="ran no check"
	fi
	if [ -n "$extra" ]; then
		echo "FAIL $name: $extra"
		f=$((f + 1))
	fi
	# (unless a FAIL of its own named it: a scan of kindling logs prints the report)
	if grep -qaE "$SANITIZER_RE" "$log" && ! grep -q '^FAIL .*sanitizer' "$log"; then
		echo "FAIL $name: a sanitizer report in its output"
		f=$((f + 1))
	fi
	if [ "$f" -ne 0 ]; then
		echo "---- output of $name (last 60 lines; full log $log) ----"
		grep -vE '^(PASS|FAIL|SKIP) ' "$log" | tail -60
		echo "----"
	fi
	echo "# $name: $p passed, $f failed, $s skipped, ${took}s"
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	case $name in
	*"[pg]" | *test_store)
		# test_store runs both backends: its pg lines count for PostgreSQL
		if [ "${name%\[pg\]}" = "$name" ]; then
			p=$(grep -c '^PASS .*: pg: ' "$log")
			f=$(grep -c '^FAIL .*: pg: ' "$log")
			s=$(grep -c '^SKIP .*: pg: ' "$log")
		fi
		pg_passed=$((pg_passed + p))
		pg_failed=$((pg_failed + f))
		pg_skipped=$((pg_skipped + s))
		;;
	esac
}

# run_file FILE - a script (bash) or a unit program; pg:FILE, a script on PostgreSQL.
run_file() {
	case "$1" in
	pg:*) run_one "${1#pg:}[pg]" "${1#pg:}" env KINDLING_TEST_DB=pg bash "${1#pg:}" ;;
	*.sh) run_one "$1" "$1" bash "$1" ;;
	build/asan/tests/*) run_one "$1" "tests/unit/${1##*/}.c" "$1" ;;
	*) run_one "$1" "$1" "$1" ;;
	esac
}

what=${1:-all}
# one PostgreSQL for the run (when none is given and it is installed; else
# the PostgreSQL tests skip, or fail under CI, saying why)
if [ -z "${KINDLING_TEST_PG_URL:-}" ] && [ "$what" != e2e ]; then
	# shellcheck source=pg.sh
	. tests/pg.sh
	if [ -z "$(pg_missing)" ]; then
		pg_start >"$logs/pg_start.log" 2>&1 || cat "$logs/pg_start.log"
		trap pg_stop EXIT
	fi
fi
if [ "$what" = all ] || [ "$what" = unit ]; then
	for t in build/asan/tests/test_*; do
		case $t in *.d) continue ;; esac
		[ -x "$t" ] && run_file "$t"
	done
	for t in tests/unit/*.sh; do
		[ -f "$t" ] && run_file "$t"
	done
fi
if [ "$what" = all ] || [ "$what" = e2e ]; then
	for t in tests/e2e/test_*.sh; do
		[ -f "$t" ] && run_file "$t"
	done
fi
if [ "$what" = all ] || [ "$what" = e2e-pg ]; then
	for t in $PG_E2E; do
		[ -f "$t" ] && run_file "pg:$t"
	done
fi
if [ "$what" != all ] && [ "$what" != unit ] && [ "$what" != e2e ] && [ "$what" != e2e-pg ]; then
	for t in "$@"; do
		run_file "$t"
	done
fi
echo "# sqlite: $((passed - pg_passed)) passed, $((failed - pg_failed)) failed, $((skipped - pg_skipped)) skipped; postgresql: $pg_passed passed, $pg_failed failed, $pg_skipped skipped"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && rm -rf "$logs"
if [ -n "${PG_PID:-}" ]; then
	trap - EXIT
	pg_stop
fi
[ "$failed" -eq 0 ]
