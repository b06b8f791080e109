#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034 # check_that evaluates single-quoted expressions later
# test_replicas_storm.sh - issue 13, acceptance 5: kill -9 of one replica
# during a boot storm. Three replicas A, B, C on one PostgreSQL database;
# 200 clusters of 5 nodes boot at once through bench/loadgen's storm mode
# (every simulated node: fetch its config, register in discovery, read the
# directory, watch until it lists 5 members). Node i starts on replica
# i % 3 and, on a connection error or a 5xx, sends the same request to the
# next replica, as a load balancer that takes a dead backend out would. Once
# a few hundred registrations are acknowledged, B is killed with SIGKILL.
# Then: every node of every cluster got its config and saw its full member
# list, and every registration acknowledged (before the kill and after it)
# is listed by both surviving replicas: 0 acknowledged writes lost.
# PostgreSQL only: "sh tests/run.sh pg:tests/e2e/test_replicas_storm.sh"
# (it is in run.sh's PG_E2E); on SQLite it skips every check, saying so.
# Measured times are printed as comments, never asserted.
# timeout: 600
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
plan 13
if ! on_pg; then
	skip "PostgreSQL only: run it as pg:tests/e2e/test_replicas_storm.sh (tests/run.sh e2e-pg does)" 12
	exit 0
fi
require_tool curl jq psql cc pkg-config
CLUSTERS=${STORM_CLUSTERS:-200}
SIZE=5
NODES=$((CLUSTERS * SIZE))
KILL_AFTER=${STORM_KILL_AFTER:-$((NODES * 3 / 10))} # acknowledged registrations before the kill

# the storm's load generator, built from bench/loadgen.c as bench/run.sh does
LOADGEN=$T/loadgen
# shellcheck disable=SC2046 # pkg-config's flags are words
check "bench/loadgen.c builds" cc -O2 -std=c11 -Wall -Wextra -Werror -o "$LOADGEN" bench/loadgen.c \
	$(pkg-config --cflags --libs gnutls) || exit 1

DB=$(pg_url_of "$T/db/storm.db")
for n in A B C; do
	# the balancer's URL is the public one: every replica hands out the same URLs
	replica_start "$n" --db "$DB" --public-url http://127.0.0.1:8080 || { fail "replica $n starts"; exit 1; }
done
pass "three replicas A, B, C start on one PostgreSQL database"

# ---- 200 clusters of 5, created through the three replicas
: >"$T/created.json"
for k in 0 1 2; do
	n=$(echo ABC | cut -c$((k + 1)))
	count=$(((CLUSTERS - k + 2) / 3))
	"$LOADGEN" reqs --target "${RB[$n]#http://}" --method POST --path /clusters --ctype application/json \
		--body "{\"name\":\"s$k-%d\",\"size\":$SIZE}" --count "$count" -c 8 --expect 201 \
		--save "$T/created.$n.json" >"$T/create.$n.out" 2>&1
	cat "$T/created.$n.json" >>"$T/created.json"
done
jq -r '[("/clusters/" + .name + "/ignition"), .pointer.ignition.config.replace.httpHeaders[0].value,
	(.discovery_url | sub("^https?://[^/]*"; "")), (.size | tostring)] | @tsv' "$T/created.json" >"$T/nodes.tsv"
check_that "$CLUSTERS clusters of $SIZE created through A, B and C ($(wc -l <"$T/nodes.tsv") in the storm's list)" \
	'[ "$(wc -l <"$T/nodes.tsv")" = "$CLUSTERS" ] && [ "$(cut -f3 "$T/nodes.tsv" | sort -u | wc -l)" = "$CLUSTERS" ]'

# ---- the storm, and B killed in the middle of it
ACKED=$T/acked
: >"$ACKED"
t0=$(date +%s%3N)
"$LOADGEN" storm --targets "${RB[A]#http://},${RB[B]#http://},${RB[C]#http://}" --nodes "$T/nodes.tsv" \
	--acked "$ACKED" --timeout 150 >"$T/storm.out" 2>"$T/storm.err" &
LG=$!
PIDS_TO_STOP+=("$LG")
acked_enough() { [ "$(wc -l <"$ACKED")" -ge "$KILL_AFTER" ] || ! kill -0 "$LG" 2>/dev/null; }
eventually 240 acked_enough
running=0
kill -0 "$LG" 2>/dev/null && running=1
kill -KILL "${RP[B]}"
KILL_MS=$(date +%s%3N)
wait "${RP[B]}" 2>/dev/null
ACKED_AT_KILL=$(wc -l <"$ACKED")
echo "# B killed $((KILL_MS - t0)) ms into the storm, with $ACKED_AT_KILL of $NODES registrations acknowledged"
check_that "kill -9 of replica B while the storm runs ($ACKED_AT_KILL of $NODES registrations acknowledged by then)" \
	'[ "$running" = 1 ] && [ "$ACKED_AT_KILL" -gt 0 ] && [ "$ACKED_AT_KILL" -lt "$NODES" ] && ! kill -0 "${RP[B]}" 2>/dev/null'
wait "$LG"
lg_rc=$?
OUT=$(cat "$T/storm.out")
kv() { printf '%s\n' "$OUT" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
echo "# storm over 3 replicas, B killed: $OUT"
echo "# all $NODES nodes done $(kv secs) s after the start (p50 $(kv p50_ms) ms, p99 $(kv p99_ms) ms)"
check_that "every one of the $NODES nodes got its config, registered, and saw its cluster's $SIZE members (loadgen: done=$(kv "done") errors=$(kv errors))" \
	'[ "$lg_rc" = 0 ] && [ "$(kv done)" = "$NODES" ] && [ "$(kv errors)" = 0 ]'
[ "$lg_rc" = 0 ] || head -20 "$T/storm.err" >&2
check_that "nodes on B moved to the next replica ($(kv failovers) failovers)" '[ "$(kv failovers)" -gt 0 ]'
# a registration sent to B whose answer the kill cut off is retried on C:
# a 412 there means B committed it (put_found), which is not acknowledged
ACKED_N=$(wc -l <"$ACKED")
check_that "every registration was acknowledged ($ACKED_N), or was found committed when retried after the kill ($(kv put_found))" \
	'[ $((ACKED_N + $(kv put_found))) = "$NODES" ]'

# ---- every acknowledged write, through every surviving replica
# listing NAME - every storm directory as replica NAME lists it, over one
# keep-alive connection: "$T/list.NAME.keys" (every member key, sorted) and
# "$T/list.NAME.sizes" (members per directory, one a line).
listing() {
	cut -f3 "$T/nodes.tsv" | sed "s|^|url = \"${RB[$1]}|; s|$|\"|" >"$T/curl.$1"
	curl -sS --max-time 300 -K "$T/curl.$1" >"$T/list.$1.json" 2>/dev/null
	jq -r '.node.nodes[]?.key' "$T/list.$1.json" | sort >"$T/list.$1.keys"
	jq -r '.node.nodes | length' "$T/list.$1.json" >"$T/list.$1.sizes"
}
cut -f2 "$ACKED" | sort >"$T/acked.keys"
awk -F'\t' -v k="$KILL_MS" '$1 < k { print $2 }' "$ACKED" | sort >"$T/acked-before.keys"
for n in A C; do
	listing "$n"
	check_that "replica $n lists all $CLUSTERS directories with exactly $SIZE members each ($(sort -u "$T/list.$n.sizes" | paste -sd, -) seen)" \
		'[ "$(wc -l <"$T/list.$n.sizes")" = "$CLUSTERS" ] && [ "$(sort -u "$T/list.$n.sizes")" = "$SIZE" ] && [ "$(sort -u "$T/list.$n.keys" | wc -l)" = "$NODES" ]'
done
lost_a=$(comm -23 "$T/acked.keys" "$T/list.A.keys" | wc -l)
lost_c=$(comm -23 "$T/acked.keys" "$T/list.C.keys" | wc -l)
before_a=$(comm -23 "$T/acked-before.keys" "$T/list.A.keys" | wc -l)
before_c=$(comm -23 "$T/acked-before.keys" "$T/list.C.keys" | wc -l)
check_that "0 acknowledged writes lost: all $(wc -l <"$T/acked-before.keys") registrations acknowledged before the kill and all $ACKED_N in all are listed by A and by C (missing: $before_a/$before_c before, $lost_a/$lost_c in all)" \
	'[ "$lost_a" = 0 ] && [ "$lost_c" = 0 ] && [ "$before_a" = 0 ] && [ "$before_c" = 0 ] && [ -s "$T/acked-before.keys" ]'
replica_stop A C
