# SPDX-License-Identifier: MIT
# bash completion for memscope: commands, each command's options, the
# values of --sampling, --on-full, --format and --weight, session names
# from the session directory, archive directories, and after `--` in run
# and record the traced command. Installed as
# share/bash-completion/completions/memscope; `source` it to try it.
# It needs nothing from the bash-completion package, and uses its
# _command_offset for the traced command when that is loaded.
#
# The option lists follow each command's --help; the test
# tests/integration/package/completion_test.sh checks that they do.

_memscope_commands="consumer run record tail top snapshot stats compact dump
	report export diff symbolize"

# Options of the consumer, which record takes as well.
_memscope_consumer_opts="--session --out --sampling --stack-depth --ring-kb
	--on-full --time-resolution --exit-when-idle --zstd-level --idle-level --frame-kb --segment-mb --quiet
	--share-archive --live --live-exact --help"
_memscope_view_opts="--pid --tid --from --to --debug-dir --no-symbols"

# _memscope_opts COMMAND: the options COMMAND takes.
_memscope_opts()
{
	case $1 in
	consumer) echo "$_memscope_consumer_opts --metrics --metrics-threads
		--profile-every --profile-dir --profile-keep --push --service" ;;
	run) echo "--session --help" ;;
	record) echo "$_memscope_consumer_opts --no-symbolize --compact" ;;
	tail) echo "--session --pid --tid --min-size --json --count --all
		--window --held --help" ;;
	top) echo "--session --pid --interval --json --once --suspect
		--no-symbols --help" ;;
	snapshot) echo "--session -o --pid --no-symbols --help" ;;
	stats) echo "--json --verify --help" ;;
	compact) echo "--level --jobs --help" ;;
	dump) echo "--json --pid --tid --help" ;;
	report) echo "--format -o --top --width $_memscope_view_opts --help" ;;
	export) echo "--format -o --weight $_memscope_view_opts --help" ;;
	diff) echo "--format -o --top --weight --from --to --base-from
		--base-to --new-from --new-to --debug-dir --no-symbols --help" ;;
	symbolize) echo "--debug-dir --quiet --help" ;;
	esac
}

# Session names: the sockets in the directory the consumer uses,
# $XDG_RUNTIME_DIR/memscope (an absolute XDG_RUNTIME_DIR only) or
# /tmp/memscope-$UID.
_memscope_sessions()
{
	local dir=/tmp/memscope-$UID sock

	[[ $XDG_RUNTIME_DIR == /* ]] && dir=$XDG_RUNTIME_DIR/memscope
	for sock in "$dir"/*.sock; do
		[[ -S $sock ]] || continue
		sock=${sock##*/}
		echo "${sock%.sock}"
	done
}

# _memscope_reply COMPGEN_ARGS...: COMPREPLY, one completion a line, so
# names with spaces stay whole; file names are quoted as such.
_memscope_reply()
{
	[[ $1 == -[cdf] ]] && compopt -o filenames 2>/dev/null
	mapfile -t COMPREPLY < <(compgen "$@")
}

# _memscope_value COMMAND OPTION CUR: completes OPTION's value; returns 1
# when OPTION takes none.
_memscope_value()
{
	local words=

	case $2 in
	--session) words=$(_memscope_sessions) ;;
	--sampling) words="full tiered bytes:" ;;
	--on-full) words="block drop" ;;
	--weight) words="bytes count leaked peak temporary" ;;
	--format)
		case $1 in
		report) words="text json html" ;;
		export) words="folded pprof speedscope" ;;
		diff) words="text json folded" ;;
		esac
		;;
	--out | --debug-dir)
		_memscope_reply -d -- "$3"
		return 0
		;;
	-o)
		_memscope_reply -f -- "$3"
		return 0
		;;
	--stack-depth | --ring-kb | --zstd-level | --idle-level | --frame-kb | --segment-mb | \
		--time-resolution | --pid | --tid | --min-size | --count | --window | --held | --top | \
		--width | --from | --to | --base-from | --base-to | \
		--new-from | --new-to) ;;
	*) return 1 ;;
	esac
	_memscope_reply -W "$words" -- "$3"
	[[ $2 == --sampling && ${COMPREPLY[0]} == bytes: ]] && compopt -o nospace
	return 0
}

_memscope()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local cmd=${COMP_WORDS[1]} i

	COMPREPLY=()
	if ((COMP_CWORD == 1)); then
		_memscope_reply -W "$_memscope_commands --help --version" \
			-- "$cur"
		return
	fi
	# After `--`, run and record hand the words to the traced command.
	for ((i = 2; i < COMP_CWORD; i++)); do
		[[ ${COMP_WORDS[i]} == -- ]] || continue
		[[ $cmd == run || $cmd == record ]] || break
		if declare -F _command_offset >/dev/null; then
			_command_offset $((i + 1))
		elif ((i == COMP_CWORD - 1)); then
			_memscope_reply -c -- "$cur"
		else
			_memscope_reply -f -- "$cur"
		fi
		return
	done
	_memscope_value "$cmd" "$prev" "$cur" && return
	if [[ $cur == -* ]]; then
		_memscope_reply -W "$(_memscope_opts "$cmd")" -- "$cur"
		return
	fi
	case $cmd in
	stats | compact | dump | report | export | diff | symbolize)
		_memscope_reply -d -- "$cur" ;;
	run | record)
		_memscope_reply -W "--" -- "$cur" ;;
	esac
}

complete -F _memscope memscope
