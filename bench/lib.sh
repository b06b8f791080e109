# shellcheck shell=bash
# bench/lib.sh - what the bench scripts (tls.sh, grpc.sh) share. Source it
# from bash, then `bench_init NAME`: the work folder $W
# (/var/tmp/kindling-bench-NAME.XXXXXX), removed at exit unless BENCH_KEEP=1;
# every PID added to PIDS is stopped (SIGTERM, then waited for) at exit.

bench_init() {
	W=$(mktemp -d "/var/tmp/kindling-bench-$1.XXXXXX") || exit 2
	PIDS=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

bench_cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ "${BENCH_KEEP:-0}" = 1 ] && echo "# kept $W" >&2 || rm -rf "$W"
}

# free_port - a TCP port from 20000-31999 nothing listens on and this run
# has not handed out before.
USED=" "
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		case "$USED" in *" $p "*) continue ;; esac
		[ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ] && { USED="$USED$p "; echo "$p"; return; }
	done
}

# ratio A B - A / B with two decimals, "-" when either is missing or B is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
