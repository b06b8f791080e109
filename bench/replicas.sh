#!/usr/bin/env bash
# bench/replicas.sh - kindling replicas on one PostgreSQL (issue 13,
# acceptance 7): the boot storm (200 clusters x 5 nodes, bench/loadgen storm)
# through one replica, then through three (node i on replica i % 3), on the
# same PostgreSQL initdb'd in the work folder with fsync = on and
# synchronous_commit = on; and the cross-replica watch wake-up: a v2
# long-poll watch (?wait=true) parked on replica B, a registration PUT
# through replica A, the time from the PUT's 201 to the watch's answer
# (loadgen xwatch, one sample at a time). Prints rows in bench/run.sh's
# table format. Run by make bench; alone: bash bench/replicas.sh.
# Environment: KINDLING_BIN (default build/kindling), BENCH_QUICK=1 (small
# counts), BENCH_KEEP=1, STORM_TIMEOUT (s, default 120: a storm that has not
# formed by then counts its unfinished nodes as failed).
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_init replicas
QUICK=${BENCH_QUICK:-0}
KINDLING_BIN=${KINDLING_BIN:-build/kindling}
case $KINDLING_BIN in /*) ;; *) KINDLING_BIN=$ROOT/$KINDLING_BIN ;; esac
CLUSTERS=200 SAMPLES=500
[ "$QUICK" = 1 ] && CLUSTERS=20 SAMPLES=50
SIZE=5
log() { printf '# %s\n' "$*" >&2; }
kv() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }

LOADGEN=$W/loadgen
# shellcheck disable=SC2046 # pkg-config's flags are words
cc -O2 -std=c11 -Wall -Wextra -Werror -o "$LOADGEN" bench/loadgen.c $(pkg-config --cflags --libs gnutls) ||
	{ echo "bench/replicas.sh: cannot build loadgen" >&2; exit 2; }
# shellcheck disable=SC2012 # the versioned folders sort with sort -V
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PG_BIN/initdb" ] || { log "PostgreSQL is not installed: no replica rows"; exit 0; }
pg_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
mkdir -p "$W/pg"
chmod 755 "$W"
[ "$(id -u)" = 0 ] && chown postgres "$W/pg"
PGPORT=$(free_port)
if ! { pg_owner "$PG_BIN/initdb" -D "$W/pg/data" -A trust -U kindling -E UTF8 >"$W/pg/initdb.log" 2>&1 &&
	pg_owner "$PG_BIN/pg_ctl" -D "$W/pg/data" -l "$W/pg/log" -w -t 30 -o "-p $PGPORT -k $W/pg \
		-c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c max_connections=100" \
		start >"$W/pg/pg_ctl.log" 2>&1; }; then
	echo "bench/replicas.sh: PostgreSQL did not start" >&2
	exit 1
fi
trap 'pg_owner "$PG_BIN/pg_ctl" -D "$W/pg/data" -m fast -w -t 30 stop >/dev/null 2>&1; bench_cleanup' EXIT
DB=postgresql://kindling@127.0.0.1:$PGPORT/postgres

declare -A RT=() # replica -> host:port
replica() {
	local p out
	p=$(free_port)
	out=$("$LOADGEN" ready --target "127.0.0.1:$p" --path /healthz --log "$W/$1.log" --timeout 30 -- \
		"$KINDLING_BIN" --listen "127.0.0.1:$p" --db "$DB" --templates "$ROOT/templates" \
		--public-url http://127.0.0.1:8080 --long-poll-timeout 60 --threads 1)
	[ "$(kv status "$out")" = 200 ] || { echo "bench/replicas.sh: replica $1 did not start" >&2; exit 1; }
	PIDS+=("$(kv pid "$out")")
	RT[$1]=127.0.0.1:$p
}
# prepare TAG - CLUSTERS clusters of SIZE through A; $W/TAG.tsv is the storm's nodes file
prepare() {
	"$LOADGEN" reqs --target "${RT[A]}" --method POST --path /clusters --ctype application/json \
		--body "{\"name\":\"$1%d\",\"size\":$SIZE}" --count "$CLUSTERS" -c 8 --expect 201 \
		--save "$W/$1.json" >/dev/null || { echo "bench/replicas.sh: cannot create clusters" >&2; exit 1; }
	jq -r '[("/clusters/" + .name + "/ignition"), .pointer.ignition.config.replace.httpHeaders[0].value,
		(.discovery_url | sub("^https?://[^/]*"; "")), (.size | tostring)] | @tsv' "$W/$1.json" >"$W/$1.tsv"
}
replica A
replica B
replica C
NODES=$((CLUSTERS * SIZE))
log "replicas: boot storm $CLUSTERS x $SIZE through one replica, then through three (PostgreSQL, fsync on)"
prepare one
o1=$("$LOADGEN" storm --targets "${RT[A]}" --nodes "$W/one.tsv" --timeout "${STORM_TIMEOUT:-120}") || log "storm, one replica: $o1"
prepare three
o3=$("$LOADGEN" storm --targets "${RT[A]},${RT[B]},${RT[C]}" --nodes "$W/three.tsv" --timeout "${STORM_TIMEOUT:-120}") ||
	log "storm, three replicas: $o3"
log "storm one: $o1"
log "storm three: $o3"
log "replicas: cross-replica watch wake-up, $SAMPLES samples (watch on B, PUT through A)"
"$LOADGEN" reqs --target "${RT[A]}" --path '/new?size=3' --count "$SAMPLES" -c 4 --save "$W/new_urls" >/dev/null
sed 's#^http://[^/]*##' "$W/new_urls" >"$W/xw_paths"
ox=$("$LOADGEN" xwatch --watch "${RT[B]}" --put "${RT[A]}" --tokens "$W/xw_paths" --timeout 300) ||
	log "xwatch: $ox"
log "xwatch: $ox"
ratio2() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
p99=$(kv p99_ms "$ox")
met=$(awk -v a="$p99" 'BEGIN { print (a != "" && a + 0 < 100) ? "yes" : "NO" }')
row() { printf '%-3s %-52s %14s %14s %7s %-22s %s\n' "$@"; }
echo
echo "kindling replicas on one PostgreSQL (fsync on; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg))"
row "#" figure "3 replicas" "1 replica" ratio target "met?"
printf '%s\n' "$(printf '%.0s-' $(seq 1 124))"
row 7 "boot storm, $NODES nodes: all done, s" "$(kv secs "$o3")" "$(kv secs "$o1")" \
	"$(ratio2 "$(kv secs "$o1")" "$(kv secs "$o3")")" "-" "-"
row 7 "  nodes failed" "$(kv errors "$o3")" "$(kv errors "$o1")" "-" "0" \
	"$([ "$(kv errors "$o3")" = 0 ] && [ "$(kv errors "$o1")" = 0 ] && echo yes || echo NO)"
row 7 "  p99 node done, ms" "$(kv p99_ms "$o3")" "$(kv p99_ms "$o1")" "-" "-" "-"
row 7 "cross-replica watch wake-up p50 / p99 ms" "$(kv p50_ms "$ox") / $p99" "-" "-" "p99 < 100 ms" "$met"
row 7 "  samples ok / errors (max ms)" "$(kv "done" "$ox") / $(kv errors "$ox")" "-" "-" "-" "max $(kv max_ms "$ox")"
