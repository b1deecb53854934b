#!/bin/bash
# SPDX-License-Identifier: MIT
# Real programs of several runtimes (C, C++, Perl, Python, Rust, Node.js,
# Java) give the same stdout and exit status untracked, traced by a
# consumer (`memscope record` in full mode with stacks, tiered, and for
# the multi-threaded runtimes also full without stacks and bytes:4096 with
# deep stacks), and preloaded with no consumer running. Every run is under
# a timeout: a hang is the worst thing a tracker can do to a program.
#
# usage: real_programs.sh MEMSCOPE LIBMEMSCOPE [CXX_THREADS_PROGRAM]
set -u
CLI=$1
AGENT=$2
CXX_PROG=${3:-}
TMP=$(mktemp -d /tmp/ms-real-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
unset LD_PRELOAD MEMSCOPE_SESSION MEMSCOPE_SOCKET MEMSCOPE_SAMPLING \
	MEMSCOPE_STACK_DEPTH MEMSCOPE_RING_KB MEMSCOPE_ON_FULL
export MEMSCOPE_AGENT=$AGENT
PY=/usr/bin/python3
LIMIT=120 # seconds for one run; every program here takes a few
failures=0

# 200,000 pseudo-random lines, the same every run.
awk 'BEGIN { srand(1); for (i = 0; i < 200000; i++)
	printf "%d %s\n", int(rand() * 1e6), substr("abcdefghij", 1 + i % 10) }' \
	>"$TMP/lines"

# A case is "FLAGS|command": FLAGS has `s` when the output's line order is
# the program's own choice (threads) and is compared sorted, `a` for all
# the modes. A program that is not installed is skipped, and said so.
cases=(
	"|perl -e 'my %h; \$h{\$_} = q(x) x (\$_ % 97) for 1..200000; my @k = sort { \$a <=> \$b } keys %h; print scalar(@k), qq( @k[0..4]\n)'"
	"|perl -e 'print qq(bye\n); exit 3'"
	"|$PY -c 'import json; d = {str(i): list(range(i % 50)) for i in range(20000)}; s = json.dumps(d, sort_keys=True); print(len(s), s[:60])'"
	"|$PY -c 'import sys; print(sum(len(str(i)) for i in range(300000))); sys.exit(5)'"
	"a|$PY -c 'import concurrent.futures as f; print(sorted(f.ThreadPoolExecutor(4).map(lambda i: len(str(list(range(i * 1000)))), range(16)))[-3:])'"
	"|sort $TMP/lines"
	"|sort -n -k1,1 -k2 $TMP/lines"
	"|sort -u -k2 $TMP/lines"
	"|sort $TMP/does-not-exist"
	"sa|rg -j2 -c memory /usr/share/doc"
	"sa|fdfind -j2 -e gz . /usr/share/doc"
	"a|node $TMP/workers.js"
	"a|java -Xshare:auto -cp $TMP Hello"
)
[ -n "$CXX_PROG" ] && cases+=("a|$CXX_PROG")

cat >"$TMP/workers.js" <<'EOF'
const { Worker, isMainThread, parentPort } = require('worker_threads');
if (isMainThread) {
	let n = 0, total = 0;
	for (let i = 0; i < 3; i++)
		new Worker(__filename).on('message', (v) => {
			total += v;
			if (++n === 3)
				console.log('total', total);
		});
} else {
	const m = new Map();
	for (let i = 0; i < 50000; i++)
		m.set('k' + i, Buffer.alloc(i % 200));
	let s = 0;
	for (const v of m.values())
		s += v.length;
	parentPort.postMessage(s);
}
EOF
cat >"$TMP/Hello.java" <<'EOF'
import java.util.*;
public class Hello {
	public static void main(String[] a) throws Exception {
		List<Thread> ts = new ArrayList<>();
		long[] sums = new long[4];
		for (int t = 0; t < 4; t++) {
			final int k = t;
			Thread th = new Thread(() -> {
				HashMap<Integer, String> m = new HashMap<>();
				for (int i = 0; i < 100000; i++)
					m.put(i, "v" + (i % 1000));
				long s = 0;
				for (String v : m.values())
					s += v.length();
				sums[k] = s;
			});
			ts.add(th);
			th.start();
		}
		for (Thread th : ts)
			th.join();
		System.out.println(Arrays.toString(sums));
	}
}
EOF
if command -v javac >/dev/null; then
	javac -d "$TMP" "$TMP/Hello.java" 2>"$TMP/javac.err" || cat "$TMP/javac.err"
fi

run() { # name, then the command line; stdout -> $TMP/name.out, status echoed
	local name=$1
	shift
	timeout -k 5 $LIMIT bash -c "$*" >"$TMP/$name.out" 2>"$TMP/$name.err"
	echo $?
}

same_output() { # mode, flags
	if [[ $2 == *s* ]]; then
		cmp -s <(sort "$TMP/plain.out") <(sort "$TMP/$1.out")
	else
		cmp -s "$TMP/plain.out" "$TMP/$1.out"
	fi
}

i=0
for entry in "${cases[@]}"; do
	i=$((i + 1))
	flags=${entry%%|*}
	c=${entry#*|}
	prog=${c%% *}
	if ! command -v "$prog" >/dev/null ||
		{ [ "$prog" = java ] && [ ! -f "$TMP/Hello.class" ]; }; then
		echo "skip (not installed): $prog"
		continue
	fi
	want=$(run plain "$c")
	modes=(full tiered none)
	[[ $flags == *a* ]] && modes+=(full-d0 bytes-d128)
	ok=1
	for mode in "${modes[@]}"; do
		case $mode in
		full) opts="--sampling full" ;;
		tiered) opts="--sampling tiered" ;;
		full-d0) opts="--sampling full --stack-depth 0" ;;
		bytes-d128) opts="--sampling bytes:4096 --stack-depth 128" ;;
		esac
		if [ $mode = none ]; then
			got=$(MEMSCOPE_SOCKET=$TMP/nobody.sock LD_PRELOAD=$AGENT run none "$c")
		else
			got=$(run $mode "$CLI record --quiet --out $TMP/a$i-$mode $opts -- $c")
		fi
		if [ "$got" = 124 ] || [ "$got" = 137 ]; then
			echo "FAIL [$mode] no end after $LIMIT s (hang): $c"
			ok=0
		elif [ "$got" != "$want" ] || ! same_output $mode "$flags"; then
			echo "FAIL [$mode] status $got (want $want): $c"
			head -c 300 "$TMP/$mode.err"
			ok=0
		fi
	done
	events=$("$CLI" stats "$TMP/a$i-full" --json 2>/dev/null |
		$PY -c 'import json,sys; d = json.load(sys.stdin); print(d["events"], "events,", d["dropped"], "dropped")' 2>/dev/null)
	if [ $ok = 1 ]; then
		echo "ok   status $want, $(wc -c <"$TMP/plain.out") bytes, ${events:-?} in full mode (${modes[*]}): $c"
	else
		failures=$((failures + 1))
	fi
done
[ $failures = 0 ] && echo PASS || echo "FAIL: $failures case(s)"
exit $((failures != 0))
