#!/usr/bin/env bash
# test_grpc.sh - kindling's etcd v3 gRPC discovery endpoint (--grpc-listen)
# with real clients: Debian's etcdctl 3.4 (clientv3 on grpc-go, the library
# etcd members use), the same command sequence against a real etcd 3.4 server
# side by side, npm etcd3 (on @grpc/grpc-js) replaying v3 discovery's
# JoinCluster for 3 and 5 members at once, nghttp (nghttp2's client) for
# raw gRPC requests, and bad input on the gRPC port.
# shellcheck disable=SC2034
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_etcd.sh
source "$(dirname "$0")/lib_etcd.sh"
plan 36
need_tools etcd etcdctl curl jq ss node npm nghttp python3

export ETCDCTL_API=3
GPORT=$(free_port) || exit 1
kindling_start --grpc-listen "127.0.0.1:$GPORT" || exit 1
GURL="http://127.0.0.1:$GPORT"
check "the log names the gRPC endpoint" grep -q "etcd v3 gRPC discovery on 127.0.0.1:$GPORT" "$T/kindling.log"

# ctl ENDPOINT ARG... - etcdctl 3.4 on one endpoint, bounded.
ctl() {
	local ep=$1
	shift
	timeout 20 "$ETCDCTL_BIN" --endpoints="$ep" --dial-timeout=3s --command-timeout=8s "$@"
}

# new_token SIZE - a discovery directory of SIZE (GET /new); prints its token.
new_token() { curl -sS --max-time 10 "$BASE/new?size=$1" | sed 's|.*/||'; }

TOK=$(new_token 3)
R=/_etcd/registry/$TOK

# ---- etcdctl 3.4 against kindling ----
check_that "etcdctl get of the size key is 3" '[ "$(ctl "$GURL" get --print-value-only "$R/_config/size")" = 3 ]'
check_that "etcdctl get --prefix of the members: none yet" '[ -z "$(ctl "$GURL" get --prefix "$R/members")" ]'
check_that "etcdctl put of a member" '[ "$(ctl "$GURL" put "$R/members/a1" "n1=http://10.0.0.1:2380")" = OK ]'
ctl "$GURL" put "$R/members/b2" "n2=http://10.0.0.2:2380" >/dev/null
ctl "$GURL" get --prefix "$R/members" >"$T/k.members"
check_that "etcdctl get --prefix lists both members, keys and values" \
	'[ "$(cat "$T/k.members")" = "$(printf "%s\n" "$R/members/a1" "n1=http://10.0.0.1:2380" "$R/members/b2" "n2=http://10.0.0.2:2380")" ]'
ctl "$GURL" get -w json --prefix "$R/" >"$T/k.json"
check_that "revisions: size key 1, members 2 and 3 in create order, header 3" \
	'[ "$(jq -c "[.header.revision, [.kvs[].create_revision], .count]" "$T/k.json")" = "[3,[1,2,3],3]" ]'
check_that "a repeated put of the same registration succeeds (a lost answer retried)" \
	'[ "$(ctl "$GURL" put "$R/members/a1" "n1=http://10.0.0.1:2380")" = OK ]'
out=$(ctl "$GURL" put "$R/_config/size" 5 2>&1)
check_that "put to the size key: PermissionDenied" '[[ $out == *PermissionDenied* ]]'
check_that "the size key is unchanged" '[ "$(ctl "$GURL" get --print-value-only "$R/_config/size")" = 3 ]'
out=$(ctl "$GURL" put /foo bar 2>&1)
check_that "put outside the registry: PermissionDenied" '[[ $out == *PermissionDenied* ]]'
out=$(ctl "$GURL" put "/_etcd/registry/0123456789abcdef0123456789abcdef/members/a1" "x=http://x:1" 2>&1)
check_that "put under a token that does not exist: NotFound" '[[ $out == *NotFound* ]]'
out=$(ctl "$GURL" put "$R/members/c3" "x=$(head -c 2000 /dev/zero | tr '\0' a)" 2>&1)
check_that "a registration value over 1024 bytes: InvalidArgument" '[[ $out == *InvalidArgument* ]]'
out=$(ctl "$GURL" put "$R/members/c3" "x=$(head -c 70000 /dev/zero | tr '\0' a)" 2>&1)
check_that "a message over --grpc-max-message: ResourceExhausted" '[[ $out == *ResourceExhausted* || $out == *"larger than max"* ]]'
out=$(ctl "$GURL" get "$R/_config/size" --rev=99 2>&1)
check_that "get at a future revision: OutOfRange, as etcd" '[[ $out == *"future revision"* ]]'
out=$(ctl "$GURL" member list 2>&1)
check_that "an unknown method (Cluster/MemberList): Unimplemented" '[[ $out == *Unimplemented* ]]'

# watch from history, then live
timeout 6 "$ETCDCTL_BIN" --endpoints="$GURL" watch --prefix --rev=2 "$R/members" >"$T/k.watch" 2>&1 &
WPID=$!
PIDS_TO_STOP+=("$WPID")
eventually 10 grep -q "$R/members/b2" "$T/k.watch"
check_that "watch --prefix --rev=2 replays both registrations from history" \
	'[ "$(grep -c "^PUT$" "$T/k.watch")" = 2 ]'
ctl "$GURL" put "$R/members/c3" "n3=http://10.0.0.3:2380" >/dev/null
check "the same watch sees a live registration" eventually 10 grep -q "n3=http://10.0.0.3:2380" "$T/k.watch"
wait "$WPID" 2>/dev/null

# ---- the same sequence against a real etcd 3.4 server ----
EC=$(free_port) && EP=$(free_port) || exit 1
etcd_member oracle "$T/etcd-oracle" "$EC" "$EP" "" --initial-cluster "oracle=http://127.0.0.1:$EP"
EURL="http://127.0.0.1:$EC"
if etcd_wait_healthy "$EURL" 60; then
	pass "a real etcd 3.4 server runs on 127.0.0.1 as the oracle"
else
	fail "a real etcd 3.4 server runs on 127.0.0.1 as the oracle"
fi
TOK2=$(new_token 3)
# sequence ENDPOINT TOKEN OUT - what a discovery client does, as etcdctl
# commands; the output without revisions and ids.
sequence() {
	local ep=$1 r=/_etcd/registry/$2 out=$3 first wpid
	{
		ctl "$ep" get "$r/_config/size"
		ctl "$ep" get --prefix "$r/members"
		ctl "$ep" put "$r/members/a1" "n1=http://10.0.0.1:2380"
		ctl "$ep" put "$r/members/b2" "n2=http://10.0.0.2:2380"
		ctl "$ep" get --prefix "$r/members"
		ctl "$ep" get --prefix --keys-only "$r/"
		ctl "$ep" get --prefix --limit=1 "$r/members"
		ctl "$ep" get --prefix --keys-only -w json "$r/members" | jq .count # (3.4 has no --count-only)
		ctl "$ep" get -w json --prefix "$r/members" |
			jq -r '.kvs | sort_by(.create_revision) | .[].key | @base64d'
		first=$(ctl "$ep" get -w json --prefix "$r/members" | jq '[.kvs[].create_revision] | min')
		timeout 4 "$ETCDCTL_BIN" --endpoints="$ep" watch --prefix --rev="$first" "$r/members" >"$out.watch" 2>&1 &
		wpid=$!
		sleep 1.5
		ctl "$ep" put "$r/members/c3" "n3=http://10.0.0.3:2380"
		wait "$wpid"
		cat "$out.watch" # after the put's OK: the two outputs in a fixed order
	} >"$out" 2>&1
}
ctl "$EURL" put "/_etcd/registry/$TOK2/_config/size" 3 >/dev/null
sequence "$EURL" "$TOK2" "$T/etcd.seq"
sequence "$GURL" "$TOK2" "$T/kindling.seq"
if diff -u "$T/etcd.seq" "$T/kindling.seq" >"$T/seq.diff"; then
	pass "etcdctl sequence (get, get --prefix, put, keys-only, limit, count, create order, watch from history and live): kindling answers as etcd 3.4"
else
	fail "etcdctl sequence differs from etcd 3.4: $(head -c 600 "$T/seq.diff")"
fi
check_that "both sequences saw the 3 registrations through the watch" '[ "$(grep -c "^PUT$" "$T/kindling.seq")" = 3 ] && [ "$(grep -c "^PUT$" "$T/etcd.seq")" = 3 ]'
etcd_stop oracle

# ---- npm etcd3 (@grpc/grpc-js): JoinCluster, steps 1-6 of V3.md ----
node_ready() {
	[ -d tests/grpc/node_modules/etcd3 ] ||
		(cd tests/grpc && timeout 300 npm ci --no-audit --no-fund --loglevel=error) >&2
}
if ! node_ready; then
	skip_or_fail 5 "npm ci in tests/grpc failed (npm etcd3)"
else
	join() { timeout 60 node tests/grpc/join.mjs "$GURL" "$@"; }
	T3=$(new_token 3)
	join "$T3" 1 3 >"$T/join3" 2>&1
	check_that "3 etcd3 members started at once each end with an initial-cluster" \
		'[ "$(jq -r ".initial_cluster // empty" "$T/join3" | wc -l)" = 3 ]'
	check_that "the 3 initial-cluster strings are identical and name all 3" \
		'[ "$(jq -r .initial_cluster "$T/join3" | sort -u | wc -l)" = 1 ] && [ "$(jq -r .initial_cluster "$T/join3" | head -1 | tr , "\n" | wc -l)" = 3 ]'
	T5=$(new_token 5)
	join "$T5" 1 5 >"$T/join5" 2>&1
	check_that "5 members at once: 5 identical initial-cluster strings of 5" \
		'[ "$(jq -r ".initial_cluster // empty" "$T/join5" | sort -u | wc -l)" = 1 ] && [ "$(jq -r ".initial_cluster // empty" "$T/join5" | wc -l)" = 5 ] && [ "$(jq -r .initial_cluster "$T/join5" | head -1 | tr , "\n" | wc -l)" = 5 ]'
	join "$T5" 6 1 >"$T/join6" 2>&1
	check_that "a 6th member finds the cluster full" '[ "$(jq -r .error "$T/join6")" = "full cluster" ]'
	join 0123456789abcdef0123456789abcdef 1 1 >"$T/join0" 2>&1
	check_that "a missing token: size key not found" '[ "$(jq -r .error "$T/join0")" = "size key not found" ]'
fi

# ---- raw gRPC requests (nghttp) and bad input ----
grpc_raw() { # PATH FILE - prints grpc-status and grpc-message
	timeout 10 nghttp -v -H ':method: POST' -H 'content-type: application/grpc' -d "$2" \
		"$GURL$1" 2>&1 | sed -n 's/.*recv (stream_id=[0-9]*) \(grpc-[a-z]*: .*\)/\1/p'
}
printf '\0\0\0\0\144abc' >"$T/trunc.bin"
check_that "a truncated message (prefix says 100 bytes, 3 sent): INTERNAL (13)" \
	'grpc_raw /etcdserverpb.KV/Range "$T/trunc.bin" | grep -qx "grpc-status: 13"'
printf '\0\177\377\377\377' >"$T/big.bin"
check_that "a prefix announcing 2 GiB: RESOURCE_EXHAUSTED (8)" \
	'grpc_raw /etcdserverpb.KV/Range "$T/big.bin" | grep -qx "grpc-status: 8"'
printf '\0\0\0\0\0' >"$T/empty.bin"
check_that "an unknown method: UNIMPLEMENTED (12) in trailers" \
	'grpc_raw /etcdserverpb.Lease/LeaseGrant "$T/empty.bin" | grep -qx "grpc-status: 12"'
printf '\0\0\0\0\3\377\377\377' >"$T/junk.bin"
check_that "a message that is not protobuf: INTERNAL (13)" \
	'grpc_raw /etcdserverpb.KV/Put "$T/junk.bin" | grep -qx "grpc-status: 13"'
printf '\1\0\0\0\1x' >"$T/gz.bin"
check_that "a compressed message (none offered): UNIMPLEMENTED (12)" \
	'grpc_raw /etcdserverpb.KV/Range "$T/gz.bin" | grep -qx "grpc-status: 12"'
out=$(curl -sS --max-time 5 "$GURL/" 2>&1)
check_that "HTTP/1.1 on the gRPC port: a plain answer saying it is HTTP/2 gRPC" '[[ $out == *"HTTP/2"* ]]'
python3 - "$GPORT" >"$T/random.out" 2>&1 <<'EOF'
import os, socket, sys
port = int(sys.argv[1])
for n in range(20):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(os.urandom(1 + n * 997))
        s.recv(65536)
    except OSError:
        pass
    s.close()
# a valid preface followed by random frames
for n in range(20):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(9 + n * 301))
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.close()
print("done")
EOF
check_that "random bytes on 40 connections: each closed, and etcdctl still answers" \
	'grep -q done "$T/random.out" && [ "$(ctl "$GURL" get --print-value-only "$R/_config/size")" = 3 ]'
python3 - "$GPORT" >"$T/idle.out" 2>&1 <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
t = time.time()
try:
    data = s.recv(100)   # silent client: closed after the preface deadline (10 s)
except OSError:
    data = b""
print("closed" if data == b"" else "data", round(time.time() - t))
EOF
check_that "a connection that never sends the HTTP/2 preface is closed" 'grep -q "^closed" "$T/idle.out"'
check_that "kindling logs no token on the gRPC side" 'log_lacks "$TOK2" "$T3"'
kindling_stop
