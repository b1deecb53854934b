#!/bin/bash
# SPDX-License-Identifier: MIT
# Real programs from Debian give byte-identical stdout and the same exit
# status untracked, traced by a consumer (`memscope record`, full and
# tiered), and preloaded with no consumer running.
#
# usage: real_programs.sh MEMSCOPE LIBMEMSCOPE
set -u
CLI=$1
AGENT=$2
TMP=$(mktemp -d /tmp/ms-real-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
unset LD_PRELOAD MEMSCOPE_SESSION MEMSCOPE_SOCKET MEMSCOPE_SAMPLING \
	MEMSCOPE_STACK_DEPTH MEMSCOPE_RING_KB MEMSCOPE_ON_FULL
export MEMSCOPE_AGENT=$AGENT
PY=/usr/bin/python3
failures=0

# 200,000 pseudo-random lines, the same every run.
awk 'BEGIN { srand(1); for (i = 0; i < 200000; i++)
	printf "%d %s\n", int(rand() * 1e6), substr("abcdefghij", 1 + i % 10) }' \
	>"$TMP/lines"

cases=(
	"perl -e 'my %h; \$h{\$_} = q(x) x (\$_ % 97) for 1..200000; my @k = sort { \$a <=> \$b } keys %h; print scalar(@k), qq( @k[0..4]\n)'"
	"perl -e 'print qq(bye\n); exit 3'"
	"$PY -c 'import json; d = {str(i): list(range(i % 50)) for i in range(20000)}; s = json.dumps(d, sort_keys=True); print(len(s), s[:60])'"
	"$PY -c 'import sys; print(sum(len(str(i)) for i in range(300000))); sys.exit(5)'"
	"sort $TMP/lines"
	"sort -n -k1,1 -k2 $TMP/lines"
	"sort -u -k2 $TMP/lines"
	"sort $TMP/does-not-exist"
)

run() { # name, then the command line; stdout -> $TMP/name.out, status echoed
	local name=$1
	shift
	bash -c "$*" >"$TMP/$name.out" 2>"$TMP/$name.err"
	echo $?
}

i=0
for c in "${cases[@]}"; do
	i=$((i + 1))
	want=$(run plain "$c")
	full=$(run full "$CLI record --out $TMP/a$i-full --sampling full -- $c")
	tier=$(run tiered "$CLI record --out $TMP/a$i-tiered --sampling tiered -- $c")
	none=$(MEMSCOPE_SOCKET=$TMP/nobody.sock LD_PRELOAD=$AGENT run none "$c")
	ok=1
	for mode in full tiered none; do
		got=$full
		[ $mode = tiered ] && got=$tier
		[ $mode = none ] && got=$none
		if [ "$got" != "$want" ] || ! cmp -s "$TMP/plain.out" "$TMP/$mode.out"; then
			echo "FAIL [$mode] status $got (want $want): $c"
			ok=0
		fi
	done
	events=$("$CLI" stats "$TMP/a$i-full" --json 2>/dev/null |
		$PY -c 'import json,sys; print(json.load(sys.stdin)["events"])' 2>/dev/null)
	if [ $ok = 1 ]; then
		echo "ok   status $want, $(wc -c <"$TMP/plain.out") bytes, ${events:-?} events in full mode: $c"
	else
		failures=$((failures + 1))
	fi
done
[ $failures = 0 ] && echo PASS || echo "FAIL: $failures case(s)"
exit $((failures != 0))
