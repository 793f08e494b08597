#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The bash completion offers exactly the options each subcommand's --help
# lists, and the subcommands of the top-level --help. Prints TAP.
#   tests/unit/tool/completion-check.sh PATH/TO/ksmpart-tool
set -uo pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
tool=${1:?usage: completion-check.sh PATH/TO/ksmpart-tool}
bc=/usr/share/bash-completion/bash_completion

echo "TAP version 13"
if [[ ! -r $bc ]]; then
	echo "1..0 # SKIP $bc missing (Debian package bash-completion)"
	exit 0
fi
# shellcheck disable=SC1090
source "$bc"
# shellcheck disable=SC1091
source "$top/ksmpart-tool/completion/ksmpart-tool.bash"

# complete WORD... : COMPREPLY for the command line "ksmpart-tool WORD...",
# the last word being the one under the cursor.
complete_line() {
	COMP_WORDS=(ksmpart-tool "$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="${COMP_WORDS[*]}"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_ksmpart_tool
	printf '%s\n' "${COMPREPLY[@]}" | sort -u
}

# The long options listed in the Options: section of a help text.
help_options() {
	"$tool" "$@" --help | awk '/^Options:/ {on = 1; next} on && !NF {exit} on' |
		grep -oE '^ +(-[a-zA-Z],)?--[a-z][a-z-]*' | grep -oE -- '--[a-z-]+' | sort -u
}

n=0 failed=0
check() { # check DESCRIPTION EXPECTED ACTUAL
	n=$((n + 1))
	if [[ $2 == "$3" ]]; then
		echo "ok $n - $1"
	else
		failed=1
		echo "not ok $n - $1"
		diff <(echo "$2") <(echo "$3") | sed 's/^/# /'
	fi
}

subs=$("$tool" --help | awk '/^Subcommands:/ {on = 1; next} on && !NF {exit} on {print $1}' | sort -u)
check "subcommands" "$subs" "$(complete_line "" | grep -v '^-')"
check "top-level options" "$(help_options)" "$(complete_line -- )"
for sub in $subs; do
	check "$sub options" "$(help_options "$sub")" "$(complete_line "$sub" --)"
done
check "--mode values" "$(printf '0600\n0660\n0666')" "$(complete_line create x --mode "")"
check "--region values" "$(printf '[heap]\n[stack]')" "$(complete_line merge x --region "")"
echo "1..$n"
exit $failed
