#!/usr/bin/env bash
# test_fuzz_smoke.sh - the fuzz targets cannot rot: builds every libFuzzer
# target of the Makefile's FUZZ_TARGETS (make fuzz-build, clang) and runs each
# for FUZZ_SMOKE_SECONDS (default 3) on its seeds and working corpus through
# tests/fuzz/run.sh: one check per target, a FAIL on a crash, leak, timeout or
# a target that does not build. Long runs are make fuzz's (tests/fuzz/README.md).
# Needs clang and the libFuzzer runtime (Debian: clang libclang-rt-14-dev).
# timeout: 900
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
TEST_NAME=test_fuzz_smoke
# shellcheck source=../report.sh
source tests/report.sh
SECS=${FUZZ_SMOKE_SECONDS:-3}
mk() { env -u MAKEFLAGS -u MFLAGS make --no-print-directory "$@"; }
read -r -a TARGETS <<<"$(mk -s print-fuzz-targets)"
plan $((1 + ${#TARGETS[@]}))
[ "${#TARGETS[@]}" -gt 0 ] || fail "the Makefile names fuzz targets (make print-fuzz-targets)"
require_tool clang
T=$(mktemp -d /tmp/kindling-test_fuzz_smoke.XXXXXX)
trap 'st=$?; rm -rf "$T"; report_exit $st' EXIT
# -fsanitize=fuzzer links only with the libFuzzer runtime
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }\n' >"$T/probe.c"
if ! clang -fsanitize=fuzzer -o "$T/probe" "$T/probe.c" >"$T/probe.log" 2>&1; then
	cat "$T/probe.log" >&2
	if in_ci; then
		fail "clang links -fsanitize=fuzzer (the libFuzzer runtime, Debian libclang-rt-14-dev): CI must run the fuzz smoke test"
		NOTRUN=$((NOTRUN + ${#TARGETS[@]}))
		exit 1
	fi
	skip_rest "needs the libFuzzer runtime (Debian: libclang-rt-14-dev)"
fi

if mk -s -j2 fuzz-build >"$T/build.log" 2>&1; then
	pass "make fuzz-build builds ${TARGETS[*]}"
else
	tail -30 "$T/build.log"
	fail "make fuzz-build builds ${TARGETS[*]}"
fi
for t in "${TARGETS[@]}"; do
	if out=$(FUZZ_SECONDS=$SECS sh tests/fuzz/run.sh "$t" 2>&1); then
		pass "$(printf '%s\n' "$out" | sed -n 's/^PASS //p' | head -1)"
	else
		printf '%s\n' "$out" | grep -v '^FAIL ' >&2
		fail "fuzz_$t for ${SECS}s: $(printf '%s\n' "$out" | sed -n 's/^FAIL fuzz_//p' | head -1)"
	fi
done
