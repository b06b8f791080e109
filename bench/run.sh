#!/bin/sh
# bench/run.sh - kindling against what operators would otherwise run: nginx
# serving the same config file, and discovery.etcd.io in front of etcd (v2 API)
# serving the same discovery directories. Every figure is measured side by
# side in this one run, on loopback, and printed as one table; the raw numbers
# go to bench/results/<timestamp>.json.
#
#   sh bench/run.sh              the full run (a few minutes)
#   BENCH_QUICK=1 sh bench/run.sh  every figure for about a second, small counts
#                                (what tests/e2e/test_bench_smoke.sh runs)
#
# Environment: KINDLING_BIN (default build/kindling), BENCH_KEEP=1 keeps the
# work folder, BENCH_RESULTS (default bench/results), BENCH_DEPS_ONLY=1 only
# installs what is missing and builds the load generator. Needs wrk, nginx,
# etcd, discovery.etcd.io, curl, jq, sqlite3, openssl, cc and GnuTLS's headers
# (the load generator speaks HTTPS): installed when missing (as root). Exits non-zero when a figure could not be measured (not when a
# target is missed: that is a result).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD

QUICK=${BENCH_QUICK:-0}
KINDLING_BIN=${KINDLING_BIN:-build/kindling}
RESULTS=${BENCH_RESULTS:-bench/results}
if [ "$QUICK" = 1 ]; then
	FETCH_DUR=1 FETCH_PASSES=1 DIR_DUR=1 DIR_PASSES=1 LIST_DUR=1
	PUT_TOKENS=20 PUT_K=1000 PUT_REF=200 PUT_PASSES=1
	STORM_CLUSTERS=20 WATCH_TOKENS=100 NCLUSTERS=2000 CREATES=100 NSTREAMS=100
else
	FETCH_DUR=10 FETCH_PASSES=2 DIR_DUR=5 DIR_PASSES=2 LIST_DUR=5
	PUT_TOKENS=200 PUT_K=20000 PUT_REF=4000 PUT_PASSES=2
	STORM_CLUSTERS=200 WATCH_TOKENS=2000 NCLUSTERS=100000 CREATES=2000 NSTREAMS=1000
fi
# kindling's HTTP worker threads. One: on a 2-core machine the load generator
# needs the other core, and a second worker only fights it for CPU (same
# req/s, p99 x1.5); nginx keeps worker_processes auto. BENCH_THREADS=0 runs
# kindling's default (one per CPU).
KTHREADS=${BENCH_THREADS:-1}
STORM_SIZE=5
WATCH_PER_TOKEN=5
IGN_ACCEPT='application/vnd.coreos.ignition+json;version=3.3.0, */*;q=0.1'

log() { printf '# %s\n' "$*" >&2; }
ERRORS=0
err() {
	printf 'ERROR: %s\n' "$*" >&2
	ERRORS=$((ERRORS + 1))
}

# ---- tools -------------------------------------------------------------------
# need CMD PKG... - installs the packages when CMD is missing (root only).
need() {
	local cmd=$1
	shift
	command -v "$cmd" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" = 0 ]; then
		log "installing $*"
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends "$@"; } >/dev/null 2>&1
	fi
	command -v "$cmd" >/dev/null 2>&1 || { echo "bench: $cmd is missing: apt-get install $*" >&2; exit 2; }
}
need wrk wrk
need nginx nginx-light
need etcd etcd-server
need python3 python3
need etcdctl etcd-client
need discovery.etcd.io etcd-discovery
need curl curl
need jq jq
need sqlite3 sqlite3
need cc gcc libc6-dev
need ss iproute2
need openssl openssl
need pkg-config pkg-config
pkg-config --exists gnutls 2>/dev/null || {
	[ "$(id -u)" = 0 ] && { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends libgnutls28-dev; } >/dev/null 2>&1
	pkg-config --exists gnutls 2>/dev/null || { echo "bench: GnuTLS is missing: apt-get install libgnutls28-dev" >&2; exit 2; }
}

LOADGEN=build/bench/loadgen
if [ ! -x "$LOADGEN" ] || [ bench/loadgen.c -nt "$LOADGEN" ] || [ bench/run.sh -nt "$LOADGEN" ]; then
	mkdir -p build/bench
	# shellcheck disable=SC2046 # pkg-config's flags are words
	if ! cc -O2 -g -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
		-Wformat=2 -o "$LOADGEN.tmp" bench/loadgen.c $(pkg-config --cflags --libs gnutls); then
		echo "bench: cannot build $LOADGEN" >&2
		exit 2
	fi
	mv "$LOADGEN.tmp" "$LOADGEN"
fi

[ "${BENCH_DEPS_ONLY:-0}" = 1 ] && exit 0
[ -x "$KINDLING_BIN" ] || { echo "bench: $KINDLING_BIN is missing: make build/kindling" >&2; exit 2; }

# Long polls and storms need many files.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" -ge 12000 ] 2>/dev/null || log "warning: ulimit -n is $(ulimit -n); 10 000 watchers need more"

# ---- the work folder, processes, ports ----------------------------------------
W=$(mktemp -d /var/tmp/kindling-bench.XXXXXX) || exit 2
chmod 755 "$W" # nginx workers read their root from here
PIDS=()
USED_PORTS=" "

# stop_pid PID - SIGTERM, up to 10 s, then SIGKILL; returns the exit status.
stop_pid() {
	local pid=$1 i rc=0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || rc=$?
	local keep=()
	for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
	return "$rc"
}

cleanup() {
	local p
	for p in "${PIDS[@]}"; do stop_pid "$p"; done
	if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$ERRORS" -ne 0 ]; then log "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port - a free loopback port below 32768.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		case "$USED_PORTS" in *" $p "*) continue ;; esac
		if [ -z "$(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null)" ]; then
			USED_PORTS="$USED_PORTS$p "
			echo "$p"
			return
		fi
	done
}

# wait_http URL [SECONDS] - until URL answers 200.
wait_http() {
	local i n=$((${2:-20} * 20))
	for i in $(seq 1 "$n"); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1")" = 200 ] && return 0
		sleep 0.05
	done
	return 1
}

# kv KEY LINE - the value of KEY in a "k=v k=v" line.
kv() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }

# proc_kb PID FIELD - VmRSS/VmHWM (kB) or Threads from /proc.
proc_field() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null; }

# cpu_ms PID... - CPU time (user + system) the processes used so far, ms.
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu_ms() {
	local p t=0 v
	for p in "$@"; do
		v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')
		t=$((t + ${v:-0}))
	done
	echo $((t * 1000 / CLK_TCK))
}
# per_req MS COUNT - microseconds per request.
per_req() { awk -v m="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.1f", m * 1000 / n; else print "" }'; }

# ---- raw results, kept for the JSON file ----------------------------------------
RAW="$W/raw.jsonl"
: >"$RAW"
# raw NAME LINE - records a "k=v ..." line as a JSON object.
raw() {
	printf '%s\n' "$2" | awk -v name="$1" '{
		printf "{\"name\":\"%s\"", name
		for (i = 1; i <= NF; i++) {
			k = $i; sub(/=.*/, "", k); v = $i; sub(/^[^=]*=/, "", v)
			if (v ~ /^-?[0-9]+(\.[0-9]+)?$/) printf ",\"%s\":%s", k, v
			else { gsub(/["\\]/, "", v); printf ",\"%s\":\"%s\"", k, v }
		}
		print "}"
	}' >>"$RAW"
}

# wrk_run NAME URL [WRK-ARG...] - runs wrk; prints "rps=.. p50_ms=.. p99_ms=..
# errors=.. cpu_us=.." where cpu_us is the CPU the server processes in
# $CPU_PIDS used per request (robust against a busy machine, unlike req/s).
CPU_PIDS=""
wrk_run() {
	local name=$1 url=$2 out="$W/$1.wrk" c0 c1
	shift 2
	# shellcheck disable=SC2086
	c0=$(cpu_ms $CPU_PIDS)
	wrk --latency "$@" "$url" >"$out" 2>&1
	# shellcheck disable=SC2086
	c1=$(cpu_ms $CPU_PIDS)
	local line
	line=$(awk '
		function ms(v) {
			if (v ~ /us$/) return v * 0.001
			if (v ~ /ms$/) return v + 0
			if (v ~ /m$/) return v * 60000
			if (v ~ /s$/) return v * 1000
			return v
		}
		/Requests\/sec:/ { rps = $2 }
		$1 == "50%" { p50 = ms($2) } $1 == "90%" { p90 = ms($2) } $1 == "99%" { p99 = ms($2) }
		/Non-2xx or 3xx responses:/ { errs += $NF }
		/Socket errors:/ { gsub(/,/, ""); errs += $4 + $6 + $8 + $10 }
		/requests in/ { reqs = $1 }
		END { printf "rps=%s p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f requests=%s errors=%d", rps, p50, p90, p99, reqs, errs }
	' "$out")
	[ -n "$CPU_PIDS" ] && line="$line cpu_ms=$((c1 - c0)) cpu_us=$(per_req $((c1 - c0)) "$(kv requests "$line")")"
	raw "$name" "$line"
	printf '%s\n' "$line"
}

# lg_reqs NAME PIDS -- LOADGEN-REQS-ARGS... - loadgen reqs, plus the CPU the
# server processes PIDS used per request (cpu_us); records the raw line.
lg_reqs() {
	local name=$1 pids=$2 c0 c1 out rc=0
	shift 3
	# shellcheck disable=SC2086
	c0=$(cpu_ms $pids)
	out=$("$LOADGEN" reqs "$@") || rc=1
	# shellcheck disable=SC2086
	c1=$(cpu_ms $pids)
	out="$out cpu_ms=$((c1 - c0)) cpu_us=$(per_req $((c1 - c0)) "$(kv ok "$out")")"
	raw "$name" "$out"
	printf '%s\n' "$out"
	return $rc
}

# ---- the table ----------------------------------------------------------------
ROWS="$W/rows.tsv"
: >"$ROWS"
# row ID FIGURE KINDLING REFERENCE RATIO TARGET MET
row() {
	local a v=()
	for a in "$@"; do v+=("${a:--}"); done
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${v[@]}" >>"$ROWS"
}
# ratio A B - A / B with 2 decimals, or "—".
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0 || a == "n/a" || b == "n/a") print "-"; else printf "%.2f", a / b }'; }
# ge A B - A >= B (numbers).
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && b != "" && a + 0 >= b + 0) }'; }
yesno() { if "$@"; then echo yes; else echo NO; fi; }
r1() { awk -v a="$1" 'BEGIN { if (a == "") print "-"; else printf "%.1f", a }'; }
r0() { awk -v a="$1" 'BEGIN { if (a == "") print "-"; else printf "%.0f", a }'; }
mb() { awk -v a="$1" 'BEGIN { if (a == "") print "-"; else printf "%.1f", a / 1024 }'; }

# ---- kindling -------------------------------------------------------------------
KPID=""
KPORT=""
KBASE=""
# kindling_start NAME DB [FLAG...] - starts kindling through loadgen ready
# (which times the first answered GET /healthz); sets KPID, KPORT, KBASE,
# K_START_SECS. FLAGs go to kindling; with --tls-ca CA (and --tls-cert,
# --tls-key) it serves HTTPS only (its configs carry the CA) and loadgen
# ready checks it against CA.
kindling_start() {
	local name=$1 db=$2 out bin=$KINDLING_BIN lg=() f prev=""
	shift 2
	for f in "$@"; do
		[ "$prev" = --tls-ca ] && lg=(--tls-ca "$f")
		prev=$f
	done
	case "$bin" in /*) ;; *) bin="$ROOT/$bin" ;; esac
	K_LOG="$W/$name.log"
	KPORT=$(free_port)
	KBASE="http$([ ${#lg[@]} -gt 0 ] && echo s)://127.0.0.1:$KPORT"
	out=$("$LOADGEN" ready "${lg[@]}" --target "127.0.0.1:$KPORT" --path /healthz --log "$W/$name.log" \
		--timeout 30 -- "$bin" --listen "127.0.0.1:$KPORT" --db "$db" \
		--templates "$ROOT/templates" --long-poll-timeout 60 --threads "$KTHREADS" "$@")
	KPID=$(kv pid "$out")
	[ -n "$KPID" ] && [ "$KPID" != 0 ] && PIDS+=("$KPID")
	K_START_SECS=$(kv secs "$out")
	if [ "$(kv status "$out")" != 200 ]; then
		err "kindling ($name) did not start: $(tail -5 "$W/$name.log")"
		return 1
	fi
	raw "kindling_start_$name" "$out"
}
# kindling_stop - SIGTERM, wait up to 15 s (not stopping is an error); warns when
# the log does not end with its clean-stop line (it is not our child: no status).
kindling_stop() {
	[ -n "$KPID" ] || return 0
	local pid=$KPID
	KPID=""
	kill -TERM "$pid" 2>/dev/null
	local i
	for i in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		err "kindling did not stop within 15 s of SIGTERM"
		stop_pid "$pid"
		return 1
	fi
	stop_pid "$pid" # not our child (loadgen started it): init reaps it; just forget it
	tail -1 "$K_LOG" | grep -q 'stopped$' ||
		log "warning: kindling did not log a clean stop: $(tail -2 "$K_LOG" | tr '\n' ' ')"
}

# ---- TLS: a test CA and an ECDSA P-256 server certificate for 127.0.0.1 -------
# tls_certs - $W/tls/ca.crt (the CA the clients verify against), srv.crt and
# srv.key (subjectAltName IP:127.0.0.1), used by kindling and nginx alike.
TLS="$W/tls"
tls_certs() {
	mkdir -p "$TLS"
	printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
		>"$TLS/leaf.ext"
	{
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TLS/ca.key" \
			-out "$TLS/ca.crt" -days 7 -subj '/CN=kindling bench CA' \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign &&
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TLS/srv.key" \
				-out "$TLS/srv.csr" -subj /CN=127.0.0.1 &&
			openssl x509 -req -in "$TLS/srv.csr" -CA "$TLS/ca.crt" -CAkey "$TLS/ca.key" -CAcreateserial \
				-days 7 -extfile "$TLS/leaf.ext" -out "$TLS/srv.crt"
	} >"$TLS/openssl.log" 2>&1 || { err "cannot make the TLS certificates: $(tail -3 "$TLS/openssl.log")"; return 1; }
}

# ---- the reference: nginx, etcd, discovery.etcd.io ------------------------------
# nginx serves the configs on NPORT (HTTP) and NSPORT (HTTPS, the same
# certificate as kindling's), and proxies to discovery.etcd.io on NPPORT
# (HTTP) and DSPORT (HTTPS): TLS terminated by nginx, as one would deploy it;
# long-poll watches pass unbuffered with a long read timeout, upstream
# connections are kept alive.
NPORT="" EPORT="" DPORT="" NSPORT="" NPPORT="" DSPORT=""
reference_start() {
	NPORT=$(free_port)
	EPORT=$(free_port)
	local peer
	peer=$(free_port)
	DPORT=$(free_port)
	NSPORT=$(free_port)
	NPPORT=$(free_port)
	DSPORT=$(free_port)
	mkdir -p "$W/nginx/root" "$W/nginx/tmp"
	cat >"$W/nginx/nginx.conf" <<-EOF
		worker_processes auto;
		pid $W/nginx/nginx.pid;
		error_log $W/nginx/error.log warn;
		daemon off;
		events { worker_connections 8192; }
		http {
		    access_log off;
		    sendfile on;
		    tcp_nopush on;
		    keepalive_timeout 65;
		    keepalive_requests 1000000;
		    default_type application/vnd.coreos.ignition+json;
		    client_body_temp_path $W/nginx/tmp;
		    proxy_temp_path $W/nginx/tmp;
		    fastcgi_temp_path $W/nginx/tmp;
		    uwsgi_temp_path $W/nginx/tmp;
		    scgi_temp_path $W/nginx/tmp;
		    server {
		        listen 127.0.0.1:$NPORT backlog=4096;
		        root $W/nginx/root;
		    }
		    ssl_protocols TLSv1.2 TLSv1.3;
		    ssl_certificate $TLS/srv.crt;
		    ssl_certificate_key $TLS/srv.key;
		    server {
		        listen 127.0.0.1:$NSPORT ssl backlog=4096;
		        root $W/nginx/root;
		    }
		    upstream discovery {
		        server 127.0.0.1:$DPORT;
		        keepalive 256;
		    }
		    proxy_http_version 1.1;
		    proxy_set_header Connection "";
		    proxy_buffering off;
		    proxy_read_timeout 600s;
		    server {
		        listen 127.0.0.1:$NPPORT backlog=4096;
		        location / { proxy_pass http://discovery; }
		    }
		    server {
		        listen 127.0.0.1:$DSPORT ssl backlog=4096;
		        location / { proxy_pass http://discovery; }
		    }
		}
	EOF
	nginx -c "$W/nginx/nginx.conf" -e "$W/nginx/error.log" 2>"$W/nginx/stderr.log" &
	PIDS+=($!)
	NGINX_PID=$!
	etcd --name ref --data-dir "$W/etcd" --enable-v2=true \
		--listen-client-urls "http://127.0.0.1:$EPORT" --advertise-client-urls "http://127.0.0.1:$EPORT" \
		--listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
		--initial-cluster "ref=http://127.0.0.1:$peer" >"$W/etcd.log" 2>&1 &
	PIDS+=($!)
	ETCD_PID=$!
	discovery.etcd.io --etcd "http://127.0.0.1:$EPORT" --host "http://127.0.0.1:$DPORT" \
		--addr "127.0.0.1:$DPORT" >"$W/discovery.log" 2>&1 &
	PIDS+=($!)
	DISC_PID=$!
	wait_http "http://127.0.0.1:$EPORT/health" 30 || { err "etcd did not start: $(tail -3 "$W/etcd.log")"; return 1; }
	wait_http "http://127.0.0.1:$DPORT/health" 30 || { err "discovery.etcd.io did not start"; return 1; }
	mkdir -p "$W/nginx/root/probe" && echo ok >"$W/nginx/root/probe/ok"
	chmod -R a+rX "$W/nginx/root"
	wait_http "http://127.0.0.1:$NPORT/probe/ok" 10 || { err "nginx did not start: $(tail -3 "$W/nginx/error.log")"; return 1; }
	[ "$(curl -s --cacert "$TLS/ca.crt" "https://127.0.0.1:$NSPORT/probe/ok")" = ok ] ||
		{ err "nginx does not serve HTTPS: $(tail -3 "$W/nginx/error.log")"; return 1; }
	[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$TLS/ca.crt" "https://127.0.0.1:$DSPORT/health")" = 200 ] ||
		{ err "nginx does not proxy HTTPS to discovery.etcd.io: $(tail -3 "$W/nginx/error.log")"; return 1; }
	REF_IDLE_KB=$(($(proc_field "$ETCD_PID" VmRSS) + $(proc_field "$DISC_PID" VmRSS)))
}

# paths FILE - the saved URLs without scheme and host.
paths() { sed "s#^http://[^/]*##" "$1"; }

# ================================================================================
START=$(date +%s)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
log "work folder $W; quick=$QUICK; load average $LOAD0"

# ---- kindling #1: empty database -> idle footprint, then the serving figures ---
mkdir -p "$W/k1"
kindling_start kindling1 "$W/k1/kindling.db" || exit 1
sleep 0.5
IDLE_KB=$(proc_field "$KPID" VmRSS)
IDLE_THREADS=$(proc_field "$KPID" Threads)
raw idle "rss_kb=$IDLE_KB threads=$IDLE_THREADS start_secs=$K_START_SECS"
K1=$KBASE
K1T=127.0.0.1:$KPORT

tls_certs || exit 1
reference_start || exit 1
log "kindling $K1, nginx :$NPORT, discovery.etcd.io :$DPORT, etcd :$EPORT"

# Figure 1 set-up: one cluster, its token, the byte-identical file for nginx.
curl -sf -X POST "$K1/clusters" -H 'Content-Type: application/json' \
	-d '{"name":"bench","size":3}' >"$W/bench.json" || err "cannot create the bench cluster"
FETCH_AUTH=$(jq -r '.pointer.ignition.config.replace.httpHeaders[0].value' "$W/bench.json")
mkdir -p "$W/nginx/root/clusters/bench"
curl -sf -H "Authorization: $FETCH_AUTH" -H "Accept: $IGN_ACCEPT" "$K1/clusters/bench/ignition" \
	>"$W/nginx/root/clusters/bench/ignition" || err "cannot fetch the bench config"
curl -s "http://127.0.0.1:$NPORT/clusters/bench/ignition" | cmp -s - "$W/nginx/root/clusters/bench/ignition" ||
	err "nginx does not serve the byte-identical config"
CONFIG_BYTES=$(wc -c <"$W/nginx/root/clusters/bench/ignition")

# Figure 2 set-up: a directory with 5 members on both.
register5() { # DIR-URL
	local i
	[ -n "$1" ] || return 1
	for i in 1 2 3 4 5; do
		curl -sf -X PUT "$1/$(printf '%016x' $((0xabc000 + i)))?prevExist=false" \
			--data-urlencode "value=m$i=http://10.0.0.$i:2380" >/dev/null || return 1
	done
}
KDIR=$(curl -sf "$K1/new?size=5")
register5 "$KDIR" || err "kindling: cannot set up the 5-member directory"
EDIR=$(curl -sf "http://127.0.0.1:$DPORT/new?size=5")
register5 "$EDIR" || err "discovery.etcd.io: cannot set up the 5-member directory"
DIRQ='?quorum=false&recursive=false&sorted=false'
[ "$(curl -s "$KDIR$DIRQ" | jq '.node.nodes | length')" = 5 ] || err "kindling's directory does not list 5 members"
[ "$(curl -s "$EDIR$DIRQ" | jq '.node.nodes | length')" = 5 ] || err "etcd's directory does not list 5 members"

# Figure 3 set-up: directories of size 99 on both, fresh ones for every pass.
PUTQ='%T/%x?prevExist=false'
PUTB='value=m%d%%3Dhttp%%3A%%2F%%2F10.0.0.1%%3A2380'
out=$("$LOADGEN" reqs --target "$K1T" --path '/new?size=99' --count $((PUT_TOKENS * PUT_PASSES)) -c 4 \
	--save "$W/k_put_urls") || err "kindling: cannot allocate the directories: $out"
out=$("$LOADGEN" reqs --target "127.0.0.1:$DPORT" --path '/new?size=99' --count $((PUT_TOKENS * PUT_PASSES)) -c 16 \
	--save "$W/e_put_urls") || err "discovery.etcd.io: cannot allocate the directories: $out"
for pass in $(seq 1 "$PUT_PASSES"); do
	paths "$W/k_put_urls" | sed -n "$(((pass - 1) * PUT_TOKENS + 1)),$((pass * PUT_TOKENS))p" >"$W/k_put_paths_$pass"
	paths "$W/e_put_urls" | sed -n "$(((pass - 1) * PUT_TOKENS + 1)),$((pass * PUT_TOKENS))p" >"$W/e_put_paths_$pass"
done

# Figure 4 set-up: 200 clusters of 5 in kindling (config + discovery); for the
# reference, the same configs as files for nginx and 200 directories of 5.
# storm_prepare TAG KINDLING-URL [CA] - STORM_CLUSTERS clusters of STORM_SIZE
# named TAG0, TAG1... in that kindling ($W/k_TAG.tsv: config path, auth,
# discovery path, size: loadgen storm's nodes file), their configs copied byte
# for byte into nginx's root, and as many fresh directories of discovery.etcd.io
# ($W/e_TAG.tsv: the same configs with those directories). With CA, kindling
# speaks HTTPS (verified against CA).
storm_prepare() {
	local tag=$1 base=$2 ca=${3:-} lg=() out p a
	[ -n "$ca" ] && lg=(--tls-ca "$ca")
	out=$("$LOADGEN" reqs "${lg[@]}" --target "${base#*://}" --method POST --path /clusters \
		--ctype application/json --body "{\"name\":\"$tag%d\",\"size\":$STORM_SIZE}" \
		--count "$STORM_CLUSTERS" -c 16 --expect 201 --save "$W/$tag.json") ||
		{ err "kindling: cannot create the $tag clusters: $out"; return 1; }
	jq -r '[("/clusters/" + .name + "/ignition"), .pointer.ignition.config.replace.httpHeaders[0].value,
		(.discovery_url | sub("^https?://[^/]*"; "")), (.size | tostring)] | @tsv' "$W/$tag.json" >"$W/k_$tag.tsv"
	out=$("$LOADGEN" reqs --target "127.0.0.1:$DPORT" --path "/new?size=$STORM_SIZE" --count "$STORM_CLUSTERS" \
		-c 16 --save "$W/e_${tag}_urls") ||
		{ err "discovery.etcd.io: cannot allocate the $tag directories: $out"; return 1; }
	: >"$W/curl_$tag.cfg"
	while IFS="$(printf '\t')" read -r p a _ _; do
		mkdir -p "$W/nginx/root${p%/ignition}"
		[ -s "$W/curl_$tag.cfg" ] && echo next >>"$W/curl_$tag.cfg"
		printf 'url = "%s%s"\noutput = "%s"\nheader = "Authorization: %s"\nheader = "Accept: %s"\n' \
			"$base" "$p" "$W/nginx/root$p" "$a" "$IGN_ACCEPT" >>"$W/curl_$tag.cfg"
		[ -n "$ca" ] && printf 'cacert = "%s"\n' "$ca" >>"$W/curl_$tag.cfg"
	done <"$W/k_$tag.tsv"
	curl -sf -K "$W/curl_$tag.cfg" || { err "cannot copy the $tag configs for nginx"; return 1; }
	chmod -R a+rX "$W/nginx/root"
	paste <(cut -f1,2 "$W/k_$tag.tsv") <(paths "$W/e_${tag}_urls") <(cut -f4 "$W/k_$tag.tsv") >"$W/e_$tag.tsv"
}
storm_prepare storm "$K1"

# ---- figure 1: config fetch, alternating, best of each ---------------------------
# best_of VAR VALUE max|min - keeps the best value seen in VAR.
best_of() {
	local cur=${!1}
	if [ -z "$2" ]; then return; fi
	if [ -z "$cur" ] || { [ "$3" = max ] && ge "$2" "$cur"; } || { [ "$3" = min ] && ge "$cur" "$2"; }; then
		printf -v "$1" '%s' "$2"
	fi
}
log "1: config fetch, wrk -c64 -t2 -d${FETCH_DUR}s, $FETCH_PASSES passes each"
NGINX_PIDS="$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')"
REF_DISC_PIDS="$ETCD_PID $DISC_PID"
K_RPS="" K_P99="" K_CPU="" N_RPS="" N_P99="" N_CPU=""
for pass in $(seq 1 "$FETCH_PASSES"); do
	CPU_PIDS=$KPID
	o=$(wrk_run "fetch_kindling_$pass" "$K1/clusters/bench/ignition" -c64 -t2 -d"${FETCH_DUR}s" \
		-H "Authorization: $FETCH_AUTH" -H "Accept: $IGN_ACCEPT")
	[ "$(kv errors "$o")" = 0 ] || err "kindling config fetch: errors: $o"
	best_of K_RPS "$(kv rps "$o")" max
	best_of K_P99 "$(kv p99_ms "$o")" min
	best_of K_CPU "$(kv cpu_us "$o")" min
	CPU_PIDS=$NGINX_PIDS
	o=$(wrk_run "fetch_nginx_$pass" "http://127.0.0.1:$NPORT/clusters/bench/ignition" -c64 -t2 -d"${FETCH_DUR}s" \
		-H "Authorization: $FETCH_AUTH" -H "Accept: $IGN_ACCEPT")
	[ "$(kv errors "$o")" = 0 ] || err "nginx config fetch: errors: $o"
	best_of N_RPS "$(kv rps "$o")" max
	best_of N_P99 "$(kv p99_ms "$o")" min
	best_of N_CPU "$(kv cpu_us "$o")" min
done
row 1 "config fetch, req/s (64 conns, ${CONFIG_BYTES} B)" "$(r0 "$K_RPS")" "$(r0 "$N_RPS")" \
	"$(ratio "$K_RPS" "$N_RPS")" ">= 1.5x nginx" "$(yesno ge "$(ratio "$K_RPS" "$N_RPS")" 1.5)"
row 1 "config fetch, p99 latency ms" "$K_P99" "$N_P99" "$(ratio "$N_P99" "$K_P99")" \
	"<= nginx" "$(yesno ge "$N_P99" "$K_P99")"
row 1 "  server CPU per request, us" "$K_CPU" "$N_CPU" "$(ratio "$N_CPU" "$K_CPU")" "-" "-"

# ---- figure 2: discovery directory GET ------------------------------------------
log "2: discovery directory GET, wrk -c64 -t2 -d${DIR_DUR}s, $DIR_PASSES passes each"
K_RPS="" E_RPS="" K_CPU="" E_CPU=""
for pass in $(seq 1 "$DIR_PASSES"); do
	CPU_PIDS=$KPID
	o=$(wrk_run "dir_kindling_$pass" "$KDIR$DIRQ" -c64 -t2 -d"${DIR_DUR}s")
	[ "$(kv errors "$o")" = 0 ] || err "kindling directory GET: errors: $o"
	best_of K_RPS "$(kv rps "$o")" max
	best_of K_CPU "$(kv cpu_us "$o")" min
	CPU_PIDS=$REF_DISC_PIDS
	o=$(wrk_run "dir_etcd_$pass" "$EDIR$DIRQ" -c64 -t2 -d"${DIR_DUR}s")
	[ "$(kv errors "$o")" = 0 ] || err "discovery.etcd.io directory GET: errors: $o"
	best_of E_RPS "$(kv rps "$o")" max
	best_of E_CPU "$(kv cpu_us "$o")" min
done
CPU_PIDS=""
row 2 "discovery dir GET (5 members), req/s" "$(r0 "$K_RPS")" "$(r0 "$E_RPS")" \
	"$(ratio "$K_RPS" "$E_RPS")" ">= 10x" "$(yesno ge "$(ratio "$K_RPS" "$E_RPS")" 10)"
row 2 "  server CPU per request, us" "$K_CPU" "$E_CPU" "$(ratio "$E_CPU" "$K_CPU")" "-" "-"

# ---- figure 3: registrations ---------------------------------------------------
log "3: registrations, $PUT_K (kindling) and $PUT_REF (reference) over $PUT_TOKENS directories, 64 conns, $PUT_PASSES passes each"
K_RPS="" K_P99="" K_CPU="" E_RPS="" E_P99="" E_CPU=""
for pass in $(seq 1 "$PUT_PASSES"); do
	o=$(lg_reqs "put_kindling_$pass" "$KPID" -- --target "$K1T" --method PUT --path "$PUTQ" --body "$PUTB" \
		--tokens "$W/k_put_paths_$pass" --count "$PUT_K" -c 64 --expect 201) || err "kindling registrations: $o"
	best_of K_RPS "$(kv rps "$o")" max
	best_of K_P99 "$(kv p99_ms "$o")" min
	best_of K_CPU "$(kv cpu_us "$o")" min
	o=$(lg_reqs "put_etcd_$pass" "$REF_DISC_PIDS" -- --target "127.0.0.1:$DPORT" --method PUT --path "$PUTQ" \
		--body "$PUTB" --tokens "$W/e_put_paths_$pass" --count "$PUT_REF" -c 64 --expect 201) ||
		err "reference registrations: $o"
	best_of E_RPS "$(kv rps "$o")" max
	best_of E_P99 "$(kv p99_ms "$o")" min
	best_of E_CPU "$(kv cpu_us "$o")" min
done
row 3 "registrations (PUT prevExist=false), /s" "$(r0 "$K_RPS")" "$(r0 "$E_RPS")" \
	"$(ratio "$K_RPS" "$E_RPS")" ">= 2x" "$(yesno ge "$(ratio "$K_RPS" "$E_RPS")" 2)"
row 3 "  p99 latency ms" "$K_P99" "$E_P99" "$(ratio "$E_P99" "$K_P99")" "-" "-"
row 3 "  server CPU per registration, us" "$K_CPU" "$E_CPU" "$(ratio "$E_CPU" "$K_CPU")" "-" "-"
PUT_SQ_RPS=$K_RPS PUT_SQ_P99=$K_P99 PUT_E_RPS=$E_RPS PUT_E_P99=$E_P99

# ---- figure 4: boot storm ---------------------------------------------------------
NODES=$((STORM_CLUSTERS * STORM_SIZE))
log "4: boot storm, $STORM_CLUSTERS clusters x $STORM_SIZE nodes"
c0=$(cpu_ms "$KPID")
ok=$("$LOADGEN" storm --config "$K1T" --disc "$K1T" --nodes "$W/k_storm.tsv" --timeout 60) ||
	log "kindling storm: $ok"
ok="$ok cpu_ms=$(($(cpu_ms "$KPID") - c0))"
raw storm_kindling "$ok"
# shellcheck disable=SC2086
c0=$(cpu_ms $NGINX_PIDS $REF_DISC_PIDS)
oe=$("$LOADGEN" storm --config "127.0.0.1:$NPORT" --disc "127.0.0.1:$DPORT" --nodes "$W/e_storm.tsv" --timeout 120) ||
	log "reference storm: $oe"
# shellcheck disable=SC2086
oe="$oe cpu_ms=$(($(cpu_ms $NGINX_PIDS $REF_DISC_PIDS) - c0))"
raw storm_reference "$oe"
[ -n "$(kv secs "$ok")" ] || err "kindling storm did not run"
[ -n "$(kv secs "$oe")" ] || err "reference storm did not run"
row 4 "boot storm, $NODES nodes: all done, s" "$(kv secs "$ok")" "$(kv secs "$oe")" \
	"$(ratio "$(kv secs "$oe")" "$(kv secs "$ok")")" "< 5 s" "$(yesno ge 5 "$(kv secs "$ok")")"
row 4 "boot storm: nodes failed" "$(kv errors "$ok")" "$(kv errors "$oe")" "-" "0" \
	"$(yesno [ "$(kv errors "$ok")" = 0 ])"
row 4 "  server CPU for the whole storm, ms" "$(kv cpu_ms "$ok")" "$(kv cpu_ms "$oe")" \
	"$(ratio "$(kv cpu_ms "$oe")" "$(kv cpu_ms "$ok")")" "-" "-"

# ---- figure 6 (part): cluster creates ----------------------------------------------
log "6: $CREATES cluster creates, 16 conns (reference: discovery.etcd.io GET /new)"
ok=$(lg_reqs creates_kindling "$KPID" -- --target "$K1T" --method POST --path /clusters --ctype application/json \
	--body '{"name":"create%d","size":3}' --count "$CREATES" -c 16 --expect 201) || err "kindling creates: $ok"
oe=$(lg_reqs creates_reference "$REF_DISC_PIDS" -- --target "127.0.0.1:$DPORT" --path '/new?size=3' \
	--count "$CREATES" -c 16) || err "reference /new: $oe"
CREATE_SQ_RPS=$(kv rps "$ok") CREATE_E_RPS=$(kv rps "$oe")
CREATE_ROW=("$(r0 "$(kv rps "$ok")")" "$(r0 "$(kv rps "$oe")")" "$(ratio "$(kv rps "$ok")" "$(kv rps "$oe")")"
	"$(kv p99_ms "$ok")" "$(kv p99_ms "$oe")")
# what a generation costs (issue 15): one PATCH of each created cluster, each
# a new generation stored with its inputs (the profile files are stored once
# per digest, not per generation), and the bytes a generation row takes
log "6: $CREATES PATCHes (a new generation each), 16 conns"
op=$(lg_reqs patches_kindling "$KPID" -- --target "$K1T" --method PATCH --path '/clusters/create%d' \
	--ctype application/json --body '{"vars":{"etcd_join_retry":"20"}}' --count "$CREATES" -c 16 \
	--expect 200) || err "kindling PATCHes: $op"
GEN_BYTES=$(sqlite3 "$W/k1/kindling.db" "SELECT CAST(avg(length(change) + length(inputs) + 60) AS int) FROM cluster_generations" 2>/dev/null)
PV_BYTES=$(sqlite3 "$W/k1/kindling.db" "SELECT count(*) || ' rows, ' || sum(length(files)) FROM profile_versions" 2>/dev/null)
raw generation_rows "bytes_per_generation=$GEN_BYTES profile_versions=$PV_BYTES"
PATCH_ROW=("$(r0 "$(kv rps "$op")")" "$(kv p99_ms "$op")" "$(kv cpu_us "$op")" "$(kv cpu_us "$ok")")

K1_RSS_KB=$(proc_field "$KPID" VmRSS)
K1_HWM_KB=$(proc_field "$KPID" VmHWM)
raw kindling1_after "rss_kb=$K1_RSS_KB hwm_kb=$K1_HWM_KB threads=$(proc_field "$KPID" Threads)"

# ---- figure 4 over HTTPS: the boot storm with one new TLS connection a request ---
# Every request of every node on a connection of its own ("Connection: close"),
# as a booting node's clients do (Ignition's fetch, etcd's registration and
# watches keep nothing across boots: no keep-alive, no session to resume).
# First over plain HTTP (kindling #1; nginx, and nginx proxying to
# discovery.etcd.io), then over HTTPS (a kindling with --tls-cert; nginx with
# the same certificate serving the same bytes and terminating TLS in front of
# discovery.etcd.io), fresh clusters and directories each. What a TLS
# handshake costs the servers is the difference between the two, per
# connection.
# storm_run NAME PIDS LOADGEN-STORM-ARGS... - loadgen storm plus cpu_ms, the
# CPU the server processes PIDS used during it; records the raw line.
storm_run() {
	local name=$1 pids=$2 c0 out
	shift 2
	# shellcheck disable=SC2086
	c0=$(cpu_ms $pids)
	out=$("$LOADGEN" storm "$@") || log "$name: $out"
	# shellcheck disable=SC2086
	out="$out cpu_ms=$(($(cpu_ms $pids) - c0))"
	raw "$name" "$out"
	printf '%s\n' "$out"
}
# conns LINE - the connections a storm opened: requests + reconnects.
conns() { echo $(($(kv requests "$1") + $(kv reconnects "$1"))); }
log "4: boot storm, a new connection per request: over HTTP, then over HTTPS (ECDSA P-256)"
K1PID=$KPID K1LOG=$K_LOG
REF_PIDS="$NGINX_PIDS $REF_DISC_PIDS"
mkdir -p "$W/kt"
storm_prepare nstorm "$K1"
sk=$(storm_run storm_newconn_kindling "$K1PID" --new-conn --config "$K1T" --disc "$K1T" \
	--nodes "$W/k_nstorm.tsv" --timeout 120)
se=$(storm_run storm_newconn_reference "$REF_PIDS" --new-conn --config "127.0.0.1:$NPORT" \
	--disc "127.0.0.1:$NPPORT" --nodes "$W/e_nstorm.tsv" --timeout 180)
if kindling_start kindling-tls "$W/kt/kindling.db" --tls-cert "$TLS/srv.crt" --tls-key "$TLS/srv.key" \
	--tls-ca "$TLS/ca.crt"; then
	KT=$KBASE KTT=127.0.0.1:$KPORT
	storm_prepare tstorm "$KT" "$TLS/ca.crt"
	tk=$(storm_run storm_https_kindling "$KPID" --tls-ca "$TLS/ca.crt" --new-conn --config "$KTT" \
		--disc "$KTT" --nodes "$W/k_tstorm.tsv" --timeout 180)
	te=$(storm_run storm_https_reference "$REF_PIDS" --tls-ca "$TLS/ca.crt" --new-conn \
		--config "127.0.0.1:$NSPORT" --disc "127.0.0.1:$DSPORT" --nodes "$W/e_tstorm.tsv" --timeout 240)
	kindling_stop
fi
KPID=$K1PID K_LOG=$K1LOG
for v in sk se tk te; do [ -n "$(kv secs "${!v:-}")" ] || err "the new-connection storm $v did not run"; done
# us per TLS connection; and per handshake: less the same storm's cost per
# plain connection
TK_HS=$(kv tls_handshakes "${tk:-}") TE_HS=$(kv tls_handshakes "${te:-}")
TK_US=$(per_req "$(kv cpu_ms "${tk:-}")" "$TK_HS") TE_US=$(per_req "$(kv cpu_ms "${te:-}")" "$TE_HS")
SK_US=$(per_req "$(kv cpu_ms "${sk:-}")" "$(conns "${sk:-}")") SE_US=$(per_req "$(kv cpu_ms "${se:-}")" "$(conns "${se:-}")")
hs_us() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print ""; else printf "%.1f", a - b }'; }
HK=$(hs_us "$TK_US" "$SK_US") HE=$(hs_us "$TE_US" "$SE_US")
row 4 "boot storm over HTTPS, $NODES nodes: all done, s" "$(kv secs "${tk:-}")" "$(kv secs "${te:-}")" \
	"$(ratio "$(kv secs "${te:-}")" "$(kv secs "${tk:-}")")" "-" "-"
row 4 "HTTPS storm: nodes failed" "$(kv errors "${tk:-}")" "$(kv errors "${te:-}")" "-" "0" \
	"$(yesno [ "$(kv errors "${tk:-}")" = 0 ])"
row 4 "  server CPU for the whole HTTPS storm, ms" "$(kv cpu_ms "${tk:-}")" "$(kv cpu_ms "${te:-}")" \
	"$(ratio "$(kv cpu_ms "${te:-}")" "$(kv cpu_ms "${tk:-}")")" "-" "-"
row 4 "  TLS handshakes (a new connection a request)" "$TK_HS" "$TE_HS" "-" "-" "-"
# one client thread verifying every certificate: when its CPU is close to the
# storm's time, the time is the load generator's, and the CPU rows count
row 4 "  load generator CPU during it, ms" "$(kv loadgen_cpu_ms "${tk:-}")" "$(kv loadgen_cpu_ms "${te:-}")" \
	"-" "-" "-"
row 4 "  server CPU per TLS connection, us" "$TK_US" "$TE_US" "$(ratio "$TE_US" "$TK_US")" "-" "-"
row 4 "  the same over HTTP, new conns: all done, s" "$(kv secs "${sk:-}")" "$(kv secs "${se:-}")" \
	"$(ratio "$(kv secs "${se:-}")" "$(kv secs "${sk:-}")")" "-" "-"
row 4 "  the same over HTTP: server CPU per conn, us" "$SK_US" "$SE_US" "$(ratio "$SE_US" "$SK_US")" "-" "-"
row 4 "  server CPU per TLS handshake, us (HTTPS - HTTP)" "$HK" "$HE" "$(ratio "$HE" "$HK")" \
	"<= nginx" "$(yesno ge "$HE" "$HK")"

kindling_stop
stop_pid "$NGINX_PID"
stop_pid "$DISC_PID"
stop_pid "$ETCD_PID"

# ---- figures 3 and 6 on PostgreSQL: registrations and creates -----------------
# The same registrations (fresh directories of 99, 64 connections) and
# creates (16 connections) against a kindling on a PostgreSQL of its own,
# initdb'd in the work folder (on disk) with fsync = on and
# synchronous_commit = on: every 201 is flushed to PostgreSQL's WAL. The
# rows compare it with the SQLite figures above and the etcd reference.
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
pg_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PG_PUT_RPS="" PG_PUT_P99="" PG_PUT_CPU="" PG_CREATE_RPS="" PG_CREATE_P99=""
if [ -x "$PG_BIN/initdb" ] && { [ "$(id -u)" != 0 ] || id postgres >/dev/null 2>&1; }; then
	log "3/6 on PostgreSQL (fsync on): $PUT_K registrations x $PUT_PASSES, $CREATES creates"
	mkdir -p "$W/pg"
	[ "$(id -u)" = 0 ] && chown postgres "$W/pg"
	PGPORT=$(free_port)
	if pg_owner "$PG_BIN/initdb" -D "$W/pg/data" -A trust -U kindling -E UTF8 >"$W/pg/initdb.log" 2>&1 &&
		pg_owner "$PG_BIN/pg_ctl" -D "$W/pg/data" -l "$W/pg/log" -w -t 30 -o "-p $PGPORT -k $W/pg \
			-c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c max_connections=100" \
			start >"$W/pg/pg_ctl.log" 2>&1; then
		PG_PID=$(head -1 "$W/pg/data/postmaster.pid")
		PIDS+=("$PG_PID")
		if kindling_start kindling-pg "postgresql://kindling@127.0.0.1:$PGPORT/postgres"; then
			KPT=127.0.0.1:$KPORT
			out=$("$LOADGEN" reqs --target "$KPT" --path '/new?size=99' --count $((PUT_TOKENS * PUT_PASSES)) \
				-c 4 --save "$W/pg_put_urls") || err "kindling on PostgreSQL: cannot allocate the directories: $out"
			for pass in $(seq 1 "$PUT_PASSES"); do
				paths "$W/pg_put_urls" | sed -n "$(((pass - 1) * PUT_TOKENS + 1)),$((pass * PUT_TOKENS))p" \
					>"$W/pg_put_paths_$pass"
				# the CPU of kindling and of PostgreSQL's backends
				o=$(lg_reqs "put_pg_$pass" "$KPID $(pgrep -P "$PG_PID" | tr '\n' ' ')" -- --target "$KPT" \
					--method PUT --path "$PUTQ" --body "$PUTB" --tokens "$W/pg_put_paths_$pass" --count "$PUT_K" \
					-c 64 --expect 201) || err "kindling on PostgreSQL, registrations: $o"
				best_of PG_PUT_RPS "$(kv rps "$o")" max
				best_of PG_PUT_P99 "$(kv p99_ms "$o")" min
				best_of PG_PUT_CPU "$(kv cpu_us "$o")" min
			done
			o=$(lg_reqs creates_pg "$KPID" -- --target "$KPT" --method POST --path /clusters \
				--ctype application/json --body '{"name":"create%d","size":3}' --count "$CREATES" -c 16 \
				--expect 201) || err "kindling on PostgreSQL, creates: $o"
			PG_CREATE_RPS=$(kv rps "$o") PG_CREATE_P99=$(kv p99_ms "$o")
			kindling_stop
		fi
		pg_owner "$PG_BIN/pg_ctl" -D "$W/pg/data" -m fast -w -t 30 stop >/dev/null 2>&1
		stop_pid "$PG_PID"
	else
		err "PostgreSQL did not start: $(tail -3 "$W/pg/initdb.log" "$W/pg/log" 2>/dev/null)"
	fi
else
	log "PostgreSQL is not installed (postgresql): its rows are n/a"
fi
# pg_rows - the PostgreSQL rows, next to the SQLite creates in the table.
pg_rows() {
	row 3 "registrations /s: PostgreSQL (fsync on) vs etcd" "$(r0 "$PG_PUT_RPS")" "$(r0 "$PUT_E_RPS")" \
		"$(ratio "$PG_PUT_RPS" "$PUT_E_RPS")" "-" "-"
	row 3 "  PostgreSQL vs SQLite, /s" "$(r0 "$PG_PUT_RPS")" "$(r0 "$PUT_SQ_RPS")" \
		"$(ratio "$PG_PUT_RPS" "$PUT_SQ_RPS")" "-" "-"
	row 3 "  p99 latency ms: PostgreSQL vs SQLite" "$PG_PUT_P99" "$PUT_SQ_P99" "$(ratio "$PUT_SQ_P99" "$PG_PUT_P99")" "-" "-"
	row 3 "  CPU per registration (kindling + PostgreSQL), us" "$PG_PUT_CPU" "-" "-" "-" "-"
	row 6 "cluster creates/s: PostgreSQL (fsync on) vs GET /new" "$(r0 "$PG_CREATE_RPS")" "$(r0 "$CREATE_E_RPS")" \
		"$(ratio "$PG_CREATE_RPS" "$CREATE_E_RPS")" "-" "-"
	row 6 "  PostgreSQL vs SQLite, /s" "$(r0 "$PG_CREATE_RPS")" "$(r0 "$CREATE_SQ_RPS")" \
		"$(ratio "$PG_CREATE_RPS" "$CREATE_SQ_RPS")" "-" "-"
	row 6 "  p99 latency ms, PostgreSQL" "$PG_CREATE_P99" "-" "-" "-" "-"
}

# ---- kindling #2: 100 000 clusters -> start-up, list latency, long polls ---------
log "6: $NCLUSTERS clusters in the database"
mkdir -p "$W/k2"
DB2="$W/k2/kindling.db"
kindling_start kindling2-migrate "$DB2" && kindling_stop # applies the schema
NOW_MS=$(($(date +%s) * 1000))
sqlite3 "$DB2" >"$W/sqlite.log" 2>&1 <<-EOF || err "cannot fill the database: $(tail -3 "$W/sqlite.log")"
	PRAGMA journal_mode = WAL;
	BEGIN;
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $NCLUSTERS)
	INSERT INTO clusters (id, name, size, profiles, vars, secrets, ignition_version, discovery_mode,
	                      discovery_url, fetch_token, generation, created_at, updated_at)
	SELECT printf('%08x-0000-4000-8000-%012x', i, i), printf('c%07d', i), 3, '["etcd"]', '{}', '{}',
	       '3.3.0', 'builtin', printf('http://127.0.0.1:1/discovery/%032x', i),
	       lower(hex(randomblob(32))), 1, $NOW_MS + i, $NOW_MS + i FROM n;
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $NCLUSTERS)
	INSERT INTO discovery_tokens (token, size, cluster_id, last_index, created_at)
	SELECT printf('%032x', i), 3, printf('%08x-0000-4000-8000-%012x', i, i), 1, $NOW_MS FROM n;
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $WATCH_TOKENS)
	INSERT INTO discovery_tokens (token, size, cluster_id, last_index, created_at)
	SELECT printf('ee%030x', i), 2, NULL, 1, $NOW_MS FROM n;
	.read $ROOT/tests/e2e/fixtures/generations_of_rows.sql
	COMMIT;
EOF
awk -v n="$WATCH_TOKENS" 'BEGIN { for (i = 1; i <= n; i++) printf "/discovery/ee%030x\n", i }' >"$W/w_paths"
kindling_start kindling2 "$DB2" || exit 1
STARTUP_MS=$(awk -v s="$K_START_SECS" 'BEGIN { printf "%.1f", s * 1000 }')
K2_RSS_KB=$(proc_field "$KPID" VmRSS)
K2=$KBASE
K2T=127.0.0.1:$KPORT
N=$(curl -s "$K2/healthz" | jq -r .clusters)
[ "$N" = "$NCLUSTERS" ] || err "kindling counts $N clusters, not $NCLUSTERS"

log "6: GET /clusters?limit=100 with $NCLUSTERS clusters, wrk -c8 -t2 -d${LIST_DUR}s"
o=$(wrk_run list_json "$K2/clusters?limit=100" -c8 -t2 -d"${LIST_DUR}s" -H 'Accept: application/json')
[ "$(kv errors "$o")" = 0 ] || err "GET /clusters?limit=100: errors: $o"
LIST=("$(kv p50_ms "$o")" "$(kv p99_ms "$o")" "$(r0 "$(kv rps "$o")")")
o=$(wrk_run list_json_1 "$K2/clusters?limit=100" -c1 -t1 -d"${LIST_DUR}s" -H 'Accept: application/json')
LIST1=("$(kv p50_ms "$o")" "$(kv p99_ms "$o")")
HTML=(n/a n/a n/a)
HTML1=(n/a n/a)
for p in / /clusters; do
	ct=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' -H 'Accept: text/html' "$K2$p")
	case "$ct" in
	"200 text/html"*)
		o=$(wrk_run list_html "$K2$p" -c8 -t2 -d"${LIST_DUR}s" -H 'Accept: text/html')
		[ "$(kv errors "$o")" = 0 ] || err "HTML list $p: errors: $o"
		HTML=("$(kv p50_ms "$o")" "$(kv p99_ms "$o")" "$p")
		o=$(wrk_run list_html_1 "$K2$p" -c1 -t1 -d"${LIST_DUR}s" -H 'Accept: text/html')
		HTML1=("$(kv p50_ms "$o")" "$(kv p99_ms "$o")")
		break
		;;
	esac
done

# ---- figure 5: 10 000 parked watches -------------------------------------------------
NW=$((WATCH_TOKENS * WATCH_PER_TOKEN))
log "5: $NW watchers on $WATCH_TOKENS directories of size 2"
o=$("$LOADGEN" reqs --target "$K2T" --method PUT --path "$PUTQ" --body "$PUTB" --tokens "$W/w_paths" \
	--count "$WATCH_TOKENS" -c 64 --expect 201) || err "first registrations: $o"
W_BEFORE_KB=$(proc_field "$KPID" VmRSS)
raw kindling2_before_watch "rss_kb=$W_BEFORE_KB threads=$(proc_field "$KPID" Threads)"
ow=$("$LOADGEN" watch --disc "$K2T" --tokens "$W/w_paths" --per-token "$WATCH_PER_TOKEN" --pid "$KPID" \
	--metrics /metrics --timeout 60) || err "watchers: $ow"
raw watch "$ow"
W_RSS=$(kv rss_kb_0 "$ow")
W_THREADS=$(kv threads_0 "$ow")
W_REL=$(kv release_secs "$ow")
raw kindling2_after "rss_kb=$(proc_field "$KPID" VmRSS) hwm_kb=$(proc_field "$KPID" VmHWM) threads=$(proc_field "$KPID" Threads)"
kindling_stop

# ---- the table -----------------------------------------------------------------------
row 5 "$NW watchers held: RSS MB" "$(mb "$W_RSS")" "-" "-" "< 64 MB" "$(yesno ge 65536 "$W_RSS")"
row 5 "  RSS before the watchers, MB" "$(mb "$W_BEFORE_KB")" "-" "-" "-" "-"
row 5 "  per watcher, KB" "$(awk -v a="$W_RSS" -v b="$W_BEFORE_KB" -v n="$NW" 'BEGIN { printf "%.1f", (a - b) / n }')" "-" "-" "-" "-"
row 5 "$NW watchers held: threads" "$W_THREADS" "-" "-" "no thread per waiter" \
	"$(yesno ge "$IDLE_THREADS" "$W_THREADS")"
row 5 "all $NW released after the completing PUTs, s" "$W_REL" "-" "-" "< 1 s" \
	"$(yesno ge 1 "${W_REL:-99}")"
row 5 "  longest wait of one directory's watchers, ms" "$(kv max_dir_ms "$ow")" "-" "-" "-" "-"
row 5 "  kindling CPU during the release, ms" "$(kv release_cpu_ms_0 "$ow")" "-" "-" "-" "-"
row 6 "idle RSS after start, MB (ref: etcd + discovery)" "$(mb "$IDLE_KB")" "$(mb "$REF_IDLE_KB")" \
	"$(ratio "$REF_IDLE_KB" "$IDLE_KB")" "< 8 MB" "$(yesno ge 8192 "$IDLE_KB")"
row 6 "start-up to first answer, $NCLUSTERS clusters, ms" "$STARTUP_MS" "-" "-" "< 200 ms" \
	"$(yesno ge 200 "$STARTUP_MS")"
row 6 "  RSS after start with $NCLUSTERS clusters, MB" "$(mb "$K2_RSS_KB")" "-" "-" "-" "-"
row 6 "cluster creates/s, 16 conns (ref: GET /new)" "${CREATE_ROW[0]}" "${CREATE_ROW[1]}" "${CREATE_ROW[2]}" "-" "-"
row 6 "  p99 latency ms" "${CREATE_ROW[3]}" "${CREATE_ROW[4]}" "$(ratio "${CREATE_ROW[4]}" "${CREATE_ROW[3]}")" "-" "-"
row 6 "  server CPU per create (with its generation 1), us" "${PATCH_ROW[3]}" "-" "-" "-" "-"
row 6 "PATCH vars/s, a new generation each, 16 conns" "${PATCH_ROW[0]}" "-" "-" "-" "-"
row 6 "  p99 latency ms / server CPU per PATCH, us" "${PATCH_ROW[1]} / ${PATCH_ROW[2]}" "-" "-" "-" "-"
row 6 "  bytes stored per generation (inputs + change)" "${GEN_BYTES:-?}" "-" "-" "-" "-"
pg_rows
row 6 "GET /clusters?limit=100 p50 / p99 ms, 1 client" "${LIST1[0]} / ${LIST1[1]}" "-" "-" "-" "-"
row 6 "  the same, 8 clients at once" "${LIST[0]} / ${LIST[1]}" "-" "-" "-" "-"
# ---- figure 7: 1 000 open event streams ----------------------------------------------
# Streams of one cluster's events (GET /clusters/NAME/events), held open by
# bench/sse_hold.py: kindling's RSS and threads while they are held, the
# stream past --max-event-streams refused, and again after they closed
# (a closed stream is found at its next keep-alive: --event-keepalive 2), a
# second round of N showing the memory is reused, not grown.
log "7: $NSTREAMS event streams held open"
mkdir -p "$W/k3"
S_ROW=()
if kindling_start kindling3 "$W/k3/kindling.db" --event-keepalive 2 --max-event-streams "$NSTREAMS"; then
	curl -sf -X POST "$KBASE/clusters" -H 'Content-Type: application/json' \
		-d '{"name":"streams","size":3}' >/dev/null || err "cannot create the streams cluster"
	o1=$(python3 "$ROOT/bench/sse_hold.py" --target "127.0.0.1:$KPORT" --cluster streams \
		--count "$NSTREAMS" --pid "$KPID") || err "event streams (first round): $o1"
	raw streams_1 "$o1"
	o2=$(python3 "$ROOT/bench/sse_hold.py" --target "127.0.0.1:$KPORT" --cluster streams \
		--count "$NSTREAMS" --pid "$KPID") || err "event streams (second round): $o2"
	raw streams_2 "$o2"
	S_ROW=("$(kv rss_kb "$o1")" "$(kv rss_kb_before "$o1")" "$(kv per_stream_kb "$o1")" "$(kv threads "$o1")"
		"$(kv extra_status "$o1")" "$(kv rss_kb "$o2")" "$(kv open_after "$o2")")
	kindling_stop
fi

if [ "${HTML[0]}" = n/a ]; then
	row 6 "HTML list page p50 / p99 ms (none yet)" "n/a" "-" "-" "-" "-"
else
	row 6 "HTML list page (GET ${HTML[2]}) p50 / p99 ms, 1 client" "${HTML1[0]} / ${HTML1[1]}" "-" "-" "-" "-"
	row 6 "  the same, 8 clients at once" "${HTML[0]} / ${HTML[1]}" "-" "-" "-" "-"
fi

row 7 "$NSTREAMS event streams held: RSS MB" "$(mb "${S_ROW[0]:-}")" "-" "-" "< 64 MB" "$(awk -v a="${S_ROW[0]:-}" 'BEGIN { print (a != "" && a + 0 < 65536) ? "yes" : "NO" }')"
row 7 "  RSS before the streams, MB" "$(mb "${S_ROW[1]:-}")" "-" "-" "-" "-"
row 7 "  per stream, KB" "${S_ROW[2]:-}" "-" "-" "-" "-"
row 7 "  threads while held" "${S_ROW[3]:-}" "-" "-" "no thread per stream" "-"
row 7 "  stream $((NSTREAMS + 1)): status" "${S_ROW[4]:-}" "-" "-" "503 (bounded)" "$([ "${S_ROW[4]:-}" = 503 ] && echo yes || echo NO)"
row 7 "  RSS after a second round of $NSTREAMS, MB" "$(mb "${S_ROW[5]:-}")" "-" "-" "reused, not grown" "-"

LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
SECS=$(($(date +%s) - START))
{
	printf '\nkindling benchmark (%s; %s CPUs; load average %s at start, %s at end; %ss%s)\n' \
		"$STAMP" "$(nproc)" "$LOAD0" "$LOAD1" "$SECS" "$([ "$QUICK" = 1 ] && echo '; QUICK: smoke only, not figures')"
	printf 'ratio: how many times better kindling is (> 1: kindling wins); reference: nginx for configs, discovery.etcd.io + etcd for discovery\n'
	printf 'kindling --threads %s (0: one per CPU); nginx worker_processes auto\n\n' "$KTHREADS"
	printf '%-3s %-52s %14s %14s %7s %-22s %s\n' "#" figure kindling reference ratio target "met?"
	printf '%s\n' "$(printf '%.0s-' $(seq 1 124))"
	while IFS="$(printf '\t')" read -r id fig k r ra t m; do
		printf '%-3s %-52s %14s %14s %7s %-22s %s\n' "$id" "$fig" "$k" "$r" "$ra" "$t" "$m"
	done <"$ROWS"
} | tee "$W/table.txt"

mkdir -p "$RESULTS"
OUT="$RESULTS/$STAMP.json"
{
	printf '{"timestamp":"%s","git":"%s","quick":%s,"cpus":%s,"load_start":"%s","load_end":"%s","seconds":%s,' \
		"$STAMP" "$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo -dirty)" \
		"$([ "$QUICK" = 1 ] && echo true || echo false)" "$(nproc)" "$LOAD0" "$LOAD1" "$SECS"
	printf '"errors":%s,"config_bytes":%s,"kindling_threads":%s,\n"figures":[\n' "$ERRORS" "${CONFIG_BYTES:-0}" "$KTHREADS"
	awk -F'\t' 'function q(s) { gsub(/["\\]/, "", s); return "\"" s "\"" }
		{ printf "%s{\"id\":%s,\"figure\":%s,\"kindling\":%s,\"reference\":%s,\"ratio\":%s,\"target\":%s,\"met\":%s}\n",
			(NR > 1 ? "," : ""), $1, q($2), q($3), q($4), q($5), q($6), q($7) }' "$ROWS"
	printf '],\n"raw":[\n'
	awk 'NR > 1 { printf "," } { print }' "$RAW"
	printf ']}\n'
} >"$OUT"
jq empty "$OUT" 2>/dev/null || err "the results file is not valid JSON"
echo
echo "raw results: $OUT"
if [ "$ERRORS" -ne 0 ]; then
	echo "bench: $ERRORS error(s): some figures are not valid (see ERROR lines above)"
	exit 1
fi
