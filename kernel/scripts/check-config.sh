#!/usr/bin/env bash
# Fail loudly if any option a fragment asks for did not survive olddefconfig
# (a missing dependency silently drops it otherwise). Like merge_config.sh, a
# later fragment overrides an earlier one.
# Usage: check-config.sh .config FRAGMENT...
set -euo pipefail
config=$1
shift
declare -A want=()
while IFS= read -r line; do
	if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)= ]] ||
		[[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
		want[${BASH_REMATCH[1]}]=$line
	fi
done < <(cat "$@")

bad=0
for opt in "${!want[@]}"; do
	got=$(grep -E "^($opt=|# $opt is not set)" "$config" || true)
	# An option absent from .config is off, which is what "is not set" asks.
	[[ -z $got && ${want[$opt]} == "# $opt is not set" ]] && continue
	if [[ $got != "${want[$opt]}" ]]; then
		echo "check-config: asked for '${want[$opt]}', got '${got:-<absent: dependency missing?>}'" >&2
		bad=1
	fi
done
exit $bad
