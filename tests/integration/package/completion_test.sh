#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Drives the bash completion as bash would (issue 15): COMP_WORDS and
# COMP_CWORD set, the function `complete -p memscope` names called, and
# COMPREPLY read back.
#
# usage: completion_test.sh MEMSCOPE COMPLETION_FILE
#
# Checked: the commands are those of `memscope --help`; each command's
# options are those its --help names, plus --help; values of --format and
# --sampling; the session names of a live consumer (its socket in
# $XDG_RUNTIME_DIR/memscope) and not of other files there; archive
# directories; the traced command after `--`.
set -u
cli=$1
file=$2
fails=0
tmp=$(mktemp -d /tmp/ms-completion-XXXXXX)
consumer=
cleanup() {
    [ -n "$consumer" ] && kill "$consumer" 2>/dev/null && wait "$consumer"
    rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck source=/dev/null
. "$file"

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

# complete WORD...: the sorted completions of the last word.
complete_words() {
    local fn
    fn=$(complete -p memscope 2>/dev/null | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
    [ -n "$fn" ] || { echo "no completion for memscope"; return; }
    COMP_WORDS=(memscope "$@")
    COMP_CWORD=$#
    COMP_LINE="memscope $*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    "$fn" memscope "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf '%s\n' "${COMPREPLY[@]}" | sort -u
}

# expect WANT WORD...: WANT is the space-separated list expected.
expect() {
    local want=$1 got
    shift
    want=$(tr ' ' '\n' <<<"$want" | sed '/^$/d' | sort -u)
    got=$(complete_words "$@" | sed '/^$/d')
    [ "$got" = "$want" ] ||
        fail "memscope $*<TAB>: got [$(tr '\n' ' ' <<<"$got")]," \
            "want [$(tr '\n' ' ' <<<"$want")]"
}

# includes WANT WORD...: WANT is among the completions.
includes() {
    local want=$1
    shift
    complete_words "$@" | grep -qx -- "$want" ||
        fail "memscope $*<TAB>: no $want in [$(complete_words "$@" | tr '\n' ' ')]"
}

help_opts() {
    { "$cli" "$@" --help | grep -oP '(?<![\w-])(--[a-z][a-z0-9-]*|-[a-z])(?![\w-])'
      echo --help; } | sort -u | tr '\n' ' '
}

complete -p memscope >/dev/null 2>&1 || fail "complete -p memscope: nothing"

commands=$("$cli" --help | sed -n '/^commands:/,/^$/p' | awk 'NF && !/:$/ {print $1}')
[ -n "$commands" ] || fail "no commands in memscope --help"
expect "$commands $(help_opts)" ""
expect "record report" re
for c in $commands; do
    expect "$(help_opts "$c")" "$c" -
done

expect "text json html" report arc --format ""
expect "pprof" export arc --format p
expect "folded" diff a b --format f
expect "full tiered bytes:" record --sampling ""

# Sessions: a live consumer's socket, and nothing for what is not one.
mkdir -m 0700 "$tmp/xdg"
export XDG_RUNTIME_DIR=$tmp/xdg
"$cli" consumer --session "compl$$" --out "$tmp/arc" --quiet 2>"$tmp/err" &
consumer=$!
for _ in $(seq 200); do
    [ -S "$tmp/xdg/memscope/compl$$.sock" ] && break
    sleep 0.05
done
[ -S "$tmp/xdg/memscope/compl$$.sock" ] ||
    fail "the consumer made no socket: $(cat "$tmp/err")"
touch "$tmp/xdg/memscope/notasession.sock"
expect "compl$$" tail --session ""
expect "compl$$" run --session c
expect "" tail --session x

# Archives are directories; after `--` the traced command.
mkdir "$tmp/arc-1" "$tmp/arc-2"
: >"$tmp/arc-file"
expect "$tmp/arc $tmp/arc-1 $tmp/arc-2" stats "$tmp/ar"
mkdir "$tmp/b c"
includes "$tmp/b c" diff "$tmp/arc" "$tmp/b"
includes truncate run -- trunca
includes truncate record --out x --sampling full -- trunca
expect "--help --session" run --

if [ $fails -ne 0 ]; then
    echo "completion: $fails failed"
    exit 1
fi
echo "PASS: completion of commands, options of $(wc -w <<<"$commands")" \
    "commands, values, sessions, archives, traced commands"
