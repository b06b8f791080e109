#!/bin/bash
# bench/tls.sh - HTTPS: kindling against nginx with the same certificate and
# the same config bytes, side by side in one run. For ECDSA P-256 and RSA
# 2048 certificates, TLS 1.2 and 1.3: server CPU per new connection with a
# full handshake (openssl s_time -new: no resumption, as a booting node) and
# with a resumed one (-reuse: session tickets), connections/s, and
# keep-alive HTTPS req/s (wrk). `make bench` runs it after run.sh.
#
#   sh bench/tls.sh              (about a minute)
#   BENCH_QUICK=1 sh bench/tls.sh  one second a figure: a smoke run
#
# CPU: user + system of the server processes from /proc (kindling's one
# process; nginx's master and workers) divided by the connections completed.
# ratio: how many times better kindling is (> 1: kindling wins).
# (make bench runs it with sh: bash re-executes itself, as run.sh does)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
KINDLING_BIN=${KINDLING_BIN:-build/kindling}
case "$KINDLING_BIN" in /*) ;; *) KINDLING_BIN=$ROOT/$KINDLING_BIN ;; esac
QUICK=${BENCH_QUICK:-0}
DUR=3 KDUR=5
[ "$QUICK" = 1 ] && DUR=1 KDUR=1
for c in openssl nginx wrk curl jq ss; do
	command -v "$c" >/dev/null || { echo "bench/tls: $c is missing" >&2; exit 2; }
done
[ -x "$KINDLING_BIN" ] || { echo "bench/tls: $KINDLING_BIN is missing: make build/kindling" >&2; exit 2; }
. bench/lib.sh
bench_init tls
chmod 755 "$W"
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu_ms() {
	local p t=0 v
	for p in "$@"; do
		v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')
		t=$((t + ${v:-0}))
	done
	echo $((t * 1000 / CLK_TCK))
}
ROWS=$W/rows
: >"$ROWS"
row() { printf '%-58s %12s %12s %7s\n' "$@" >>"$ROWS"; }

(
	cd "$W" || exit 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec.key -out ec.crt \
		-days 7 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.crt \
		-days 7 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1
) >"$W/openssl.log" 2>&1 || { echo "bench/tls: cannot make certificates" >&2; exit 1; }

# sess LABEL PIDS HOSTPORT PATH MODE VERSION - prints "conns cpu_us_per_conn conns_per_s"
sess() {
	local pids=$2 c0 c1 out n
	c0=$(cpu_ms $pids)
	out=$(openssl s_time -connect "$3" "-$5" "-$6" -time "$DUR" -www "$4" 2>&1 </dev/null)
	c1=$(cpu_ms $pids)
	n=$(printf '%s\n' "$out" | sed -n 's/^\([0-9]*\) connections in [0-9.]* real seconds.*/\1/p' | tail -1)
	awk -v n="${n:-0}" -v ms=$((c1 - c0)) -v d="$DUR" 'BEGIN { if (n > 0) printf "%d %.0f %.0f\n", n, ms * 1000 / n, n / d; else print "0 - -" }'
}

for kind in ec rsa; do
	KP=$(free_port) NP=$(free_port)
	mkdir -p "$W/$kind/db" "$W/$kind/root/c"
	"$KINDLING_BIN" --listen "127.0.0.1:$KP" --db "$W/$kind/db/k.db" --templates "$ROOT/templates" \
		--threads 1 --tls-cert "$W/$kind.crt" --tls-key "$W/$kind.key" 2>"$W/$kind/kindling.log" >/dev/null &
	KPID=$!
	PIDS+=($KPID)
	for _ in $(seq 1 100); do curl -sk -o /dev/null "https://127.0.0.1:$KP/healthz" && break; sleep 0.1; done
	curl -sk -X POST "https://127.0.0.1:$KP/clusters" -H 'Content-Type: application/json' \
		-d '{"name":"bench","size":3}' >"$W/$kind/bench.json"
	AUTH=$(jq -r '.pointer.ignition.config.replace.httpHeaders[0].value' "$W/$kind/bench.json")
	TOK=${AUTH#Bearer }
	KPATH="/clusters/bench/ignition?token=$TOK"
	curl -sk "https://127.0.0.1:$KP$KPATH" >"$W/$kind/root/c/ign"
	chmod -R a+rX "$W"
	cat >"$W/$kind/nginx.conf" <<-EOF
		worker_processes auto;
		pid $W/$kind/nginx.pid;
		error_log $W/$kind/nginx-error.log warn;
		daemon off;
		events { worker_connections 8192; }
		http {
		    access_log off;
		    sendfile on;
		    keepalive_timeout 65;
		    keepalive_requests 1000000;
		    default_type application/vnd.coreos.ignition+json;
		    client_body_temp_path $W/$kind; proxy_temp_path $W/$kind; fastcgi_temp_path $W/$kind;
		    uwsgi_temp_path $W/$kind; scgi_temp_path $W/$kind;
		    server {
		        listen 127.0.0.1:$NP ssl backlog=4096;
		        ssl_protocols TLSv1.2 TLSv1.3;
		        ssl_certificate $W/$kind.crt;
		        ssl_certificate_key $W/$kind.key;
		        root $W/$kind/root;
		    }
		}
	EOF
	nginx -c "$W/$kind/nginx.conf" -e "$W/$kind/nginx-error.log" 2>"$W/$kind/nginx.stderr" >/dev/null &
	NPID=$!
	PIDS+=($NPID)
	sleep 0.5
	NPIDS="$NPID $(pgrep -P "$NPID" | tr '\n' ' ')"
	if ! curl -sk "https://127.0.0.1:$NP/c/ign" | cmp -s - "$W/$kind/root/c/ign"; then
		echo "bench/tls: nginx does not serve the same bytes ($kind)" >&2
		exit 1
	fi
	BYTES=$(wc -c <"$W/$kind/root/c/ign")
	for v in tls1_2 tls1_3; do
		for m in new reuse; do
			read -r kn kc kr < <(sess k "$KPID" "127.0.0.1:$KP" "$KPATH" "$m" "$v")
			read -r nn nc nr < <(sess n "$NPIDS" "127.0.0.1:$NP" /c/ign "$m" "$v")
			what=full
			[ "$m" = reuse ] && what=resumed
			row "$kind $v $what handshake: server CPU per conn, us" "$kc" "$nc" "$(ratio "$nc" "$kc")"
			row "  conns/s (one client, sequential)" "$kr" "$nr" "$(ratio "$kr" "$nr")"
		done
	done
	# keep-alive HTTPS, the same bytes
	k=$(wrk -t1 -c16 -d"${KDUR}s" "https://127.0.0.1:$KP$KPATH" 2>&1 | awk '/Requests\/sec/ {print $2}')
	n=$(wrk -t1 -c16 -d"${KDUR}s" "https://127.0.0.1:$NP/c/ign" 2>&1 | awk '/Requests\/sec/ {print $2}')
	row "$kind keep-alive HTTPS req/s ($BYTES B, wrk -c16)" "${k%.*}" "${n%.*}" "$(ratio "$k" "$n")"
	kill -TERM "$KPID" "$NPID"
	wait "$KPID" "$NPID" 2>/dev/null
done

printf '\nkindling HTTPS vs nginx (%s CPUs, load %s%s); ratio > 1: kindling wins\n' "$(nproc)" \
	"$(cut -d' ' -f1-3 /proc/loadavg)" "$([ "$QUICK" = 1 ] && echo '; QUICK: smoke only')"
printf '%-58s %12s %12s %7s\n' figure kindling nginx ratio
printf '%s\n' "$(printf '%.0s-' $(seq 1 92))"
cat "$ROWS"
