#!/usr/bin/env bash
# test_abuse.sh - load under abuse: 500 slowloris connections (a partial
# request, then silence) and a flood of 2 MB bodies (Content-Length and
# chunked) against kindling --conn-timeout 8, while a normal client's 50
# GET /healthz, a POST /clusters and a GET of it must each be answered (right
# status) while every slowloris connection is still open. Then: the idle
# connections are dropped, none before --conn-timeout after its last byte;
# connections that trickle a header byte every 2 s are measured (an idle
# timeout never drops them: a documented limit); the memory 100 partial 1 MB
# bodies hold is measured; --max-conns-per-ip bounds one address. Attackers
# connect from 127.0.0.2-5 so per-address limits do not hit the normal
# client on 127.0.0.1. Prints the numbers (latencies too) as "# " lines:
# no check has an upper time bound (make bench measures speed); waits are
# generous and end as soon as their condition holds.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
plan 16
require_tool curl python3 jq ss
# The 52 normal requests must end while the idle connections are still open:
# inside one --conn-timeout of their last byte. 8 s leaves room on a loaded
# machine (with 5 s, requests whose p50 was 50 ms once outlasted it).
CONN_TIMEOUT=8
SLOW=${ABUSE_CONNS:-500}
# how long an idle slowloris run waits at most for the server to drop all its
# connections (it ends as soon as they are all dropped)
IDLE_WAIT=$((CONN_TIMEOUT + 40))

# slowloris PORT SRC N MODE SECONDS OUT - N connections from address SRC.
# MODE idle: send "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" and then nothing
# (and end early once the server closed every connection);
# MODE trickle: then one more header byte every 2 s. Runs SECONDS, then
# writes JSON to OUT: connected, refused (closed at once), closed (by the
# server) and the seconds from each connection's last byte to its close.
cat >"$T/slowloris.py" <<'EOF'
import json, selectors, socket, sys, time
port, src, n, mode, secs, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5]), sys.argv[6]
sel = selectors.DefaultSelector()
conns, refused, t0 = {}, 0, time.monotonic()
for i in range(n):
    s = socket.socket()
    s.bind((src, 0))
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    except OSError:
        refused += 1
        s.close()
        continue
    s.setblocking(False)
    conns[s] = {"last": time.monotonic(), "closed": None}
    sel.register(s, selectors.EVENT_READ)
connected = len(conns)
open_at = {}  # seconds since start -> connections still open
next_trickle = time.monotonic() + 2
while time.monotonic() - t0 < secs:
    for key, _ in sel.select(timeout=0.2):
        s = key.fileobj
        try:
            s.recv(4096)
        except OSError:
            pass
        # an answer (408, 400...) or EOF: the server gave up on this connection
        conns[s]["closed"] = time.monotonic()
        sel.unregister(s)
        s.close()
    now = time.monotonic()
    if mode == "trickle" and now >= next_trickle:
        next_trickle = now + 2
        for s, c in conns.items():
            if c["closed"] is None:
                try:
                    s.send(b"X")
                    c["last"] = now
                except OSError:
                    c["closed"] = now
    open_at[round(now - t0)] = sum(1 for c in conns.values() if c["closed"] is None)
    if mode == "idle" and connected and open_at[round(now - t0)] == 0:
        break
after = sorted(c["closed"] - c["last"] for c in conns.values() if c["closed"] is not None)
json.dump({"connected": connected, "refused": refused,
           "closed": len(after), "still_open": connected - len(after),
           "close_after_last_byte_min": after[0] if after else None,
           "close_after_last_byte_max": after[-1] if after else None,
           "open_at": open_at}, open(out, "w"))
EOF

# flood STOPFILE OUT - 2 MB POSTs, one after another, until STOPFILE exists;
# appends "STATUS SECONDS" lines to OUT.
head -c 2000000 /dev/zero | tr '\0' ' ' >"$T/big.json"
flood() {
	local i=0
	while [ ! -e "$1" ]; do
		i=$((i + 1))
		if [ $((i % 2)) = 0 ]; then
			curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 30 -X POST \
				-H 'Content-Type: application/json' --data-binary "@$T/big.json" "$BASE/clusters" >>"$2"
		else
			curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 30 -X POST \
				-H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
				--data-binary "@$T/big.json" "$BASE/clusters" >>"$2"
		fi
	done
}

# timed NAME WANT METHOD PATH [CURL-ARG...] - one normal request; its status
# and time go to $T/normal.
timed() {
	local name=$1 want=$2 method=$3 path=$4 r
	shift 4
	r=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' --max-time 60 -X "$method" "$@" "$BASE$path")
	echo "$name $want $r" >>"$T/normal"
}

# jqok FILTER JSON - the filter is true of the JSON text.
jqok() { jq -e "$1" >/dev/null <<<"$2"; }

kindling_start --conn-timeout $CONN_TIMEOUT || exit 1
count0=$(curl -s "$BASE/clusters?limit=1" | jq .total)

# ---- 1. idle slowloris + flood, and a normal client -------------------------------
python3 "$T/slowloris.py" "$PORT" 127.0.0.2 "$SLOW" idle "$IDLE_WAIT" "$T/idle.json" &
SL=$!
PIDS_TO_STOP+=("$SL")
sleep 0.7 # all connected
fpids=()
for i in $(seq 1 16); do
	flood "$T/stop" "$T/flood.$i" &
	fpids+=($!)
done
PIDS_TO_STOP+=("${fpids[@]}")
sleep 0.5
: >"$T/normal"
held() { ss -Htn state established "( dport = :$PORT and src $1 )" 2>/dev/null | wc -l; }
open_before=$(held 127.0.0.2)
npids=()
for s in 1 2 3 4 5; do
	(for i in $(seq 1 10); do timed "healthz-$s-$i" 200 GET /healthz; done) &
	npids+=($!)
done
wait "${npids[@]}"
timed create 201 POST /clusters -H 'Content-Type: application/json' --data-binary '{"name":"normal","size":3}'
timed get 200 GET /clusters/normal
open_after=$(held 127.0.0.2)
wrong_normal=$(awk '$3 != $2' "$T/normal" | wc -l)
max_ms=$(awk '{ if ($4 > m) m = $4 } END { printf "%d", m * 1000 }' "$T/normal")
p50_ms=$(awk '{print $4}' "$T/normal" | sort -n | awk '{a[NR]=$1} END {printf "%d", a[int(NR/2)+1]*1000}')
echo "# during the abuse: $open_before slowloris connections open before the normal requests, $open_after after; normal requests: 52, p50 ${p50_ms} ms, max ${max_ms} ms"
if [ "$open_before" = "$SLOW" ] && [ "$open_after" = "$SLOW" ]; then
	pass "the normal requests ran while all $SLOW slowloris connections were open"
else
	fail "the normal requests ran while all $SLOW slowloris connections were open ($open_before, $open_after)"
fi
check_that "52 normal requests (50 GET /healthz, POST /clusters, GET it) each answered with the right status" \
	'[ "$(wc -l <"$T/normal")" = 52 ] && [ "$wrong_normal" = 0 ]'
[ "$wrong_normal" = 0 ] || awk '$3 != $2' "$T/normal" | head -5 | sed 's/^/# wrong: /'
touch "$T/stop"
wait "${fpids[@]}" 2>/dev/null
cat "$T"/flood.* >"$T/flood"
nflood=$(wc -l <"$T/flood")
n413=$(grep -c '^413 ' "$T/flood")
n5xx=$(grep -c '^5' "$T/flood")
n000=$(grep -c '^000 ' "$T/flood")
echo "# flood: $nflood oversized POSTs: $n413 answered 413, $n000 cut off, $n5xx 5xx, others $((nflood - n413 - n000 - n5xx))"
check "the flood ran (at least 50 oversized bodies)" [ "$nflood" -ge 50 ]
check "every oversized body was answered 413 (never a 5xx or another status)" [ "$n413" = "$nflood" ]
wait "$SL"
idle=$(cat "$T/idle.json")
echo "# idle slowloris: $idle"
check "all $SLOW idle slowloris connections were accepted" [ "$(jq .connected <<<"$idle")" = "$SLOW" ]
check "every idle connection was dropped by the server (waited for, ${IDLE_WAIT} s at most)" [ "$(jq .still_open <<<"$idle")" = 0 ]
check "no idle connection was dropped before --conn-timeout after its last byte" \
	jqok ".closed > 0 and .close_after_last_byte_min >= $CONN_TIMEOUT - 1" "$idle"
api GET /healthz
expect "healthz after the abuse" 200
check "nothing but the normal client's cluster was stored" \
	[ "$(curl -s "$BASE/clusters?limit=1" | jq .total)" = $((count0 + 1)) ]

# ---- 2. trickling connections: a header byte every 2 s ----------------------------------
python3 "$T/slowloris.py" "$PORT" 127.0.0.3 "$SLOW" trickle $((3 * CONN_TIMEOUT + 1)) "$T/trickle.json" &
SL=$!
PIDS_TO_STOP+=("$SL")
sleep 2
: >"$T/normal"
for i in $(seq 1 10); do timed "healthz-$i" 200 GET /healthz; done
echo "# while $SLOW connections trickle: healthz in $(awk '{printf "%.1f ", $4 * 1000}' "$T/normal")ms"
check "normal requests are served while $SLOW connections trickle" \
	[ "$(awk '$3 == $2' "$T/normal" | wc -l)" = 10 ]
wait "$SL"
trickle=$(cat "$T/trickle.json")
echo "# trickle slowloris: $trickle"
# libmicrohttpd's timeout is an idle timeout: a byte every 2 s keeps a
# connection forever (until its headers reach --header-max, hours at this rate).
# A known limit, documented in the README: trickling connections stay open
# (bounded by --max-conns and --max-conns-per-ip); what matters is checked
# above: normal clients are still served.
echo "# trickling connections still open after 3 x --conn-timeout: $(jq .still_open <<<"$trickle") (idle-only timeout)"

# ---- 3. memory: bodies in flight are held until their connection ends -----------------------
# 100 connections each send 1,000,000 bytes of a declared 1 MiB body (under
# --body-max) and stop: kindling holds every partial body until the idle
# timeout. Measured, not checked (no aggregate body budget exists; with the
# defaults, --max-conns 16384 x --body-max 1 MiB is 16 GiB, and a sender that
# trickles a byte every 2 s is never timed out, see 2.).
cat >"$T/bodies.py" <<'PYEOF'
import socket, sys, time
port, n, out, secs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
head = b"POST /clusters HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n"
conns = []
for i in range(n):
    s = socket.socket()
    s.bind(("127.0.0.5", 0))
    s.connect(("127.0.0.1", port))
    s.sendall(head + b" " * 1000000)
    conns.append(s)
open(out, "w").write(str(len(conns)))
time.sleep(secs)
PYEOF
rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$KPID/status" 2>/dev/null; }
rss0=$(rss)
python3 "$T/bodies.py" "$PORT" 100 "$T/bodies.n" $((CONN_TIMEOUT + 3)) &
SL=$!
PIDS_TO_STOP+=("$SL")
for _ in $(seq 1 100); do [ -s "$T/bodies.n" ] && break; sleep 0.1; done
sleep 0.5
rss1=$(rss)
api GET /healthz
expect "healthz while 100 MB of partial bodies are held" 200
wait "$SL"
echo "# partial bodies: kindling RSS ${rss0} MiB before, ${rss1} MiB with $(cat "$T/bodies.n") x 1 MB bodies in flight (+$((rss1 - rss0)) MiB)"
kindling_stop

# ---- 4. --max-conns-per-ip bounds one address ---------------------------------------------
kindling_start --conn-timeout $CONN_TIMEOUT --max-conns-per-ip 50 || exit 1
python3 "$T/slowloris.py" "$PORT" 127.0.0.4 "$SLOW" idle 3 "$T/perip.json" &
SL=$!
PIDS_TO_STOP+=("$SL")
sleep 1.5
: >"$T/normal"
for i in $(seq 1 10); do timed "healthz-$i" 200 GET /healthz; done
check "another address is served while one holds its limit" \
	[ "$(awk '$3 == $2' "$T/normal" | wc -l)" = 10 ]
wait "$SL"
perip=$(cat "$T/perip.json")
echo "# --max-conns-per-ip 50, $SLOW connections from one address: $perip"
check "--max-conns-per-ip 50 keeps exactly 50 of one address's $SLOW connections open (the limit is reached, not passed)" \
	jqok ".still_open == 50 and .connected + .refused == $SLOW" "$perip"
kindling_stop
finish
