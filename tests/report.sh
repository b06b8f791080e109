# report.sh - what every test script prints and tests/run.sh counts: one
# "PASS name: check", "FAIL name: check" or "SKIP name: reason" line per
# check, a plan (how many checks the script runs) and an end line. Source it
# from bash after setting TEST_NAME, then declare the plan before any check:
#
#   plan 42          # exactly 42 PASS/FAIL/SKIP lines, or the script fails
#
# At exit (an EXIT trap: this file sets one; a script with its own trap calls
# report_end from it) the number of checks that ran is compared with the
# plan: "FAIL name: planned N checks, ran M" when they differ, "FAIL name: no
# plan" when there was none. Then "# end name: P passed, F failed, S skipped"
# and an exit status that is non-zero when any check failed.
#
# Skips: skip REASON [N] counts N (default 1) checks as skipped, for a check
# that cannot run anywhere (a tool that is not in Debian). require_tool CMD...
# is for what the README promises: a missing CMD is a FAIL under CI=true and a
# SKIP of the rest of the script otherwise.
# shellcheck shell=bash disable=SC2034 # the counters are for the sourcing script
PASSES=0
FAILS=0
SKIPS=0
NOTRUN=0 # checks a CI failure stood in for (counted against the plan)
PLAN=""
AT_EXIT_CHECKS=0 # checks the EXIT trap runs (lib.sh: its sanitizer scan), part of the plan
REPORT_ENDED=""

pass() {
	echo "PASS $TEST_NAME: $1"
	PASSES=$((PASSES + 1))
	return 0
}
# fail TEXT - a FAIL line; returns 1, so a guard "cmd || fail ...; ..." can
# stop: "check ... || exit 1", "expect ... || return 1".
fail() {
	echo "FAIL $TEST_NAME: $1"
	FAILS=$((FAILS + 1))
	return 1
}
# skip REASON [N] - N checks (default 1) not run for REASON; one line,
# "SKIP name: REASON" or "SKIP name: REASON [N checks]" (tests/run.sh adds N).
skip() {
	local n=${2:-1}
	[ "$n" -gt 0 ] || return 0
	if [ "$n" = 1 ]; then echo "SKIP $TEST_NAME: $1"; else echo "SKIP $TEST_NAME: $1 [$n checks]"; fi
	SKIPS=$((SKIPS + n))
	return 0
}
# plan N - the number of PASS/FAIL/SKIP lines this script prints when it runs
# to its end. Declare it before the first check.
plan() {
	PLAN=$1
	echo "# plan $TEST_NAME: $1 checks"
}
# in_ci - true under CI=true (CI=1, CI=yes): nothing promised may be skipped.
in_ci() { case ${CI:-} in true | TRUE | True | 1 | yes) return 0 ;; *) return 1 ;; esac; }

# missing_tools CMD... - prints the commands (names on PATH, or absolute
# paths that must be executable) that are missing; true when none is.
missing_tools() {
	local c m=""
	for c in "$@"; do
		case $c in
		/*) [ -x "$c" ] || m="$m $c" ;;
		*) command -v "$c" >/dev/null 2>&1 || m="$m $c" ;;
		esac
	done
	[ -z "$m" ] && return 0
	echo "${m# }"
	return 1
}
# have_tool CMD... - true when every CMD is there (quiet).
have_tool() { missing_tools "$@" >/dev/null; }

# skip_or_fail N REASON - N planned checks cannot run because of REASON (a
# missing tool): FAIL under CI (once, standing for the N), SKIP otherwise.
skip_or_fail() {
	local n=$1
	if in_ci; then
		fail "$2: CI must run every promised check (make test-deps installs it)"
		NOTRUN=$((NOTRUN + n - 1))
		return 1
	fi
	skip "$2" "$n"
}

# checks_left - how many checks of the plan have not run yet, but for those
# the EXIT trap runs.
checks_left() { echo $((${PLAN:-0} - PASSES - FAILS - SKIPS - NOTRUN - AT_EXIT_CHECKS)); }

# skip_rest REASON - the checks of the plan not run yet are skipped; exits 0.
skip_rest() {
	local left
	left=$(checks_left)
	skip "$1" "$((left > 0 ? left : 1))"
	exit 0
}

# require_tool CMD... - the rest of the script needs every CMD: when one is
# missing, FAIL and exit 1 under CI, else skip the rest of the plan (exit 0).
require_tool() {
	local m
	m=$(missing_tools "$@") && return 0
	if in_ci; then
		local left
		left=$(checks_left)
		fail "needs $m: not installed, and CI must run every promised check (make test-deps installs it)"
		NOTRUN=$((NOTRUN + (left > 1 ? left - 1 : 0)))
		exit 1
	fi
	skip_rest "needs $m (not installed; make test-deps installs it)"
}

# check NAME COMMAND... - PASS when the command succeeds (returns 1 on FAIL).
check() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}

# check_that NAME 'EXPRESSION' - PASS when the shell expression is true; for
# compound conditions (check NAME [ a ] && [ b ] would check only [ a ]).
check_that() {
	if eval "$2"; then pass "$1"; else fail "$1"; fi
}

# eventually SECONDS COMMAND... - runs COMMAND until it succeeds, every 50 ms,
# for at most SECONDS. For what happens after an answer (request log lines are
# written after the reply, fetch counts in batches) and for anything whose
# speed depends on the machine's load: a generous SECONDS costs nothing when
# the condition holds early. Tests assert conditions, never upper time bounds
# (those are make bench's).
eventually() {
	local tries=$(($1 * 20))
	shift
	while ! "$@"; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || return 1
		sleep 0.05
	done
}

# report_end [STATUS] - the end of the script: the plan check and the end
# line; returns STATUS (the script's own exit status), or 1 when any check
# failed. Runs once.
report_end() {
	local st=${1:-0} ran
	[ -z "$REPORT_ENDED" ] || return "$st"
	REPORT_ENDED=1
	ran=$((PASSES + FAILS + SKIPS + NOTRUN))
	if [ -z "$PLAN" ]; then
		fail "no plan: declare \"plan N\" (its number of checks) before the first check (ran $ran)"
	elif [ "$ran" -ne "$PLAN" ]; then
		fail "planned $PLAN checks, ran $ran (stopped early, or the plan is out of date)"
	fi
	echo "# end $TEST_NAME: $PASSES passed, $FAILS failed, $SKIPS skipped"
	[ "$FAILS" -eq 0 ] || [ "$st" -ne 0 ] || st=1
	return "$st"
}
# report_exit STATUS - the default EXIT trap: report_end, then exit.
report_exit() {
	report_end "$1"
	exit $?
}
trap 'report_exit $?' EXIT
# a timeout (tests/run.sh sends SIGTERM to the process group) or ^C: exit,
# so the EXIT trap stops what the test started and reports
trap 'exit 143' TERM
trap 'exit 130' INT
