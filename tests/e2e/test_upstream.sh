#!/usr/bin/env bash
# test_upstream.sh - kindling with --discovery-upstream in front of the real
# discovery.etcd.io (Debian etcd-discovery, backed by etcd with the v2 API):
# a create stores the URL the upstream handed out and real etcd members
# bootstrap through it; an upstream that is down, broken or silent makes the
# create fail with 502 after exactly the tries and the time budget its flags
# give, and stores nothing, while other requests are still served. No check
# has an upper time bound: retries are counted from the answer's detail, and
# "not stalled" means answered while the hanging creates are still pending.
# shellcheck disable=SC2016,SC2034 # checkc evaluates single-quoted expressions later
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_etcd.sh
source "$(dirname "$0")/lib_etcd.sh"
plan 35
need_tools etcd etcdctl discovery.etcd.io curl jq ss python3

HEX32='[0-9a-f]{32}'
now_ms() { echo $(($(date +%s%N) / 1000000)); }
checkc() { if eval "$2"; then pass "$1"; else fail "$1"; fi; }
# alive PID - the background request is still running.
alive() { kill -0 "$1" 2>/dev/null; }

# problem_502 - the last answer is a 502 application/problem+json with a detail.
problem_502() {
	[ "$STATUS" = 502 ] && [ "$(header Content-Type)" = application/problem+json ] &&
		[ "$(jqb .status)" = 502 ] && [ -n "$(jqb .detail)" ]
}

# cluster_count - how many clusters kindling lists.
cluster_count() { curl -s --max-time 5 "$BASE/clusters" | jq -r .total; }

if ! upstream_start; then
	fail "the real discovery.etcd.io starts"
	exit 1
fi
kindling_start --discovery-upstream "$UPSTREAM_URL" --upstream-timeout-ms 3000 \
	--upstream-retries 2 || exit 1
check "with --discovery-upstream kindling has loaded libcurl" grep -q libcurl-gnutls "/proc/$KPID/maps"

# ---- a create takes its URL from the upstream -------------------------------
post_json /clusters '{"name":"up3","size":3}'
expect "create with an upstream answers 201" 201
DURL=$(jqb .discovery_url)
checkc "discovery_url is what the upstream handed out ($DURL)" '[[ $DURL =~ ^$UPSTREAM_URL/$HEX32$ ]]'
check "the cluster says discovery upstream" [ "$(jqb .discovery)" = upstream ]
api GET /clusters/up3
check "the upstream URL is stored" [ "$(jqb .discovery_url)" = "$DURL" ]
checkc "the upstream knows the token with size 3" \
	'[ "$(curl -s --max-time 5 "$DURL/_config/size" | jq -r .node.value)" = 3 ]'

t0=$SECONDS
etcd_cluster u 3 "$DURL"
check "3 etcd members bootstrap through the upstream URL" etcd_wait_healthy "$CLUSTER_ENDPOINTS" 40
check "etcd lists u1,u2,u3 started" [ "$(etcd_member_names "${ETCD_CLIENT[u1]}")" = u1,u2,u3 ]
check "the cluster takes a write" etcd_put_get "$CLUSTER_ENDPOINTS"
checkc "the upstream lists the 3 registrations" \
	'[ "$(curl -s --max-time 5 "$DURL" | jq ".node.nodes | length")" = 3 ]'
echo "# 3 members formed in $((SECONDS - t0)) s"
etcd_cluster_stop u 3

post_json /clusters '{"name":"local","size":1,"discovery":"builtin"}'
expect "builtin discovery can still be asked for" 201
checkc "... and is served by kindling" '[[ $(jqb .discovery_url) =~ ^$BASE/discovery/$HEX32$ ]]'

post_json /clusters '{"name":"up5","size":5,"discovery":"upstream"}'
expect "discovery upstream can be asked for by name" 201
checkc "... and the upstream has size 5" \
	'[ "$(curl -s --max-time 5 "$(jqb .discovery_url)/_config/size" | jq -r .node.value)" = 5 ]'

# ---- the upstream is up but broken (its etcd is gone): 4xx, no retries ------
before=$(cluster_count)
kill -TERM "$UPSTREAM_ETCD_PID"
wait "$UPSTREAM_ETCD_PID" 2>/dev/null
t0=$(now_ms)
post_json /clusters '{"name":"broken","size":3}'
dt=$(($(now_ms) - t0))
check "a 4xx from the upstream makes the create 502 problem+json (status $STATUS)" problem_502
detail=$(jqb .detail)
echo "# detail: $detail (${dt} ms)"
checkc "... without retries: one try (the detail counts no tries)" \
	'[ -n "$detail" ] && ! grep -q "tries" <<<"$detail"'
api GET /clusters/broken
expect "... and stores nothing" 404
check "... the cluster count is unchanged" [ "$(cluster_count)" = "$before" ]

# ---- the upstream is stopped: connection refused, retried, 502 ---------------
upstream_stop
t0=$(now_ms)
post_json /clusters '{"name":"down","size":3}'
dt=$(($(now_ms) - t0))
check "with the upstream stopped the create is 502 problem+json (status $STATUS)" problem_502
detail=$(jqb .detail)
echo "# detail: $detail (${dt} ms)"
checkc "... after exactly 3 tries (--upstream-retries 2), backing off between them (${dt} ms >= 250)" \
	'grep -q "after 3 tries" <<<"$detail" && [ "$dt" -ge 250 ]'
api GET /clusters/down
expect "... and stores nothing (GET is 404)" 404
check "... the cluster count is unchanged" [ "$(cluster_count)" = "$before" ]
# (the 502's detail, not the 404's of the GET above)
checkc "... the detail names no discovery token" '[ -n "$detail" ] && ! grep -qE "$HEX32" <<<"$detail"'
kindling_stop

# ---- the upstream hangs: 502 once --upstream-timeout-ms is spent -------------
# (4 s: the requests that must not be stalled have that long to be answered
# while the creates still hang)
UTO=4000
SILENT_PORT=$(free_port)
silent_listener "$SILENT_PORT" || {
	fail "a silent listener starts"
	exit 1
}
kindling_start --discovery-upstream "http://127.0.0.1:$SILENT_PORT" --upstream-timeout-ms $UTO \
	--upstream-retries 3 || exit 1
before=$(cluster_count)
t0=$(now_ms)
curl -s -o "$T/hang.body" -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
	--data-binary '{"name":"hang","size":3}' "$BASE/clusters" >"$T/hang.status" &
HANG=$!
PIDS_TO_STOP+=("$HANG")
sleep 0.3
api GET /healthz
checkc "a hanging upstream does not stall other requests (healthz $STATUS while the create still hangs)" \
	'[ "$STATUS" = 200 ] && alive "$HANG"'
wait "$HANG"
dt=$(($(now_ms) - t0))
checkc "with a silent upstream the create is 502 (status $(cat "$T/hang.status"))" \
	'[ "$(cat "$T/hang.status")" = 502 ] && [ "$(jq -r .status "$T/hang.body")" = 502 ]'
detail=$(jq -r .detail "$T/hang.body")
echo "# detail: $detail (${dt} ms)"
checkc "... once --upstream-timeout-ms $UTO is spent (the detail says so; ${dt} ms >= $((UTO - 100)))" \
	'grep -q "timed out after $UTO ms" <<<"$detail" && [ "$dt" -ge $((UTO - 100)) ]'
api GET /clusters/hang
expect "... and stores nothing (GET is 404)" 404
check "... the cluster count is unchanged" [ "$(cluster_count)" = "$before" ]

# several creates at once (kindling runs with --threads 2 here): each still
# ends when its budget is spent, and requests from nodes and members are
# answered while they hang
hpids=()
for i in 1 2 3; do
	curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 60 -H 'Content-Type: application/json' \
		--data-binary "{\"name\":\"hang$i\",\"size\":3}" "$BASE/clusters" >"$T/hang$i.meta" &
	hpids+=("$!")
done
PIDS_TO_STOP+=("${hpids[@]}")
sleep 0.3
gpids=()
for i in 1 2 3 4; do
	curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 60 "$BASE/healthz" >"$T/health$i.meta" &
	gpids+=("$!")
done
wait "${gpids[@]}"
pending=0
for p in "${hpids[@]}"; do alive "$p" && pending=$((pending + 1)); done
wait "${hpids[@]}"
ok=$(cat "$T"/health?.meta | awk '$1 == 200' | wc -l)
checkc "3 creates hanging on the upstream do not stall other requests (4 healthz: $ok answered 200 while $pending of 3 creates still hung; $(cat "$T"/health?.meta | awk '{print $2}' | tr '\n' ' ')s)" \
	'[ "$ok" = 4 ] && [ "$pending" = 3 ]'
early=$(cat "$T"/hang?.meta | awk -v min="$((UTO - 100))" '$1 != 502 || $2 * 1000 < min' | wc -l)
checkc "3 concurrent creates each end in 502 once their budget is spent ($(cat "$T"/hang?.meta | tr '\n' ' ')seconds)" \
	'[ "$(cat "$T"/hang?.meta | wc -l)" = 3 ] && [ "$early" = 0 ]'
kindling_stop

# ---- the upstream answers a URL that could not go into a unit safely --------
ODD_PORT=$(free_port)
python3 - "$ODD_PORT" <<'EOF' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"http://127.0.0.1:1/d'$(id)\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
PIDS_TO_STOP+=("$!")
eventually 10 sh -c "curl -s -o /dev/null 'http://127.0.0.1:$ODD_PORT/new?size=1'"
kindling_start --discovery-upstream "http://127.0.0.1:$ODD_PORT" || exit 1
post_json /clusters '{"name":"odd","size":1}'
checkc "an upstream URL with a quote and \$( is refused at create: 502, nothing stored" \
	'problem_502 && [ "$(curl -s -o /dev/null -w "%{http_code}" "$BASE/clusters/odd")" = 404 ]'
kindling_stop
finish
