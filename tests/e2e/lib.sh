# lib.sh - end-to-end test helpers: start the real kindling binary on a free
# loopback port with a temporary database, talk to it with curl, report
# "PASS name" / "FAIL name" lines. Source it from bash.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
KINDLING_BIN=${KINDLING_BIN:-build/asan/kindling}
TEST_NAME=$(basename "$0" .sh)
T=$(mktemp -d "/tmp/kindling-$TEST_NAME.XXXXXX")
KPID=""
PORT=""
BASE=""
STATUS=""
BODY="$T/body"
HEADERS="$T/headers"
PIDS_TO_STOP=()
# shellcheck source=../report.sh
source tests/report.sh

# cleanup: stops everything the test started, by PID.
cleanup() {
	local p
	for p in "${PIDS_TO_STOP[@]}" $KPID; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	if [ "$FAILS" -eq 0 ]; then rm -rf "$T"; else echo "# kept $T for inspection"; fi
}
trap cleanup EXIT

# kindling_start [FLAG...] - starts kindling (database $T/db/kindling.db
# unless --db is given) and waits until it listens; sets KPID, PORT, BASE.
kindling_start() {
	local log="$T/kindling.log" i
	: >"$log.new"
	[ -f "$log" ] && cat "$log" >>"$T/kindling.old.log"
	mv "$log.new" "$log"
	"$KINDLING_BIN" --listen 127.0.0.1:0 --db "$T/db/kindling.db" --templates templates \
		--threads 2 "$@" 2>"$log" &
	KPID=$!
	for i in $(seq 1 200); do
		PORT=$(sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' "$log" | head -1)
		[ -n "$PORT" ] && break
		kill -0 "$KPID" 2>/dev/null || break
		sleep 0.05
	done
	if [ -z "$PORT" ]; then
		echo "kindling did not start:" >&2
		cat "$log" >&2
		KPID=""
		return 1
	fi
	BASE="http://127.0.0.1:$PORT"
}

# sanitizer_clean FILE - no ASan/UBSan/LSan report in a log.
sanitizer_clean() {
	! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$1"
}

# kindling_stop - SIGTERM, wait; fails the test unless it exits 0 with a clean log.
kindling_stop() {
	[ -n "$KPID" ] || return 0
	kill -TERM "$KPID"
	local rc=0
	wait "$KPID" || rc=$?
	KPID=""
	if [ "$rc" -ne 0 ] || ! sanitizer_clean "$T/kindling.log"; then
		fail "kindling exits 0 on SIGTERM with no sanitizer report (rc=$rc)"
		tail -40 "$T/kindling.log" >&2
		return 1
	fi
}

# kindling_kill9 - kill -9, as a crash.
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

# expect NAME STATUS - checks the last status.
expect() {
	if [ "$STATUS" = "$2" ]; then
		pass "$1"
	else
		fail "$1 (status $STATUS, want $2): $(head -c 400 "$BODY")"
	fi
}

# finish - the exit status of the test script.
finish() { [ "$FAILS" -eq 0 ]; }
