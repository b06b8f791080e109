#!/bin/bash
# bench/grpc.sh - etcd v3 discovery over gRPC: kindling against a real etcd
# 3.4 (Debian's etcd-server) and etcd 3.5 (Debian sid's .debs, unpacked by
# tools/fetch-etcd35.sh into build/etcd-3.5; "n/a" when not obtainable),
# side by side in one run on loopback, the same client for all
# (tests/grpc/streams.mjs on @grpc/grpc-js). `make bench` runs it after
# run.sh and tls.sh.
#
#   sh bench/grpc.sh              (about a minute)
#   BENCH_QUICK=1 sh bench/grpc.sh  small counts: a smoke run
#
# Figures: registrations/s (KV/Put of distinct member keys, 64 in flight over
# 8 connections; kindling group-commits them to SQLite with fsync, etcd
# fsyncs its WAL); 10 000 Watch streams (each its own gRPC call, over 20
# connections) on one token's members prefix: time until all are created,
# server RSS and threads while they are held (/proc/PID/status), and the
# fan-out: one Put until every stream has its event. ratio: how many times
# better kindling is than etcd 3.5 (> 1: kindling wins). Raw lines go to
# bench/results/grpc-<UTC timestamp>.json.
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
KINDLING_BIN=${KINDLING_BIN:-build/kindling}
case "$KINDLING_BIN" in /*) ;; *) KINDLING_BIN=$ROOT/$KINDLING_BIN ;; esac
RESULTS=${BENCH_RESULTS:-bench/results}
QUICK=${BENCH_QUICK:-0}
PUTS=4000 STREAMS=10000
[ "$QUICK" = 1 ] && PUTS=400 STREAMS=500
for c in node npm etcd curl jq ss; do
	command -v "$c" >/dev/null || { echo "bench/grpc: $c is missing" >&2; exit 2; }
done
[ -x "$KINDLING_BIN" ] || { echo "bench/grpc: $KINDLING_BIN is missing: make build/kindling" >&2; exit 2; }
[ -d tests/grpc/node_modules/@grpc/grpc-js ] ||
	(cd tests/grpc && timeout 300 npm ci --no-audit --no-fund --loglevel=error) >&2 || exit 2
E35=build/etcd-3.5/usr/bin/etcd
sh tools/fetch-etcd35.sh build/etcd-3.5 >&2 || E35=""
. bench/lib.sh
bench_init grpc
mb() { awk -v a="$1" 'BEGIN { if (a == "") print "n/a"; else printf "%.1f", a / 1024 }'; }
ulimit -n 20000 2>/dev/null || true
ERRORS=0
RAW=$W/raw.jsonl
: >"$RAW"
# streams WHO ARGS... - one streams.mjs run; its JSON line to the raw file and stdout
streams() {
	local who=$1 out
	shift
	out=$(STREAMS_TIMEOUT_MS=180000 node tests/grpc/streams.mjs "$@" 2>"$W/$who.err") || {
		echo "bench/grpc: $who: ${out:-$(tail -3 "$W/$who.err")}" >&2
		ERRORS=$((ERRORS + 1))
	}
	printf '{"who":"%s","result":%s}\n' "$who" "${out:-null}" >>"$RAW"
	printf '%s' "$out"
}
get() { printf '%s' "$1" | jq -r "$2 // empty" 2>/dev/null; }

# ---- kindling (release build, one HTTP thread as run.sh) ----
GP=$(free_port)
"$KINDLING_BIN" --listen 127.0.0.1:0 --db "$W/k.db" --templates templates --threads 1 \
	--grpc-listen "127.0.0.1:$GP" --max-long-polls 20000 >"$W/kindling.log" 2>&1 &
KPID=$!
PIDS+=("$KPID")
for _ in $(seq 1 100); do
	HP=$(sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' "$W/kindling.log")
	[ -n "$HP" ] && break
	sleep 0.1
done
[ -n "$HP" ] || { echo "bench/grpc: kindling did not start: $(tail -3 "$W/kindling.log")" >&2; exit 1; }
new_token() { curl -sS --max-time 10 "http://127.0.0.1:$HP/new?size=$1" | sed 's|.*/||'; }
# registrations are bounded per directory (3 x size + 10): 99-member tokens
TOKS=$(for _ in $(seq 1 $((PUTS / 250 + 1))); do new_token 99; echo; done | paste -sd, -)
K_PUT=$(streams kindling-put put "http://127.0.0.1:$GP" "$TOKS" "$PUTS" 8)
K_W=$(streams kindling-watch watch "http://127.0.0.1:$GP" "$(new_token 3)" "$STREAMS" 20 "$KPID")

# ---- etcd N: one member of its own, the same requests ----
# etcd_run NAME BIN - sets E_PUT, E_W
etcd_run() {
	local name=$1 bin=$2 cp pp pid tok
	cp=$(free_port) pp=$(free_port)
	"$bin" --name "$name" --data-dir "$W/$name" --listen-client-urls "http://127.0.0.1:$cp" \
		--advertise-client-urls "http://127.0.0.1:$cp" --listen-peer-urls "http://127.0.0.1:$pp" \
		--initial-advertise-peer-urls "http://127.0.0.1:$pp" \
		--initial-cluster "$name=http://127.0.0.1:$pp" >"$W/$name.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	for _ in $(seq 1 100); do
		ETCDCTL_API=3 timeout 3 etcdctl --endpoints="http://127.0.0.1:$cp" endpoint health >/dev/null 2>&1 && break
		sleep 0.2
	done
	tok=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	E_PUT=$(streams "$name-put" put "http://127.0.0.1:$cp" "$tok" "$PUTS" 8)
	tok=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	E_W=$(streams "$name-watch" watch "http://127.0.0.1:$cp" "$tok" "$STREAMS" 20 "$pid")
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}
etcd_run etcd34 etcd
E34_PUT=$E_PUT E34_W=$E_W
E35_PUT="" E35_W=""
if [ -n "$E35" ]; then
	etcd_run etcd35 "$E35"
	E35_PUT=$E_PUT E35_W=$E_W
fi

# ---- the table ----
printf '%-56s %10s %10s %10s %7s\n' "figure (gRPC, v3 discovery)" kindling etcd-3.4 etcd-3.5 ratio
row() { printf '%-56s %10s %10s %10s %7s\n' "$1" "${2:-n/a}" "${3:-n/a}" "${4:-n/a}" "$5"; }
k=$(get "$K_PUT" .per_s) a=$(get "$E34_PUT" .per_s) b=$(get "$E35_PUT" .per_s)
row "v3 registrations/s (KV/Put, $PUTS, 64 in flight)" "$k" "$a" "$b" "$(ratio "$k" "$b")"
k=$(get "$K_W" .open_ms) a=$(get "$E34_W" .open_ms) b=$(get "$E35_W" .open_ms)
row "$STREAMS Watch streams created, ms" "$k" "$a" "$b" "$(ratio "$b" "$k")"
k=$(get "$K_W" .fanout_ms) a=$(get "$E34_W" .fanout_ms) b=$(get "$E35_W" .fanout_ms)
row "fan-out: 1 Put to $STREAMS watchers, ms" "$k" "$a" "$b" "$(ratio "$b" "$k")"
k=$(get "$K_W" .rss_kb) a=$(get "$E34_W" .rss_kb) b=$(get "$E35_W" .rss_kb)
row "server RSS with $STREAMS streams held, MB" "$(mb "$k")" "$(mb "$a")" "$(mb "$b")" "$(ratio "$b" "$k")"
row "server threads with $STREAMS streams held" "$(get "$K_W" .threads)" "$(get "$E34_W" .threads)" \
	"$(get "$E35_W" .threads)" "$(ratio "$(get "$E35_W" .threads)" "$(get "$K_W" .threads)")"
mkdir -p "$RESULTS"
jq -s . "$RAW" >"$RESULTS/grpc-$(date -u +%Y%m%dT%H%M%SZ).json"
[ "$ERRORS" = 0 ]
