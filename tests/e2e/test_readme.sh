#!/usr/bin/env bash
# test_readme.sh - runs every command of the README's ```sh blocks, verbatim
# but for the port, against a fresh kindling: the examples must keep working.
source "$(dirname "$0")/lib.sh"

# Join continuation lines, keep the commands of ```sh blocks.
awk '/^```sh$/ {on=1; next} /^```$/ {on=0} on' README.md |
	sed -e :a -e '/\\$/N; s/\\\n//; ta' | grep -v '^#' | grep -v '^$' >"$T/commands"
# one check per README command, counted before any runs: the README is the data
NCMD=$(wc -l <"$T/commands")
plan $((NCMD + 3))
kindling_start || exit 1
# curl fails on HTTP errors here, so an example that stopped working fails.
curl() { command curl --fail-with-body "$@"; }
export -f curl
check "the README has runnable examples ($NCMD, at least 15)" [ "$NCMD" -ge 15 ]
n=0
while IFS= read -r cmd; do
	n=$((n + 1))
	cmd=${cmd//127.0.0.1:8080/127.0.0.1:$PORT}
	if bash -o pipefail -c "$cmd" >"$T/out.$n" 2>&1 </dev/null; then
		pass "README example $n: ${cmd:0:70}"
	else
		fail "README example $n: $cmd: $(head -c 300 "$T/out.$n")"
	fi
	# keep TOKEN-style assignments for the following lines
	case "$cmd" in [A-Z]*=*) eval "export $cmd" ;; esac
done <"$T/commands"
kindling_stop
finish
