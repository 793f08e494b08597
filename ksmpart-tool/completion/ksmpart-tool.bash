# SPDX-License-Identifier: GPL-2.0-or-later
# bash completion for ksmpart-tool(1)

# Partition names known here: holders' pid files, and the names ksmpart-tool
# list shows (all of them for root; else those the user's processes hold).
_ksmpart_tool_names()
{
	local d f names=()
	for d in /run/ksmpart "${XDG_RUNTIME_DIR:-/nonexistent}/ksmpart" "/tmp/ksmpart-$EUID"; do
		for f in "$d"/*.pid; do
			[[ -e $f ]] || continue
			f=${f##*/}
			names+=("${f%.pid}")
		done
	done
	while read -r d; do
		[[ -n $d && $d != - ]] && names+=("$d")
	done < <(ksmpart-tool list -n -r -o NAME 2>/dev/null)
	printf '%s\n' "${names[@]}" | sort -u
}

# Replies are read with mapfile, never word-split and globbed: "[heap]" is
# a glob pattern.
_ksmpart_tool()
{
	local cur prev words cword
	_init_completion || return

	local cmds="create open hold merge unmerge leave stats list members which watch release daemon"
	local sub="" i
	for ((i = 1; i < cword; i++)); do
		if [[ " $cmds " == *" ${words[i]} "* ]]; then
			sub=${words[i]}
			break
		fi
	done

	if [[ -z $sub ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$cmds --help --version" -- "$cur")
		return
	fi

	case $prev in
	--cgroup)
		if [[ $cur == /* || $cur == .* ]]; then
			_filedir -d
		else
			mapfile -t COMPREPLY < <(cd /sys/fs/cgroup 2>/dev/null && compgen -d -- "$cur")
			compopt -o nospace -o filenames 2>/dev/null
		fi
		return
		;;
	--pidfile)
		_filedir pid
		return
		;;
	--ipc-ns)
		_filedir
		return
		;;
	--target)
		_pids
		return
		;;
	--unit)
		mapfile -t COMPREPLY < <(cd /sys/fs/cgroup 2>/dev/null &&
			find . -type d \( -name '*.service' -o -name '*.scope' -o -name '*.slice' \) \
				-printf '%f\n' 2>/dev/null | sort -u | grep -F -- "$cur")
		return
		;;
	--format)
		mapfile -t COMPREPLY < <(compgen -W "text json prometheus" -- "$cur")
		return
		;;
	-o | --output)
		local cols
		case $sub in
		list) cols="ID NAME UID GID MODE ZERO MEMBERS PIDS KSM-PAGES SHARING CANDIDATES ZERO-PAGES RMAP-ITEMS SAVED PROFIT" ;;
		members) cols="PID COMM CGROUP PARTITION MERGING ZERO PROFIT" ;;
		which) cols="PID COMM PARTITION NAME" ;;
		merge) cols="PID COMM STATUS JOINED SCANNED MERGED ALREADY ZERO CANDIDATES FAILED ABSENT SKIPPED SAVED MERGING" ;;
		esac
		mapfile -t COMPREPLY < <(compgen -W "$cols" -- "$cur")
		return
		;;
	--region)
		mapfile -t COMPREPLY < <(compgen -W "[heap] [stack]" -- "$cur")
		return
		;;
	--mode)
		mapfile -t COMPREPLY < <(compgen -W "0600 0660 0666" -- "$cur")
		return
		;;
	--range | --interval | --count | --id | --socket)
		return
		;;
	esac

	local opts="--help --json"
	local targets="--cgroup --unit" select="--range --region"
	local create="--mode --zero-pages --excl"
	local output="--output --noheadings --raw --bytes"
	case $sub in
	create | open | hold | merge | unmerge | leave | stats | watch | release) opts+=" --ipc-ns --target" ;;
	esac
	case $sub in
	create) opts+=" $create --hold --pidfile" ;;
	open) opts+=" --hold --pidfile" ;;
	hold) opts="--help --ipc-ns --target --create $create" ;;
	merge) opts+=" $targets $select --create $create $output" ;;
	unmerge) opts+=" $targets $select" ;;
	leave) opts+=" $targets --all" ;;
	stats) opts+=" --bytes --format --interval --count" ;;
	list | which) opts+=" $output" ;;
	members) opts+=" --id $output" ;;
	watch) opts+=" $targets $select --create $create --interval --once --count" ;;
	release) opts+=" --pidfile" ;;
	daemon) opts+=" --socket" ;;
	esac

	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
		return
	fi

	# The first positional after the command is the partition name, the
	# rest are pids.
	local npos=0
	for ((i = i + 1; i < cword; i++)); do
		case ${words[i]} in
		--cgroup | --unit | --range | --region | --mode | --pidfile | --interval | --count | \
			--id | --format | --socket | -o | --output | --ipc-ns | --target) ((i++)) ;;
		-*) ;;
		*) ((npos++)) ;;
		esac
	done
	if [[ $sub == list ]]; then
		return
	elif [[ $sub == which ]]; then
		_pids
	elif [[ $sub == daemon ]]; then
		((npos == 0)) && mapfile -t COMPREPLY < <(compgen -W "status rules" -- "$cur")
	elif ((npos == 0)); then
		mapfile -t COMPREPLY < <(compgen -W "$(_ksmpart_tool_names)" -- "$cur")
	elif [[ $sub == @(merge|unmerge|leave|watch) ]]; then
		_pids
	fi
}
complete -F _ksmpart_tool ksmpart-tool
