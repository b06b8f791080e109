#!/bin/sh
# kindling-valgrind.sh - runs the release kindling under valgrind's memcheck;
# use it as KINDLING_BIN for the end-to-end tests (it takes kindling's flags):
#
#   make build/kindling
#   KINDLING_BIN=tests/valgrind/kindling-valgrind.sh sh tests/run.sh tests/e2e/test_clusters.sh
#   grep -h 'definitely lost' /tmp/kindling-valgrind.*.log
#
# One log per kindling process: $KINDLING_VALGRIND_LOGDIR (default /tmp)/
# kindling-valgrind.PID.log, so the kindling log lib.sh reads (for "listening
# on") stays clean. A process that exits on SIGTERM with a "definitely lost"
# block or a memory error exits 99, which lib.sh's kindling_stop reports as a
# FAIL; a process killed with -9 leaves a log without a leak summary.
# KINDLING_VALGRIND_BIN picks another binary (default build/kindling; never
# the ASan build: ASan and valgrind do not mix).
bin=${KINDLING_VALGRIND_BIN:-build/kindling}
logdir=${KINDLING_VALGRIND_LOGDIR:-/tmp}
case $bin in
*asan*) echo "kindling-valgrind.sh: $bin is a sanitizer build; use build/kindling" >&2; exit 2 ;;
esac
exec valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect \
	--errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=30 \
	--log-file="$logdir/kindling-valgrind.%p.log" "$bin" "$@"
