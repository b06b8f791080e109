#!/usr/bin/env bash
# test_grpc_streams.sh - 10 000 concurrent gRPC Watch streams held in
# bounded memory: tests/grpc/streams.mjs (@grpc/grpc-js) opens them over 20
# connections on one token's members prefix, kindling's RSS is read from
# /proc/PID/status while they are held, then one registration reaches every
# stream. The bound is generous (the binary under test is the ASan build):
# what it catches is memory per stream growing by an order of magnitude, or
# a thread per stream. Also the limits: --grpc-max-calls refuses the calls
# past it without harm to those held. (bench/grpc.sh has the release
# build's figures beside etcd's.)
# timeout: 300
# shellcheck disable=SC2034
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_etcd.sh
source "$(dirname "$0")/lib_etcd.sh"
plan 9
need_tools node npm curl jq ss
STREAMS=${GRPC_STREAMS:-10000}
RSS_BOUND_KB=$((200 * 1024)) # ASan build; the release build holds 10 000 in ~30 MB (bench/grpc.sh)
ulimit -n 20000 2>/dev/null || true

GPORT=$(free_port) || exit 1
kindling_start --grpc-listen "127.0.0.1:$GPORT" --grpc-max-calls 12000 --max-long-polls 20000 || exit 1
GURL="http://127.0.0.1:$GPORT"
new_token() { curl -sS --max-time 10 "$BASE/new?size=$1" | sed 's|.*/||'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$KPID/status"; }
if ! [ -d tests/grpc/node_modules/@grpc/grpc-js ] &&
	! (cd tests/grpc && timeout 300 npm ci --no-audit --no-fund --loglevel=error) >&2; then
	skip_or_fail 7 "npm ci in tests/grpc failed (@grpc/grpc-js)"
else
	BEFORE=$(rss_kb)
	STREAMS_TIMEOUT_MS=200000 node tests/grpc/streams.mjs watch "$GURL" "$(new_token 3)" "$STREAMS" 20 "$KPID" \
		>"$T/streams.json" 2>"$T/streams.err"
	R=$(cat "$T/streams.json")
	echo "# $STREAMS streams: $R (RSS before: $BEFORE kB)"
	check_that "$STREAMS Watch streams on 20 connections: every one created" \
		'[ "$(jq -r .created <<<"$R")" = "$STREAMS" ] && [ "$(jq -r .failed <<<"$R")" = 0 ]'
	check_that "kindling's RSS with $STREAMS streams held is below $((RSS_BOUND_KB / 1024)) MB ($(($(jq -r '.rss_kb // 0' <<<"$R") / 1024)) MB; $((BEFORE / 1024)) MB before)" \
		'[ "$(jq -r ".rss_kb // 0" <<<"$R")" -gt 0 ] && [ "$(jq -r .rss_kb <<<"$R")" -lt "$RSS_BOUND_KB" ]'
	check_that "no thread per stream: kindling has at most 32 threads while they are held" \
		'[ "$(jq -r ".threads // 999" <<<"$R")" -le 32 ]'
	check_that "one registration reaches all $STREAMS streams" '[ "$(jq -r .delivered <<<"$R")" = "$STREAMS" ]'
	# past --grpc-max-calls: those held keep working, the rest are refused
	STREAMS_TIMEOUT_MS=20000 node tests/grpc/streams.mjs watch "$GURL" "$(new_token 3)" 13000 20 \
		>"$T/over.json" 2>&1
	check_that "13 000 streams against --grpc-max-calls 12000: some refused, not all created" \
		'grep -q "timed out" "$T/over.json" && [ "$(jq -r ".created // 0" "$T/over.json")" -le 12000 ] && [ "$(jq -r ".failed // 0" "$T/over.json")" -ge 1000 ]'
	TOK=$(new_token 3)
	eventually 20 bash -c "timeout 10 node tests/grpc/streams.mjs watch '$GURL' '$TOK' 100 2 >'$T/after.json' 2>&1"
	check_that "once they are gone new streams are served again" '[ "$(jq -r .delivered "$T/after.json")" = 100 ]'
	check_that "memory came back down after the streams closed: RSS below the bound" '[ "$(rss_kb)" -lt "$RSS_BOUND_KB" ]'
fi
kindling_stop
