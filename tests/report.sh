# report.sh - the PASS/FAIL lines every test script prints (tests/run.sh counts
# them). Source it from bash after setting TEST_NAME.
PASSES=0
FAILS=0

pass() {
	echo "PASS $TEST_NAME: $1"
	PASSES=$((PASSES + 1))
}
fail() {
	echo "FAIL $TEST_NAME: $1"
	FAILS=$((FAILS + 1))
}
# check NAME COMMAND... - PASS when the command succeeds.
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
# for at most SECONDS. For what kindling does just after it answers: request
# log lines are written after the reply, gathered for a few milliseconds.
eventually() {
	local tries=$(($1 * 20))
	shift
	while ! "$@"; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || return 1
		sleep 0.05
	done
}
