#!/bin/bash
# test_tls.sh - HTTPS: SIGHUP replaces the certificate and key (and the admin
# token) while a keep-alive load, a new-connection load and 100 parked
# discovery watches run: no request fails, new connections see the new
# certificate, the watches are still answered; a bad certificate or key, or
# a bad token file, is refused with a log line and the old one stays.
# Session tickets: a returning client resumes.
# timeout: 300
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_node.sh"
source "$(dirname "$0")/lib_etcd.sh"
plan 31
require_tool curl jq openssl wrk "$IGNITION_BIN" etcd

NWATCH=100
TLS=$T/tls
mkdir -p "$TLS"
# a CA and two server certificates it signed (A: RSA, B: ECDSA P-256), and
# a third, unrelated ECDSA key for the mismatch
(
	cd "$TLS" || exit 1
	printf 'subjectAltName=IP:127.0.0.1\n' >ext
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
		-subj /CN=kindling-test-ca -days 2
	openssl req -newkey rsa:2048 -nodes -keyout a.key -out a.csr -subj /CN=cert-a
	openssl x509 -req -in a.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out a.pem -days 2 -extfile ext
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout b.key -out b.csr -subj /CN=cert-b
	openssl x509 -req -in b.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out b.pem -days 2 -extfile ext
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key
	cp a.pem cur.pem && cp a.key cur.key
) >"$TLS/openssl.log" 2>&1 || { fail "cannot make the test certificates: $(tail -3 "$TLS/openssl.log")"; skip_rest "no certificates"; }
fp_file() { openssl x509 -noout -fingerprint -sha256 -in "$1" | sed 's/.*=//'; }
# served_fp - the SHA-256 fingerprint of the certificate a new connection gets
served_fp() {
	openssl s_client -connect "127.0.0.1:$PORT" -servername 127.0.0.1 </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//'
}
FP_A=$(fp_file "$TLS/a.pem")
FP_B=$(fp_file "$TLS/b.pem")
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"
TOKEN1=$(cat "$T/token")

kindling_start --tls-cert "$TLS/cur.pem" --tls-key "$TLS/cur.key" --tls-ca "$TLS/ca.pem" \
	--admin-token-file "$T/token" --long-poll-timeout 120 || exit 1
BASE="https://127.0.0.1:$PORT"
C=(--cacert "$TLS/ca.pem")
check "the start-up log describes the certificate (its fingerprint)" grep -q "TLS certificate .*SHA-256 $FP_A" "$T/kindling.log"
check "a new connection gets certificate A" [ "$(served_fp)" = "$FP_A" ]

post_json /clusters '{"name":"tls","size":3}' "${C[@]}" -H "Authorization: Bearer $TOKEN1"
expect "create a cluster over HTTPS" 201 || skip_rest "no cluster"
DISC=$(jqb .discovery_url)
DPATH=${DISC#"$BASE"}
FETCH_AUTH=$(jqb '.pointer.ignition.config.replace.httpHeaders[0].value')
IGN="$BASE/clusters/tls/ignition"

# session tickets: the second connection of one openssl process resumes
openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 -sess_out "$TLS/sess" </dev/null >/dev/null 2>&1
check "a returning TLS 1.2 client resumes its session (ticket)" bash -c \
	"openssl s_client -connect 127.0.0.1:$PORT -tls1_2 -sess_in '$TLS/sess' </dev/null 2>/dev/null | grep -q '^Reused'"

# 100 parked watches, each its own TLS connection made with certificate A
for i in $(seq 1 "$NWATCH"); do
	curl -s "${C[@]}" --max-time 100 -o "$T/watch.$i" -w '%{http_code}' \
		"$BASE$DPATH?recursive=true&wait=true" >"$T/watch.$i.status" 2>/dev/null &
	PIDS_TO_STOP+=($!)
done
WATCH_PIDS=("${PIDS_TO_STOP[@]}")
eventually 30 bash -c "[ \"\$(curl -s ${C[*]} $BASE/metrics | awk '\$1 == \"kindling_http_requests_in_flight\" {print \$2}')\" -ge $NWATCH ]"
check "$NWATCH watches are parked" [ "$(curl -s "${C[@]}" "$BASE/metrics" |
	awk '$1 == "kindling_http_requests_in_flight" {print $2}')" -ge "$NWATCH" ]

# A node over HTTPS: real Ignition fetches through the pointer config (its CA
# in ignition.security.tls), and the config it writes carries kindling's CA,
# which a real etcd member then trusts to register at the https:// discovery
# URL. SSL_CERT_DIR stands for the node's /etc/ssl/certs; SSL_CERT_FILE names
# no file, so the host's own trust store plays no part.
post_json /clusters '{"name":"tlsnode","size":1}' "${C[@]}" -H "Authorization: Bearer $TOKEN1"
expect "create a one-member cluster over HTTPS" 201
NODE_DISC=$(jqb .discovery_url)
api GET /clusters/tlsnode/userdata "${C[@]}" -H "Authorization: Bearer $TOKEN1"
cp "$BODY" "$T/tlsnode.ign"
N=$T/tlsnode
mkdir -p "$N"
check "real Ignition fetches the config over HTTPS, trusting the pointer's CA" ignition_boot "$N" "$T/tlsnode.ign"
check "the config writes kindling's CA to /etc/ssl/certs/kindling-ca.pem" \
	cmp -s "$TLS/ca.pem" "$N/sysroot/etc/ssl/certs/kindling-ca.pem"
EP1=$(free_port) && EPP1=$(free_port)
SSL_CERT_DIR=$N/sysroot/etc/ssl/certs SSL_CERT_FILE=/nonexistent \
	etcd_member tlsnode "$T/tlsnode.etcd" "$EP1" "$EPP1" "$NODE_DISC"
check "a real etcd member registers at the https:// discovery URL with that CA" \
	etcd_wait_healthy "http://127.0.0.1:$EP1" 30
api GET /clusters/tlsnode "${C[@]}" -H "Authorization: Bearer $TOKEN1"
check "kindling lists the member" [ "$(jqb .members.registered)" = 1 ]
# and without the CA, the same member cannot: what the file is for
post_json /clusters '{"name":"tlsnoca","size":1}' "${C[@]}" -H "Authorization: Bearer $TOKEN1"
NOCA_DISC=$(jqb .discovery_url)
EP2=$(free_port) && EPP2=$(free_port)
mkdir -p "$T/empty-certs"
SSL_CERT_DIR=$T/empty-certs SSL_CERT_FILE=/nonexistent \
	etcd_member tlsnoca "$T/tlsnoca.etcd" "$EP2" "$EPP2" "$NOCA_DISC"
check "without kindling's CA the member is refused (unknown authority)" \
	etcd_log_has tlsnoca "certificate signed by unknown authority" 30
etcd_stop tlsnode
etcd_stop tlsnoca

# the loads: keep-alive, and a new connection per request, across the reload
wrk -t1 -c8 -d8s -H "Authorization: $FETCH_AUTH" "$IGN" >"$T/wrk-keepalive.out" 2>&1 &
WRK1=$!
PIDS_TO_STOP+=($WRK1)
wrk -t1 -c4 -d8s -H 'Connection: close' -H "Authorization: $FETCH_AUTH" "$IGN" >"$T/wrk-close.out" 2>&1 &
WRK2=$!
PIDS_TO_STOP+=($WRK2)
sleep 3
cp "$TLS/b.pem" "$TLS/cur.pem.new" && mv "$TLS/cur.pem.new" "$TLS/cur.pem"
cp "$TLS/b.key" "$TLS/cur.key.new" && mv "$TLS/cur.key.new" "$TLS/cur.key"
kill -HUP "$KPID"
eventually 10 grep -q "SIGHUP: new connections get the certificate" "$T/kindling.log"
check "SIGHUP logs the new certificate (its fingerprint)" grep -q "SIGHUP: new connections get the certificate .*SHA-256 $FP_B" "$T/kindling.log"
check "a new connection after SIGHUP gets certificate B" [ "$(served_fp)" = "$FP_B" ]
check "curl verifies certificate B with the same CA" bash -c \
	"[ \"\$(curl -s --cacert '$TLS/ca.pem' -o /dev/null -w '%{http_code}' $BASE/healthz)\" = 200 ]"
wait "$WRK1" "$WRK2"
# wrk_ok FILE - requests done, no socket error, no non-2xx
wrk_ok() {
	local n
	n=$(awk '/requests in/ {print $1}' "$1")
	[ "${n:-0}" -gt 0 ] && ! grep -q 'Socket errors\|Non-2xx' "$1"
}
check "keep-alive load across SIGHUP: $(awk '/requests in/ {print $1}' "$T/wrk-keepalive.out") requests, 0 failed" wrk_ok "$T/wrk-keepalive.out" ||
	cat "$T/wrk-keepalive.out" >&2
check "new-connection load across SIGHUP: $(awk '/requests in/ {print $1}' "$T/wrk-close.out") requests, 0 failed" wrk_ok "$T/wrk-close.out" ||
	cat "$T/wrk-close.out" >&2
check "the $NWATCH watches are still parked after SIGHUP" [ "$(curl -s "${C[@]}" "$BASE/metrics" |
	awk '$1 == "kindling_http_requests_in_flight" {print $2}')" -ge "$NWATCH" ]

# a registration answers every watch, on the connections made before the reload
api PUT "$DPATH/0000000000abc001?prevExist=false" "${C[@]}" --data-urlencode 'value=m1=http://10.0.0.1:2380'
expect "a member registers over HTTPS" 201
for p in "${WATCH_PIDS[@]}"; do wait "$p" 2>/dev/null; done
answered=0
for i in $(seq 1 "$NWATCH"); do
	[ "$(cat "$T/watch.$i.status" 2>/dev/null)" = 200 ] && grep -q 'm1=http://10.0.0.1:2380' "$T/watch.$i" &&
		answered=$((answered + 1))
done
check "all $NWATCH watches parked before SIGHUP are answered with the event ($answered)" [ "$answered" = "$NWATCH" ]

# bad certificates and keys are refused; B stays
refused() { # N - the Nth refusal line is in the log
	eventually 10 bash -c "[ \$(grep -c 'SIGHUP: refusing the new --tls-cert' '$T/kindling.log') -ge $1 ]"
}
cp "$TLS/a.pem" "$TLS/cur.pem" && cp "$TLS/other.key" "$TLS/cur.key"
kill -HUP "$KPID"
refused 1
check "a key that is not the certificate's is refused with a clear log line" \
	grep -q "SIGHUP: refusing the new --tls-cert .*: .*the key is not the certificate.*still serving .*SHA-256 $FP_B" "$T/kindling.log"
check "after the refused key, new connections still get certificate B" [ "$(served_fp)" = "$FP_B" ]
printf -- '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n' >"$TLS/cur.pem"
cp "$TLS/b.key" "$TLS/cur.key"
kill -HUP "$KPID"
refused 2
check "a certificate that is not PEM is refused" [ "$(grep -c 'SIGHUP: refusing the new --tls-cert' "$T/kindling.log")" -ge 2 ]
rm -f "$TLS/cur.pem"
kill -HUP "$KPID"
refused 3
check "a missing certificate file is refused (No such file)" grep -q "SIGHUP: refusing the new --tls-cert .*No such file" "$T/kindling.log"
check "after three refusals, new connections still get certificate B" [ "$(served_fp)" = "$FP_B" ]
api GET /healthz "${C[@]}"
expect "and requests are answered" 200

# the admin token: replaced on SIGHUP; a bad file is refused
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token.new" && mv "$T/token.new" "$T/token"
TOKEN2=$(cat "$T/token")
cp "$TLS/b.pem" "$TLS/cur.pem"
kill -HUP "$KPID"
eventually 10 grep -q "SIGHUP: the admin token in" "$T/kindling.log"
api GET /clusters "${C[@]}" -H "Authorization: Bearer $TOKEN2"
expect "after SIGHUP the new admin token works" 200
api GET /clusters "${C[@]}" -H "Authorization: Bearer $TOKEN1"
expect "and the old one no longer does" 401
echo short >"$T/token"
kill -HUP "$KPID"
eventually 10 grep -q "SIGHUP: refusing the new admin token" "$T/kindling.log"
api GET /clusters "${C[@]}" -H "Authorization: Bearer $TOKEN2"
expect "a bad token file is refused and the token before it stays" 200
check "no token appears in the log" log_lacks "$TOKEN1" "$TOKEN2"
kindling_stop
