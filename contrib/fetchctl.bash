# bash completion for fetchctl(1): commands, options, job names and the
# keys of `set`.  Job names come from `fetchctl list --json` when fetchd
# answers (within 2 seconds); otherwise nothing is offered for them and
# nothing is printed.  Installed to bash-completion's completionsdir.

# The job names of the daemon fetchctl would talk to (-s/--socket as on
# the command line being completed).
_fetchctl_jobs()
{
	local -a sock=()
	local i w

	for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		-s|--socket)
			sock=(-s "${COMP_WORDS[i+1]}") ;;
		--socket=*)
			sock=(-s "${w#--socket=}") ;;
		esac
	done
	if command -v timeout >/dev/null 2>&1; then
		timeout 2 "${COMP_WORDS[0]}" "${sock[@]}" list --json 2>/dev/null
	else
		"${COMP_WORDS[0]}" "${sock[@]}" list --json 2>/dev/null
	fi | grep -o '"name": *"[^"]*"' | sed 's/^"name": *"//; s/"$//'
}

_fetchctl()
{
	local cur prev cmd= i w npos=0
	local cmds="submit status list watch results failures explain
	    retry-failed cancel pause resume set metrics reload ping version help"
	local global="-s --socket --json -h --help -V --version"
	local opts=

	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}

	# The command and how many arguments it has before the cursor.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		-s|--socket|--run)
			((i++)) ;;
		-*)
			;;
		*)
			if [ -z "$cmd" ]; then cmd=$w; else ((npos++)); fi ;;
		esac
	done

	case $prev in
	-s|--socket)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	--run)
		return ;;
	esac

	case $cmd in
	submit)			opts="--wait" ;;
	status|watch|failures|explain|cancel|pause|resume|set)
				opts="--run" ;;
	results)		opts="--run --ordered --failed" ;;
	retry-failed)		opts="--run --wait" ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$global $opts" -- "$cur"))
		return
	fi

	case $cmd in
	"")
		COMPREPLY=($(compgen -W "$cmds" -- "$cur")) ;;
	help)
		[ "$npos" -eq 0 ] &&
		    COMPREPLY=($(compgen -W "$cmds" -- "$cur")) ;;
	submit)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -X '!*.conf' -- "$cur")
		    $(compgen -d -- "$cur")) ;;
	status|watch|results|failures|explain|retry-failed|cancel|pause|resume|set)
		if [ "$npos" -eq 0 ]; then
			COMPREPLY=($(compgen -W "$(_fetchctl_jobs)" -- "$cur"))
		elif [ "$cmd" = set ] && [ "$npos" -eq 1 ]; then
			compopt -o nospace 2>/dev/null
			COMPREPLY=($(compgen -W "concurrency= rate=" -- "$cur"))
		fi ;;
	esac
}

complete -F _fetchctl fetchctl
