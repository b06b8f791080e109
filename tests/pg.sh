# pg.sh - a throw-away PostgreSQL for the tests (../shared reference: initdb
# into a temporary folder, as the postgres user when run as root, listening
# on 127.0.0.1 and a unix socket in that folder, on a free port). Source it
# from bash, then:
#
#   pg_start        starts one (bounded waits); exports KINDLING_TEST_PG_URL
#                   (postgresql://kindling@127.0.0.1:PORT/postgres, trust
#                   authentication), KINDLING_TEST_PG_DIR and PG_PID
#   pg_newdb NAME   creates the empty database NAME ([a-z0-9_]) and prints its URL
#   pg_stop         stops the one pg_start started (by its PID) and removes its folder
#
# or run it: "bash tests/pg.sh start" prints the export lines for a shell
# (eval them), "bash tests/pg.sh stop" stops what KINDLING_TEST_PG_DIR names.
# Plain sh (tests/run.sh sources it too). The server runs with fsync=off: the tests crash kindling, never the
# machine, and a test database is thrown away anyway.
# shellcheck shell=bash
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

# pg_missing - prints what pg_start needs and is not installed; false when nothing is missing.
pg_missing() {
	local m=""
	[ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] || m="postgresql (initdb, pg_ctl)"
	command -v psql >/dev/null 2>&1 || m="${m:+$m, }psql"
	if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then m="${m:+$m, }the postgres user"; fi
	[ -n "$m" ] && echo "$m"
}

# pg_as_owner CMD... - runs CMD as the postgres user when root (initdb and
# postgres refuse root), else as ourselves.
pg_as_owner() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_free_port - a TCP port no socket uses, in 10000..19999: below the
# kernel's ephemeral range (32768 and up), where every client connection
# takes its local port (a load of 10 000 connections on the machine made
# three picks in a row collide with one), and apart from lib_etcd.sh's
# 20000..31999.
pg_free_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((10000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 10000))
		ss -Htan "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return 0; }
	done
	return 1
}

pg_start() {
	local d port i
	[ -z "$(pg_missing)" ] || { echo "pg_start: missing $(pg_missing)" >&2; return 1; }
	d=$(mktemp -d /tmp/kindling-pg.XXXXXX) || return 1
	chmod 0755 "$d"
	if [ "$(id -u)" = 0 ]; then chown postgres "$d"; fi
	if ! pg_as_owner "$PG_BIN/initdb" -D "$d/data" -A trust -U kindling -E UTF8 --no-sync \
		>"$d/initdb.log" 2>&1; then
		echo "pg_start: initdb failed:" >&2
		cat "$d/initdb.log" >&2
		rm -rf "$d"
		return 1
	fi
	for i in 1 2 3; do
		port=$(pg_free_port) || break
		if pg_as_owner "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/log" -w -t 30 \
			-o "-p $port -k $d -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
			start >"$d/pg_ctl.log" 2>&1; then
			KINDLING_TEST_PG_DIR=$d
			PG_PID=$(head -1 "$d/data/postmaster.pid")
			KINDLING_TEST_PG_URL="postgresql://kindling@127.0.0.1:$port/postgres"
			export KINDLING_TEST_PG_URL KINDLING_TEST_PG_DIR PG_PID
			return 0
		fi
	done
	echo "pg_start: the server did not start:" >&2
	cat "$d/pg_ctl.log" "$d/log" >&2 2>/dev/null
	rm -rf "$d"
	return 1
}

pg_newdb() {
	local name=$1
	case $name in *[!a-z0-9_]* | "") echo "pg_newdb: bad name $name" >&2; return 1 ;; esac
	psql "$KINDLING_TEST_PG_URL" -Atq -v ON_ERROR_STOP=1 -c "CREATE DATABASE $name" >/dev/null || return 1
	echo "${KINDLING_TEST_PG_URL%/*}/$name"
}

pg_stop() {
	local d=${KINDLING_TEST_PG_DIR:-} pid i
	[ -n "$d" ] && [ -d "$d/data" ] || return 0
	pid=${PG_PID:-$(head -1 "$d/data/postmaster.pid" 2>/dev/null)}
	pg_as_owner "$PG_BIN/pg_ctl" -D "$d/data" -m fast -w -t 30 stop >/dev/null 2>&1
	if [ -n "$pid" ]; then
		for i in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
	fi
	rm -rf "$d"
	unset KINDLING_TEST_PG_URL KINDLING_TEST_PG_DIR PG_PID
}

case $0 in
*pg.sh)
	case ${1:-} in
	start)
		pg_start || exit 1
		echo "export KINDLING_TEST_PG_URL='$KINDLING_TEST_PG_URL' KINDLING_TEST_PG_DIR='$KINDLING_TEST_PG_DIR' PG_PID='$PG_PID'"
		;;
	stop) pg_stop ;;
	*)
		echo "usage: bash tests/pg.sh start|stop" >&2
		exit 2
		;;
	esac
	;;
esac
