#!/bin/sh
# check-layers.sh - the dependencies point one way (make lint runs it):
#  1. only the HTTP glue, the handlers and main include http.h or api.h;
#  2. no handler file calls a handler function of another one (api_common.c
#     and the route table excepted): no cycle among them;
#  3. no handler drops a cache, flushes the fetch log or tells discovery by
#     hand: committed changes reach those through events (events.h).
# Prints each violation; exits 1 on any.
cd "$(dirname "$0")/.." || exit 2
bad=0
for f in server/*.c server/*.h; do
	case $f in
	server/http.c | server/http_errors.c | server/main.c | server/routes.c | server/api*.c | server/api.h) ;;
	*)
		if grep -Eq '#include "(http|api)\.h"' "$f"; then
			echo "check-layers: $f includes http.h or api.h (only the routes may)"
			bad=1
		fi
		;;
	esac
done
# handler functions, by the file that defines them
defs=$(mktemp)
trap 'rm -f "$defs"' EXIT
for f in server/api_*.c; do
	sed -n 's/^[a-z].* \**\(api_[a-z_]*\)(.*/\1/p' "$f" | sed "s|\$| $f|"
done >"$defs"
for f in server/api_*.c; do
	[ "$f" = server/api_common.c ] && continue
	while read -r fn where; do
		[ "$where" = "$f" ] || [ "$where" = server/api_common.c ] && continue
		if grep -q "\b$fn(" "$f"; then
			echo "check-layers: $f calls $fn of $where (handlers call the layers below, not each other)"
			bad=1
		fi
	done <"$defs"
done
if grep -nE '^[[:space:]].*\b(fetchlog_flush|confcache_on_event|discovery_forget|discovery_on_event)\(' server/api_*.c; then
	echo "check-layers: a handler drops a copy by hand (above); publish an event instead"
	bad=1
fi
exit $bad
