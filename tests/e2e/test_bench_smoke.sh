#!/usr/bin/env bash
# test_bench_smoke.sh - the benchmark harness cannot rot: bench/run.sh in its
# quick mode (every figure for about a second, small counts) against the
# release build completes, prints the whole table with a value for every
# measured figure, writes valid JSON, and reports no error. The numbers
# themselves are not checked, nor how long it takes: a shared test machine is
# too noisy for that (make bench is where they count; timeout 300 only ends a
# hang).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
TEST_NAME=test_bench_smoke
# shellcheck source=../report.sh
source tests/report.sh
plan 31

# The release build: figures under ASan would mean nothing, and this only
# checks that the harness runs. make test builds it.
BIN=build/kindling
[ -x "$BIN" ] || BIN=${KINDLING_BIN:-build/asan/kindling}
T=$(mktemp -d /tmp/kindling-test_bench_smoke.XXXXXX)
trap 'st=$?; rm -rf "$T"; report_exit $st' EXIT

# Installing missing packages is not part of the run (as root it installs
# them; otherwise it names what is missing: a FAIL, these are TEST_DEBS).
BENCH_DEPS_ONLY=1 bash bench/run.sh >"$T/deps" 2>&1 || {
	cat "$T/deps"
	fail "bench/run.sh has what it needs (BENCH_DEPS_ONLY=1)"
	exit 1
}
start=$(date +%s)
KINDLING_BIN=$BIN BENCH_QUICK=1 BENCH_RESULTS="$T/results" timeout 300 bash bench/run.sh >"$T/out" 2>"$T/err"
rc=$?
secs=$(($(date +%s) - start))
if [ "$rc" -ne 0 ]; then
	echo "---- bench/run.sh exited $rc; stderr:"
	tail -40 "$T/err"
	echo "---- stdout:"
	cat "$T/out"
fi
check "bench/run.sh (quick) exits 0 (rc=$rc, ${secs}s)" [ "$rc" -eq 0 ]
check "it prints no ERROR line" bash -c "! grep -q '^ERROR' '$T/err' '$T/out'"
check "it prints the table header" grep -q '^#   figure  *kindling  *reference  *ratio target  *met?' "$T/out"
for fig in 'config fetch, req/s' 'config fetch, p99' 'discovery dir GET' 'registrations (PUT' \
	'boot storm, 100 nodes' 'boot storm: nodes failed' 'boot storm over HTTPS, 100 nodes' \
	'HTTPS storm: nodes failed' 'server CPU for the whole HTTPS storm' 'server CPU per TLS connection' \
	'the same over HTTP, new conns' 'server CPU per TLS handshake' 'watchers held: RSS' 'watchers held: threads' \
	'released after the completing PUTs' 'idle RSS after start' 'start-up to first answer' \
	'cluster creates/s' 'GET /clusters?limit=100' 'HTML list' 'event streams held: RSS'; do
	check "the table has a row for \"$fig\"" grep -qF "$fig" "$T/out"
done
# The table's columns: id (4), figure (53), kindling (15), reference (15), ratio (8), ...
cell() { awk -v id="$1" -v fig="$2" -v from="$3" -v len="$4" \
	'substr($0, 1, 1) == id && index($0, fig) { v = substr($0, from, len); gsub(/^ +| +$/, "", v); print v; exit }' "$T/out"; }
bad=""
for f in '1|config fetch, req/s' '1|config fetch, p99' '2|discovery dir GET' '3|registrations (PUT' \
	'4|boot storm, 100 nodes' '4|boot storm: nodes failed' '4|boot storm over HTTPS, 100 nodes' \
	'4|HTTPS storm: nodes failed' '4|whole HTTPS storm' '4|per TLS connection' '4|per TLS handshake' \
	'5|watchers held: RSS' '5|watchers held: threads' \
	'5|released after the completing PUTs' '6|idle RSS after start' '6|start-up to first answer' \
	'6|cluster creates/s' '6|GET /clusters?limit=100' '7|event streams held: RSS'; do
	v=$(cell "${f%%|*}" "${f#*|}" 58 14)
	[[ $v =~ ^[0-9] ]] || bad="$bad [${f#*|}: kindling '$v']"
	case "${f#*|}" in watchers* | released* | start-up* | GET* | event*) continue ;; esac
	v=$(cell "${f%%|*}" "${f#*|}" 73 14)
	[[ $v =~ ^[0-9] ]] || bad="$bad [${f#*|}: reference '$v']"
done
check "every figure has its numbers${bad:+:$bad}" [ -z "$bad" ]
failed=$(cell 4 'boot storm: nodes failed' 58 14)
check "the storm ran with 0 failed nodes on kindling (${failed:-none})" [ "$failed" = 0 ]
failed=$(cell 4 'HTTPS storm: nodes failed' 58 14)/$(cell 4 'HTTPS storm: nodes failed' 73 14)
check "the HTTPS storm ran with 0 failed nodes on kindling and the reference (${failed})" [ "$failed" = 0/0 ]
json=$(find "$T/results" -name '*.json' 2>/dev/null | head -1)
check "the raw results are saved as JSON" [ -n "$json" ]
json=${json:-"$T/results/none.json"} # (a missing file fails the next two)
check "the JSON parses: quick, 0 errors, the figures" \
	[ "$(jq -r '"\(.quick) \(.errors) \(.figures | length >= 15)"' "$json" 2>/dev/null)" = "true 0 true" ]
check "the JSON keeps the raw runs (wrk, loadgen)" \
	[ "$(jq '[.raw[].name] | (index("fetch_kindling_1") != null) and (index("put_kindling_1") != null) and (index("storm_kindling") != null) and (index("watch") != null) and (index("storm_https_kindling") != null) and (index("storm_https_reference") != null)' "$json" 2>/dev/null)" = true ]
work=$(sed -n 's/^# work folder \([^;]*\);.*/\1/p' "$T/err")
left() { # the processes whose command line names the run's work folder
	[ -n "$work" ] && pgrep -f "[${work:0:1}]${work:1}" >/dev/null
}
# shellcheck disable=SC2016 # evaluated by check
check "no process of the run is left and its work folder is gone (${work:-none})" \
	eval '[ -n "$work" ] && ! left && [ ! -e "$work" ]'
finish() { [ "$FAILS" -eq 0 ]; }
finish
