#!/bin/sh
# need-debs.sh PKG... - installs the Debian packages that are missing when run
# as root; otherwise lists them and fails. "Missing" is dpkg's view, never
# PATH's: a binary installed some other way (a node in /usr/local/bin, a
# pyenv python3) does not stand in for a package. A package counts as there
# when dpkg has it installed, or when an installed package Provides it (then
# the provider is named, e.g. npm provided by a nodejs that is not Debian's).
missing=""
# provider PKG - prints "NAME VERSION" of an installed package that Provides PKG.
provider() {
	dpkg-query -W -f='${Status}\t${Package} ${Version}\t${Provides}\n' 2>/dev/null |
		awk -F'\t' -v p="$1" '$1 ~ /ok installed/ {
			n = split($3, a, /, */)
			for (i = 1; i <= n; i++) { sub(/ .*/, "", a[i]); if (a[i] == p) { print $2; exit } }
		}'
}
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" && continue
	by=$(provider "$p")
	if [ -n "$by" ]; then
		echo "need-debs: $p is provided by the installed package $by" >&2
		continue
	fi
	missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	echo "installing:$missing"
	log=$(mktemp)
	if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing; } >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		rm -f "$log"
		echo "apt-get install$missing failed" >&2
		exit 1
	fi
	rm -f "$log"
else
	echo "missing Debian packages:$missing" >&2
	echo "install them with: sudo apt-get install$missing" >&2
	exit 1
fi
