# lib.sh - end-to-end test helpers: start the real kindling binary on a free
# loopback port with a temporary database, talk to it with curl, report
# "PASS name" / "FAIL name" / "SKIP name" lines (tests/report.sh: declare
# "plan N" before the first check). Source it from bash.
#
# Every kindling a test starts logs to a file of its own, kept until the end:
# kindling_start writes $T/kindling.N.log (N = 1, 2, ... per start: restarts
# and kill -9'ed ones included; $T/kindling.log points to the latest), and a
# kindling the test runs any other way logs where kindling_log says. At exit,
# cleanup scans every one of them for ASan/UBSan/LSan reports: one check of
# every lib.sh script, "no sanitizer report in any kindling log", a FAIL that
# names each log with a report.
#
# KINDLING_TEST_DB=pg runs the test on PostgreSQL: every --db PATH that
# kindling_start passes (the default $T/db/kindling.db included) becomes an
# empty database of its own on the server KINDLING_TEST_PG_URL names (the one
# tests/run.sh starts; without it, the test starts its own with tests/pg.sh),
# the same PATH the same database. The test's name gets "-pg". db_sql runs
# SQL on the default database with either backend; on_pg tells which runs;
# sqlite_only REASON N skips N checks that only mean something for a file.
# shellcheck shell=bash disable=SC2034 # the variables are for the sourcing script
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
KINDLING_BIN=${KINDLING_BIN:-build/asan/kindling}
TEST_NAME=$(basename "$0" .sh)
KINDLING_TEST_DB=${KINDLING_TEST_DB:-sqlite}
[ "$KINDLING_TEST_DB" = pg ] && TEST_NAME="$TEST_NAME-pg"
T=$(mktemp -d "/tmp/kindling-$TEST_NAME.XXXXXX")
KPID=""
PORT=""
BASE=""
STATUS=""
BODY="$T/body"
HEADERS="$T/headers"
PIDS_TO_STOP=()
KLOGS=$T/kindling-logs                   # every kindling log of this test, one a line
KLOGS_REPORTED=$T/kindling-logs.reported # those a FAIL named already
: >"$KLOGS"
: >"$KLOGS_REPORTED"
# shellcheck source=../report.sh
source tests/report.sh
AT_EXIT_CHECKS=1 # cleanup's sanitizer scan

# SANITIZER_RE - what ASan, LSan and UBSan print (UBSan: "file.c:12:3: runtime error:").
SANITIZER_RE='ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|SUMMARY: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|: runtime error: '

# sanitizer_clean FILE - no ASan/UBSan/LSan report in a log.
sanitizer_clean() {
	! grep -qaE "$SANITIZER_RE" "$1"
}

# kindling_log NAME - prints the path of a log for a kindling the test runs
# itself (kindling --help 2>"$(kindling_log help)"), registered for the
# sanitizer scan at exit. Works in a command substitution or a subshell.
kindling_log() {
	local f="$T/kindling-$1.log"
	grep -qxF "$f" "$KLOGS" 2>/dev/null || echo "$f" >>"$KLOGS"
	echo "$f"
}

# kindling_logs - prints every kindling log of this test, one a line.
kindling_logs() { cat "$KLOGS"; }

# sanitizer_scan - the check at exit: no registered kindling log (every
# start, restart, kill -9'ed one, those run directly) holds a sanitizer
# report. One PASS, or one FAIL naming each log with a report (its first lines
# go to stderr); a log a FAIL named already (kindling_stop) is not named again.
sanitizer_scan() {
	local f bad="" n=0 already=0
	while IFS= read -r f; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		sanitizer_clean "$f" && continue
		if grep -qxF "$f" "$KLOGS_REPORTED"; then
			already=$((already + 1))
			continue
		fi
		bad="$bad ${f#"$T"/}"
		echo "---- sanitizer report in $f:" >&2
		grep -aE -A12 "$SANITIZER_RE" "$f" | head -40 >&2
	done <"$KLOGS"
	if [ -n "$bad" ]; then
		fail "sanitizer report in kindling log(s):$bad (of $n logs, in $T)"
	elif [ "$already" -gt 0 ]; then
		pass "no sanitizer report in the other kindling logs ($n logs, $already named by an earlier FAIL)"
	else
		pass "no sanitizer report in any kindling log ($n logs)"
	fi
}

# on_pg - true when the test runs on PostgreSQL (KINDLING_TEST_DB=pg).
on_pg() { [ "$KINDLING_TEST_DB" = pg ]; }

# sqlite_only REASON [N] - on PostgreSQL, skips N checks (default 1) that
# only mean something for an SQLite file, and returns 0; on SQLite returns 1
# (run them): "sqlite_only 'the file mode' || check ...".
sqlite_only() {
	on_pg || return 1
	skip "SQLite only: $1" "${2:-1}"
}

OWN_PG="" # this test started its PostgreSQL (no KINDLING_TEST_PG_URL given)

# pg_ensure - a PostgreSQL server for the test: the one KINDLING_TEST_PG_URL
# names, else one of its own (tests/pg.sh), stopped at exit. A missing
# PostgreSQL FAILs under CI and skips the rest of the test otherwise. Call
# it from the test's shell, not a subshell (kindling_start does).
pg_ensure() {
	[ -z "${KINDLING_TEST_PG_URL:-}" ] || return 0
	# shellcheck source=../pg.sh
	source tests/pg.sh
	[ -z "$(pg_missing)" ] || require_tool "${PG_BIN:-/usr/lib/postgresql/15/bin}/initdb" psql
	pg_start >&2 || return 1
	OWN_PG=1
}

# pg_url_of PATH - the PostgreSQL database that stands for the SQLite file
# PATH in this test (created, empty, on first use; pg_ensure first).
pg_url_of() {
	local map=$T/pg-databases name url base
	touch "$map"
	url=$(awk -v p="$1" '$1 == p { print $2 }' "$map")
	[ -n "$url" ] && { echo "$url"; return 0; }
	base=$(basename "$1" .db | tr -c 'a-z0-9\n' '_')
	name=$(echo "k_${TEST_NAME}_$$_$base" | tr -c 'a-z0-9\n' '_' | cut -c1-63)
	url=$(psql "$KINDLING_TEST_PG_URL" -Atq -v ON_ERROR_STOP=1 -c "CREATE DATABASE $name" >/dev/null &&
		echo "${KINDLING_TEST_PG_URL%/*}/$name") || return 1
	echo "$1 $url" >>"$map"
	echo "$url"
}

# db_sql SQL - runs SQL on the test's default database ($T/db/kindling.db,
# or the PostgreSQL database standing for it); prints the rows, "|" between
# columns.
db_sql() {
	if on_pg; then
		psql "$(pg_url_of "$T/db/kindling.db")" -Atq -v ON_ERROR_STOP=1 -c "$1"
	else
		sqlite3 -readonly "$T/db/kindling.db" "$1"
	fi
}

# db_dump - the whole default database as SQL text (sqlite3 .dump, pg_dump).
db_dump() {
	if on_pg; then
		pg_dump "$(pg_url_of "$T/db/kindling.db")"
	else
		sqlite3 -readonly "$T/db/kindling.db" .dump
	fi
}

# cleanup [STATUS] - the EXIT trap: stops everything the test started (by
# PID), scans the kindling logs, checks the plan (report_end) and exits with
# the script's status, non-zero when any check failed.
cleanup() {
	local st=${1:-0} p
	for p in "${PIDS_TO_STOP[@]}" $KPID; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	if [ -n "$OWN_PG" ]; then pg_stop; fi
	sanitizer_scan
	report_end "$st"
	st=$?
	if [ "$FAILS" -eq 0 ]; then rm -rf "$T"; else echo "# kept $T for inspection"; fi
	exit "$st"
}
trap 'cleanup $?' EXIT

# kindling_start [FLAG...] - starts kindling (database $T/db/kindling.db
# unless --db is given) and waits until it listens; sets KPID, PORT, BASE.
# It logs to a new $T/kindling.N.log; $T/kindling.log points to it.
kindling_start() {
	local n log i
	n=$(($(grep -c '/kindling\.[0-9]*\.log$' "$KLOGS") + 1))
	log=$T/kindling.$n.log
	echo "$log" >>"$KLOGS"
	ln -sfn "kindling.$n.log" "$T/kindling.log"
	local db=$T/db/kindling.db args=() a next=""
	for a in "$@"; do
		if [ -n "$next" ]; then
			db=$a
			next=""
		elif [ "$a" = --db ]; then
			next=1
		else
			args+=("$a")
		fi
	done
	if on_pg; then
		pg_ensure || return 1
		case $db in postgres://* | postgresql://*) ;; *) db=$(pg_url_of "$db") || return 1 ;; esac
	fi
	"$KINDLING_BIN" --listen 127.0.0.1:0 --db "$db" --templates templates \
		--threads 2 "${args[@]}" 2>"$log" &
	KPID=$!
	PORT=""
	for i in $(seq 1 400); do
		PORT=$(sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' "$log" | head -1)
		[ -n "$PORT" ] && break
		kill -0 "$KPID" 2>/dev/null || break
		sleep 0.05
	done
	if [ -z "$PORT" ]; then
		echo "kindling did not start:" >&2
		cat "$log" >&2
		kill -KILL "$KPID" 2>/dev/null
		wait "$KPID" 2>/dev/null
		KPID=""
		return 1
	fi
	BASE="http://127.0.0.1:$PORT"
}

# kindling_stop - SIGTERM, then waits (60 s at most, then SIGKILL). One
# check: PASS when it exits 0 with no sanitizer report in its log; else FAIL
# (and returns 1).
kindling_stop() {
	local log rc=0
	log=$(readlink -f "$T/kindling.log")
	if [ -z "$KPID" ]; then
		fail "kindling exits 0 on SIGTERM with no sanitizer report (it was not running)"
		return 1
	fi
	kill -TERM "$KPID"
	for _ in $(seq 1 600); do
		kill -0 "$KPID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$KPID" 2>/dev/null
	wait "$KPID" || rc=$?
	KPID=""
	if [ "$rc" -ne 0 ] || ! sanitizer_clean "$log"; then
		sanitizer_clean "$log" || echo "$log" >>"$KLOGS_REPORTED"
		fail "kindling exits 0 on SIGTERM with no sanitizer report (rc=$rc, ${log#"$T"/})"
		tail -40 "$log" >&2
		return 1
	fi
	pass "kindling exits 0 on SIGTERM with no sanitizer report"
}

# Several kindlings at once (replicas on one database), by name:
# replica_start NAME [FLAG...] starts one with kindling_start and records it:
# RB[NAME] its base URL, RP[NAME] its PID, RL[NAME] its log. It is killed at
# exit if still running; KPID is left empty for the next one.
# replica_stop NAME... is kindling_stop of each (one check each).
declare -A RB=() RP=() RL=()
replica_start() {
	local n=$1
	shift
	kindling_start "$@" || return 1
	RB[$n]=$BASE
	RP[$n]=$KPID
	RL[$n]=$(readlink -f "$T/kindling.log")
	PIDS_TO_STOP+=("$KPID")
	KPID=""
}
replica_stop() {
	local n
	for n in "$@"; do
		KPID=${RP[$n]}
		ln -sfn "$(basename "${RL[$n]}")" "$T/kindling.log"
		kindling_stop
	done
}

# kindling_kill9 - kill -9, as a crash (its log is scanned at exit).
kindling_kill9() {
	[ -n "$KPID" ] || return 0
	kill -KILL "$KPID"
	wait "$KPID" 2>/dev/null
	KPID=""
}

# api METHOD PATH [CURL-ARG...] - one request; sets STATUS, writes $BODY, $HEADERS.
api() {
	local method=$1 path=$2
	shift 2
	rm -f "$BODY" "$HEADERS" # a 304 or a failed request writes no body
	STATUS=$(curl -sS -o "$BODY" -D "$HEADERS" -w '%{http_code}' -X "$method" \
		--max-time 30 "$@" "$BASE$path")
}

# post_json PATH JSON [CURL-ARG...] - POST with Content-Type: application/json.
post_json() {
	local path=$1 json=$2
	shift 2
	api POST "$path" -H 'Content-Type: application/json' --data-binary "$json" "$@"
}

# jqb FILTER - runs jq on the last body, raw output.
jqb() { jq -r "$1" <"$BODY" 2>/dev/null; }

# header NAME - a header of the last response (case-insensitive), no CR.
header() { grep -i "^$1:" "$HEADERS" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

# expect NAME STATUS - checks the last status (returns 1 on FAIL).
expect() {
	if [ "$STATUS" = "$2" ]; then
		pass "$1"
	else
		fail "$1 (status $STATUS, want $2): $(head -c 400 "$BODY" 2>/dev/null)"
	fi
}

# log_lacks FIXED-STRING... - no kindling log of this test holds any of the
# strings (the logs must exist: a missing log is no proof). For "no token in
# the log" checks. An empty string fails (it proves nothing).
log_lacks() {
	local s f files=()
	while IFS= read -r f; do [ -f "$f" ] && files+=("$f"); done <"$KLOGS"
	[ "${#files[@]}" -gt 0 ] || { echo "log_lacks: no kindling log" >&2; return 1; }
	for s in "$@"; do
		[ -n "$s" ] || { echo "log_lacks: an empty string" >&2; return 1; }
		if grep -qaF -- "$s" "${files[@]}"; then
			echo "log_lacks: found in $(grep -laF -- "$s" "${files[@]}" | head -1)" >&2
			return 1
		fi
	done
}

# log_lacks_re ERE - no kindling log of this test matches the extended
# regular expression (the logs must exist).
log_lacks_re() {
	local f files=()
	while IFS= read -r f; do [ -f "$f" ] && files+=("$f"); done <"$KLOGS"
	[ "${#files[@]}" -gt 0 ] || { echo "log_lacks_re: no kindling log" >&2; return 1; }
	! grep -qaE -- "$1" "${files[@]}"
}

# finish - the exit status of the test script.
finish() { [ "$FAILS" -eq 0 ]; }
