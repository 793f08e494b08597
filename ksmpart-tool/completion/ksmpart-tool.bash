# SPDX-License-Identifier: GPL-2.0-or-later
# bash completion for ksmpart-tool(1)

# Partition names known here: holders' pid files (named partitions are not
# otherwise listable without root) and, for root, sysfs.
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
	for f in /sys/kernel/mm/ksm/partitions/*/name; do
		[[ -r $f ]] || continue
		read -r d <"$f" && [[ -n $d ]] && names+=("$d")
	done
	printf '%s\n' "${names[@]}"
}

# Replies are read with mapfile, never word-split and globbed: "[heap]" is
# a glob pattern.
_ksmpart_tool()
{
	local cur prev words cword
	_init_completion || return

	local cmds="create open merge unmerge leave stats list watch release"
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
	--region)
		mapfile -t COMPREPLY < <(compgen -W "[heap] [stack]" -- "$cur")
		return
		;;
	--mode)
		mapfile -t COMPREPLY < <(compgen -W "0600 0660 0666" -- "$cur")
		return
		;;
	--range | --interval | --count)
		return
		;;
	esac

	local opts="--help --json"
	local targets="--cgroup" select="--range --region"
	local create="--mode --zero-pages --excl"
	case $sub in
	create) opts+=" $create --hold --pidfile" ;;
	open) opts+=" --hold --pidfile" ;;
	merge) opts+=" $targets $select --create $create" ;;
	unmerge) opts+=" $targets $select" ;;
	leave) opts+=" $targets" ;;
	watch) opts+=" $targets $select --create $create --interval --once --count" ;;
	release) opts+=" --pidfile" ;;
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
		--cgroup | --range | --region | --mode | --pidfile | --interval | --count) ((i++)) ;;
		-*) ;;
		*) ((npos++)) ;;
		esac
	done
	if [[ $sub == list ]]; then
		return
	elif ((npos == 0)); then
		mapfile -t COMPREPLY < <(compgen -W "$(_ksmpart_tool_names)" -- "$cur")
	elif [[ $sub == @(merge|unmerge|leave|watch) ]]; then
		_pids
	fi
}
complete -F _ksmpart_tool ksmpart-tool
